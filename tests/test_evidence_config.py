"""Evidence settings are checked on load: a bad timestamp authority is one line, exit 2."""

from __future__ import annotations


def test_a_bad_tsa_url_or_missing_ca_file_is_one_line(make_config, cli, tmp_path):
    config = make_config(evidence={"dir": "evidence", "tsa_url": "ftp://tsa.example/"})
    done = cli("evidence", "verify", config=config)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "evidence.tsa_url: not an http(s) URL: 'ftp://tsa.example/'"
    )
    assert len(done.stderr.strip().splitlines()) == 1
    config = make_config(
        evidence={"dir": "evidence", "tsa_url": "http://127.0.0.1:9/", "tsa_ca_file": "no.pem"}
    )
    done = cli("evidence", "verify", config=config)
    assert done.returncode == 2 and "evidence.tsa_ca_file: no such file" in done.stderr
    assert not (tmp_path / "monitor.db").exists()  # nothing written
