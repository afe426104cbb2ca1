"""config.yaml: defaults, path resolution, and one-line errors with exit 2 and nothing written."""

from __future__ import annotations

import pytest

from monitor import PROJECT_ROOT
from monitor.config import load_config
from monitor.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "sub" / "config.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_empty_config_takes_defaults_relative_to_its_folder(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.database_url == f"sqlite:///{tmp_path / 'sub' / 'data' / 'monitor.db'}"
    assert config.evidence_dir == tmp_path / "sub" / "data" / "evidence"
    assert config.lexicon_dir == PROJECT_ROOT / "keywords"
    assert config.targets == []


def test_targets_and_relative_paths(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
evidence: {dir: ev}
lexicon: {dir: ../words}
targets:
  - {name: 甲, url: "http://a.example.cn/"}
  - {name: 乙, url: "https://b.example.cn/shop", kind: storefront, enabled: false}
""",
        )
    )
    assert config.evidence_dir == tmp_path / "sub" / "ev"
    assert config.lexicon_dir == tmp_path / "words"
    assert [(t.name, t.kind, t.enabled) for t in config.targets] == [
        ("甲", "site", True),
        ("乙", "storefront", False),
    ]


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("database:\n  url: sqlite:///x.db\n  pool: 3\n", 3, "database.pool: unknown key"),
        ("crawl:\n  concurrency: many\n", 2, "crawl.concurrency: must be a whole number"),
        (
            "targets:\n  - name: a\n    url: ftp://x.example/\n",
            3,
            "targets[0].url: not an http(s) URL",
        ),
        (
            "targets:\n  - name: a\n    url: http://x.example/\n    kind: app\n",
            4,
            "targets[0].kind: must be one of",
        ),
        ("targets:\n  - name: a\n", 2, "targets[0]: url is required"),
        ("evidence: [a\n", 2, "YAML syntax error"),
        ("colour: red\n", 1, "colour: unknown key"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: ") and words in message
    assert "\n" not in message


def test_cli_rejects_bad_config_with_exit_2_and_writes_nothing(tmp_path, cli):
    path = write(
        tmp_path,
        "database:\n  url: sqlite:///db.sqlite\ntargets:\n  - name: a\n    url: not a url\n",
    )
    for command in (["init"], ["nightly"], ["leads", "list"]):
        result = cli(*command, config=path)
        assert result.returncode == 2
        assert result.stderr.strip().count("\n") == 0
        assert f"{path}:5:" in result.stderr and "targets[0].url" in result.stderr
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.yaml"]


def test_monitor_config_environment_variable_selects_the_file(tmp_path, cli):
    path = write(tmp_path, "database:\n  url: sqlite:///env.db\n")
    result = cli("init", env={"MONITOR_CONFIG": str(path)})
    assert result.returncode == 0, result.stderr
    assert (path.parent / "env.db").exists()
    again = cli("init", env={"MONITOR_CONFIG": str(path)})
    assert again.returncode == 0


def test_reading_commands_name_a_database_that_does_not_exist_and_create_nothing(tmp_path, cli):
    """A typo in database.url: `targets list`, `leads`, `runs` say so in one line, exit 4, and
    leave no folder or empty database behind; `monitor init` creates it."""
    missing = tmp_path / "nonexistent" / "dir"
    path = write(tmp_path, f"database:\n  url: sqlite:///{missing}/x.db\n")
    for command in (
        ["targets", "list"],
        ["leads", "list"],
        ["leads", "export", "--csv", str(tmp_path / "leads.csv")],
        ["runs", "list"],
    ):
        result = cli(*command, config=path)
        assert result.returncode == 4, (command, result.stderr)
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert "does not exist" in result.stderr and str(missing / "x.db") in result.stderr
        assert not (tmp_path / "nonexistent").exists(), command
    assert cli("init", config=path).returncode == 0
    assert (missing / "x.db").is_file()
    listed = cli("targets", "list", config=path)
    assert listed.returncode == 0, listed.stderr
