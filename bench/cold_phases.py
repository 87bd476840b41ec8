"""Where a cold `devopsbot ask` spends its main thread: imports and store reads, one by one.

    python bench/cold_phases.py [--runs 5]

Each run is a fresh process on the sample store (made on the first run) that imports, opens
and reads in the order `ask` does, then loads the model (which `ask` loads on another thread,
overlapping the rest), and prints milliseconds per step; the table shows the median of the runs.

The same runs also time, as whole fresh processes and interleaved so that they share the
machine's noise: an empty interpreter, one that only imports the libraries `ask` needs (the
floor any `ask` built on them pays), the same plus SQLAlchemy (which `ask` read the store
through until 2026-12-04; it now reads a current SQLite store with sqlite3), and a real cold
`devopsbot ask`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median

# Run in the child: the collector is off as in `ask` (bot.cli._start_up).
STEPS = r"""
import gc, time
gc.disable()
last = time.perf_counter()
def step(label):
    global last
    now = time.perf_counter()
    print(f"{label}\t{(now - last) * 1000:.2f}")
    last = now
import click; step("click")
import bot.cli; step("bot.cli")
import numpy; step("numpy")
import bot.knowledge.index, bot.knowledge.service; step("index, service (rapidfuzz, stemmer)")
import bot.knowledge.sample, bot.render; step("sample, render")
import msgspec, dotenv; step("msgspec, python-dotenv")
import bot.config, bot.db.reads, bot.db.sqlite_reader; step("bot.config, store reads (sqlite3)")
settings = bot.config.load_settings(); step("load settings")
reader = bot.db.sqlite_reader.open_reader(settings.devopsbot_database_url)
assert reader is not None, "the sample store should be current"
step("open the store, schema check")
bot.db.reads.count_sources(reader)
bot.knowledge.sample.only_sample_data(reader); step("sample data checks")
answerer = bot.knowledge.service.Answerer()
assert answerer.load_cached(reader); step("cached index")
answerer.stale(reader); step("freshness check")
answerer._boosts(reader, "warm up", None); step("votes")
reader.close()
import onnxruntime, tokenizers; step("model thread: onnxruntime, tokenizers")
from bot.knowledge.embed import shared_encoder
shared_encoder().encode(["warm up"]); step("model thread: size check, session, one question")
"""

# What `ask` cannot do without, imported the way `ask` imports (the collector off).
LIBRARIES = (
    "import gc; gc.disable(); import click, numpy, sqlite3, onnxruntime, tokenizers, msgspec"
)
# What the libraries alone cost when `ask` still read the store through SQLAlchemy Core (until
# 2026-12-04): the floor it could not go under.
WITH_SQLALCHEMY = LIBRARIES + ", sqlalchemy"


def wall(cmd: list[str], env: dict[str, str]) -> float:
    """Milliseconds a fresh process takes from start to exit."""
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, DEVOPSBOT_DATABASE_URL=f"sqlite:///{tmp}/cold.db")
        ask = [sys.executable, "-m", "bot", "ask", "warm up"]
        subprocess.run(ask, env=env, check=True, capture_output=True)
        runs: dict[str, list[float]] = {}
        whole = {
            "empty interpreter (python -c pass)": [sys.executable, "-c", "pass"],
            "imports of the libraries alone": [sys.executable, "-c", LIBRARIES],
            "cold `devopsbot ask`": [*ask[:-1], "how do I tail multiple pods"],
            "the same and SQLAlchemy (read through before)": [
                sys.executable,
                "-c",
                WITH_SQLALCHEMY,
            ],
        }
        walls: dict[str, list[float]] = {label: [] for label in whole}
        for _ in range(args.runs):
            for label, cmd in whole.items():
                walls[label].append(wall(cmd, env))
            out = subprocess.run(
                [sys.executable, "-c", STEPS], env=env, check=True, capture_output=True, text=True
            ).stdout
            for line in out.splitlines():
                label, ms = line.split("\t")
                runs.setdefault(label, []).append(float(ms))
    main_thread = 0.0
    for label, times in runs.items():
        ms = median(times)
        if not label.startswith("model thread"):
            main_thread += ms
        print(f"{label:48} {ms:7.1f} ms")
    print(f"{'main thread, sum of medians':48} {main_thread:7.1f} ms")
    print("\nwhole fresh processes, wall time (median):")
    for label, times in walls.items():
        print(f"{label:48} {median(times):7.1f} ms")


if __name__ == "__main__":
    main()
