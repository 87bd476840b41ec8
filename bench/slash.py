"""Slash-command latency against the real HTTP app on loopback.

    python bench/slash.py [--commands 200] [--concurrency 20] [--database-url URL]

The app runs exactly as `devopsbot run` serves it (waitress + bolt's WSGI adapter, signature
checks on) over the bundled sample data, with a local fake Slack Web API whose response-URL
endpoint timestamps every answer it receives. Each command is signed the way Slack signs it.

  ack      = time until the HTTP response to the slash command (Slack wants it within 3 s)
  answer   = time until the answer's POST to the response URL arrives

Targets: ack p99 ≤ 300 ms, answer p99 ≤ 1 s.
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import EVAL, load_questions, median, percentile
from bench.served import Served, served

ACK_TARGET_MS = 300.0
ANSWER_TARGET_MS = 1000.0
FALLBACK_QUESTIONS = [
    "how do I tail multiple pods",
    "restart a deployment",
    "kubectl top",
    "inspect kafka topics and partitions",
    "what is the weather today",
]


def questions() -> list[str]:
    if EVAL.exists():
        return [q["q"].removeprefix("/devops ").strip() for q in load_questions(EVAL)]
    return FALLBACK_QUESTIONS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    db_url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    pool = questions()

    def one(app: Served, n: int) -> tuple[float, float]:
        name = f"b{n}"
        body = app.sim.command_body(pool[n % len(pool)], user_id=f"U{n % 7}", response=name)
        start = time.perf_counter()
        response = app.sim.post(body, "application/x-www-form-urlencoded")
        acked = time.perf_counter()
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        answered, _ = app.timed.wait(name, timeout=10)
        return (acked - start) * 1000, (answered - start) * 1000

    try:
        with served(db_url) as app, ThreadPoolExecutor(args.concurrency) as executor:
            run = functools.partial(one, app)
            list(executor.map(run, range(-args.warmup, 0)))  # warm connections and caches
            started = time.perf_counter()
            results = list(executor.map(run, range(args.commands)))
            wall = time.perf_counter() - started
    finally:
        tmp.cleanup()

    acks = [a for a, _ in results]
    answers = [b for _, b in results]
    report = {
        "commands": args.commands,
        "concurrency": args.concurrency,
        "database": db_url.split(":", 1)[0],
        "throughput_per_s": round(args.commands / wall, 1),
        "ack_ms": {"p50": round(median(acks), 1), "p99": round(percentile(acks, 99), 1)},
        "answer_ms": {"p50": round(median(answers), 1), "p99": round(percentile(answers, 99), 1)},
    }
    ok = report["ack_ms"]["p99"] <= ACK_TARGET_MS and report["answer_ms"]["p99"] <= ANSWER_TARGET_MS
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))
    print(
        f"{args.commands} signed /devops commands, {args.concurrency} at a time, "
        f"{report['throughput_per_s']}/s"
    )
    print(
        f"ack     p50 {report['ack_ms']['p50']:7.1f} ms   p99 {report['ack_ms']['p99']:7.1f} ms"
        f"   (target p99 ≤ {ACK_TARGET_MS:.0f} ms)"
    )
    print(
        f"answer  p50 {report['answer_ms']['p50']:7.1f} ms   p99 "
        f"{report['answer_ms']['p99']:7.1f} ms   (target p99 ≤ {ANSWER_TARGET_MS:.0f} ms)"
    )
    print(json.dumps(report))
    print("PASS" if ok else "FAIL: a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
