"""Benchmark: the fixed cost of a run (issue #12). A night of a few tiny shops is mostly start-up
and shutdown: imports, the schema check, the reactor, the last batched write, closing the log.
Prints, for this tree and a baseline commit measured in the same session (interleaved, median of
``--repeat``): wall and CPU seconds of `monitor --help`, of a first `monitor nightly` over
``--shops`` shops (10 listings each), of its unchanged re-run, of a one-off `monitor crawl` of
one of them, and of a bare `scrapy runspider` of the same world (what Scrapy itself costs).

    .venv/bin/python bench/bench_startup.py [--baseline REF] [--shops 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_city import World, bare, timed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def tree_of(ref: str, into: Path) -> Path:
    """The project as commit ``ref`` has it, unpacked into ``into`` (imported before this tree)."""
    into.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def monitor(tree: Path, folder: Path, *args: str) -> tuple[list[str], dict]:
    command = [sys.executable, "-m", "monitor.cli", "--config", str(folder / "config.yaml")]
    return [*command, *args], {**os.environ, "PYTHONPATH": str(tree)}


def prepare(world: World, tree: Path, folder: Path) -> None:
    """A config folder with the world's shops imported, as bench_city's full() sets it up."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "database": {"url": "sqlite:///monitor.db"},
                "evidence": {"dir": "evidence", "screenshots": False},
                "crawl": {"obey_robots": False},
                "browser": {"executable_path": "/nonexistent/chromium"},
            }
        ),
        encoding="utf-8",
    )
    registry = folder / "targets.csv"
    registry.write_text(
        "name,url\n" + "".join(f"shop{i},{u}\n" for i, u in enumerate(world.urls())),
        encoding="utf-8",
    )
    for args in (("init",), ("targets", "import", str(registry))):
        cmd, env = monitor(tree, folder, *args)
        subprocess.run(cmd, env=env, cwd=tree, check=True, capture_output=True)


def run(tree: Path, folder: Path, *args: str) -> tuple[float, float]:
    cmd, env = monitor(tree, folder, *args)
    wall, _peak, result, cpu = timed(cmd, env=env, cwd=tree)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed: {result.stderr[-2000:]}")
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="HEAD", help="commit to compare with (default HEAD)")
    ap.add_argument("--shops", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trees = {"baseline": tree_of(a.baseline, tmp / "baseline"), "this tree": ROOT}
        world = World(a.shops)
        try:
            for r in range(a.repeat):  # interleaved, so both see the machine alike
                folder = tmp / f"bare{r}"
                folder.mkdir()
                wall, _peak, _pages, cpu = bare(world, folder)
                figures.setdefault(("bare scrapy", "runspider"), []).append((wall, cpu))
                for label, tree in trees.items():
                    folder = tmp / f"{label.replace(' ', '_')}{r}"
                    figures.setdefault((label, "--help"), []).append(run(tree, folder, "--help"))
                    prepare(world, tree, folder)
                    for step in ("nightly", "re-run"):
                        figures.setdefault((label, step), []).append(run(tree, folder, "nightly"))
                    one = run(tree, folder, "crawl", "--target", "shop0")
                    figures.setdefault((label, "crawl 1"), []).append(one)
        finally:
            world.stop()
    print(f"{a.shops} shops x 10 listings, median of {a.repeat}; baseline = {a.baseline}")
    print(f"{'':12} {'step':10} {'wall s':>7} {'CPU s':>7}")
    for (label, step), values in figures.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"{label:12} {step:10} {wall:7.2f} {cpu:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
