"""Platform and shop-system profiles are data: each shipped file loads, each saved page in
tests/fixtures/profiles/ is recognised by its fingerprints and read by its profile, and a broken
profile file is one line naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.extract import read
from monitor.extract.profiles import PROFILE_DIR, ProfileError, load_profile, load_profiles

SAVED = Path(__file__).resolve().parent / "fixtures" / "profiles"
EXPECTED = json.loads((SAVED / "expected.json").read_text(encoding="utf-8"))


def test_every_shipped_profile_loads():
    profiles = load_profiles()
    assert len(profiles) == len(list(PROFILE_DIR.glob("*.yaml")))
    for name in (
        "taobao",
        "jd",
        "1688",
        "pinduoduo",
        "youzan",
        "weidian",
        "ecshop",
        "shopxo",
        "crmeb",
        "likeshop",
        "woocommerce",
    ):
        assert name in profiles
        assert profiles[name].markers or profiles[name].generator or profiles[name].hosts


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_saved_page_is_read_by_its_profile(page):
    want = EXPECTED[page]
    reading = read((SAVED / page).read_text(encoding="utf-8"), "http://127.0.0.1:8000/" + page)
    assert reading.profile == want["profile"], reading.why
    assert reading.listing is not None and reading.listing.title == want["title"]
    assert reading.listing.source == want["source"]


def test_a_target_may_name_its_profile():
    html = (SAVED / "ecshop.html").read_text(encoding="utf-8")
    assert read(html, "http://127.0.0.1/", profile="woocommerce").profile == "woocommerce"


def test_broken_profile_is_one_line_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nitem:\n  titel: ['h1::text']\n", encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        load_profile(bad)
    assert str(err.value) == f"{bad}:3: unknown key 'item.titel'"


def test_unknown_profile_in_config_is_one_line(make_config, cli):
    config = make_config([{"name": "店", "url": "http://127.0.0.1:9/", "profile": "ecshopp"}])
    result = cli("crawl", "--target", "店", config=config)
    assert result.returncode == 2
    assert (
        "unknown profile 'ecshopp'" in result.stderr
        and len(result.stderr.strip().splitlines()) == 1
    )
