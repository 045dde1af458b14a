"""Whole-process times of the commands people wait on, on the demo wiki, in one run.

    make bench   (first step; = .venv/bin/python bench/startup.py [--runs 5] [--no-ask])

Each figure is the wall time of a fresh `python -m bot.cli ...` process (imports, config, models
it loads), median of `--runs`, with its CPU time: `--help`, `status`, `sync` with nothing changed,
and `ask` from cold with the tone stage on (process start to printed answer; the first run on a
machine also exports the tone model, so a warm-up run goes first and is not counted).
Bars (issue #18): --help <= 0.5 s, status <= 1 s, no-op sync <= 2 s, cold ask <= 5 s.
On a shared machine the wall time follows the load; the CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out" / "startup"
QUESTION = "How do I reset my VPN token?"


def prepare() -> Path:
    import yaml

    from bot.config import DEFAULT_CONFIG

    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["data_dir"] = str(OUT / "data")
    for source in data["sources"]:
        source["path"] = str((DEFAULT_CONFIG.parent / source["path"]).resolve())
    OUT.mkdir(parents=True, exist_ok=True)
    config = OUT / "startup.yaml"
    config.write_text(yaml.safe_dump(data))
    run(config, "sync")  # the index exists: what follows measures a sync with nothing to do
    return config


def run(config: Path, *args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `ragbot` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot.cli", "-c", str(config), *args], cwd=ROOT,
                   check=True, capture_output=True, timeout=1800,
                   env={**os.environ, "COLUMNS": "120"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-ask", action="store_true", help="skip the cold `ask` (tone on)")
    args = parser.parse_args()
    config = prepare()
    commands = [("ragbot --help", ("--help",), 0.5), ("ragbot status", ("status",), 1.0),
                ("ragbot sync (nothing changed)", ("sync",), 2.0)]
    if not args.no_ask:
        run(config, "ask", QUESTION)  # warm-up: a first run on a machine exports the tone model
        commands.append(("ragbot ask (cold, tone on)", ("ask", QUESTION), 5.0))
    print(f"{'command':<34}{'wall p50':>10}{'CPU p50':>10}{'bar':>8}   ({args.runs} runs; "
          f"load {os.getloadavg()[0]:.1f})")
    for label, argv, bar in commands:
        runs = [run(config, *argv) for _ in range(args.runs)]
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{label:<34}{wall:>9.2f}s{cpu:>9.2f}s{bar:>7.1f}s  {'ok' if wall <= bar else 'over'}")


if __name__ == "__main__":
    main()
