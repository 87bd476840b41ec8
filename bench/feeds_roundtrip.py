"""Feed management at scale, on loopback: export/import round trip and progress output.

    .venv/bin/python bench/feeds_roundtrip.py [--feeds 100] [--import-feeds 500]
                                              [--database-url URL]

1. Round trip: `--feeds` feeds served on loopback, each subscribed in two channels (200
   subscriptions by default) with include/exclude filters, unfurl and paused states drawn at
   random; `feeds export`, then `feeds import` of that file into an empty store; the two
   stores' subscriptions must be equal (feed, channel, filters, unfurl, state).
2. Progress: `devopsbot feeds import` of `--import-feeds` plain OPML outlines and `devopsbot
   notes load` of a 1.9 MB notes file (the public corpus pages, twice) into a store of
   its own, each run with its stderr on a pseudo-terminal as a person at a shell sees it;
   prints the wall time and the last progress lines.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pty
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PUBLIC_CORPUS
from bench.poll import serve
from bot.config import Settings, load_settings
from bot.runtime import open_runtime
from bot.subscriptions import export_opml, import_opml, list_subscriptions, pause, subscribe

WORDS = ("kubernetes", "helm", "release", "terraform", "security", "postgres", "kafka", "ci")


def _settings(url: str) -> Settings:
    return load_settings(
        env_file=None,
        devopsbot_database_url=url,
        devopsbot_allow_private_urls=True,
        devopsbot_sample_data=False,
    )


def _state(rt) -> list[tuple]:
    with rt.sessions() as session:
        return sorted(
            (v.feed_url, v.channel_id, v.include, v.exclude, v.unfurl, v.status)
            for v in list_subscriptions(session)
        )


def round_trip(base: str, feeds: int, db_url: str | None, tmp: Path) -> bool:
    rng = random.Random(7)
    source = open_runtime(_settings(db_url or f"sqlite:///{tmp}/source.db"))
    t0 = time.perf_counter()
    for i in range(feeds):
        for channel in ("C0OPS0001", "C0SRE0002"):
            include = rng.sample(WORDS, rng.randint(0, 2))
            exclude = ["re:^Sponsored"] if rng.random() < 0.3 else []
            with source.sessions.begin() as session:
                result = subscribe(
                    session,
                    f"{base}/feed/{i}.xml",
                    channel,
                    source.settings,
                    include=include,
                    exclude=exclude,
                    unfurl=rng.random() < 0.5,
                )
                if rng.random() < 0.2:
                    pause(session, str(result.subscription.id))
    made = time.perf_counter() - t0
    with source.sessions() as session:
        document = export_opml(session)
    before = _state(source)

    target = open_runtime(_settings(f"sqlite:///{tmp}/target.db"))
    t0 = time.perf_counter()
    with target.sessions.begin() as session:
        imported = import_opml(session, document.encode(), target.settings)
    took = time.perf_counter() - t0
    after = _state(target)
    errors = [i.error for i in imported if i.error]
    equal = before == after
    print(
        f"round trip: {len(before)} subscriptions over {feeds} feeds "
        f"({sum(1 for s in before if s[2] or s[3])} with filters, "
        f"{sum(1 for s in before if s[5] == 'paused')} paused, "
        f"{sum(1 for s in before if s[4])} unfurled); made in {made:.1f} s; export "
        f"{len(document) / 1024:.0f} KB; import {took:.1f} s; errors {len(errors)}; "
        f"equal after import: {'yes' if equal else 'NO'}"
    )
    for rt in (source, target):
        rt.engine.dispose()
    return equal and not errors


def on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, float, str, str]:
    """Run the CLI with stderr on a pseudo-terminal; (exit, seconds, stdout, terminal text)."""
    leader, follower = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args], stdout=subprocess.PIPE, stderr=follower, env=env
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out = proc.communicate()[0].decode()
    os.close(leader)
    return proc.returncode, time.perf_counter() - t0, out, seen.decode(errors="replace")


def last_frames(terminal: str, count: int = 2) -> list[str]:
    """The last progress frames drawn (carriage-return separated), without escape codes."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal)
    frames = [f.strip() for f in re.split(r"[\r\n]+", plain) if f.strip()]
    return frames[-count:]


def progress(base: str, feeds: int, tmp: Path) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVOPSBOT_", "SLACK_"))}
    env.update(
        DEVOPSBOT_DATABASE_URL=f"sqlite:///{tmp}/progress.db",
        DEVOPSBOT_ALLOW_PRIVATE_URLS="true",
        DEVOPSBOT_SAMPLE_DATA="false",
        HOME=str(tmp),
    )
    outlines = "".join(
        f'<outline type="rss" text="f{i}" xmlUrl="{base}/feed/{i}.xml"/>' for i in range(feeds)
    )
    opml = tmp / "feeds.opml"
    opml.write_text(f'<opml version="2.0"><head/><body>{outlines}</body></opml>')
    code, took, out, terminal = on_terminal(["feeds", "import", str(opml)], env)
    print(f"feeds import of {feeds} feeds: exit {code}, {took:.1f} s; {out.splitlines()[-1]}")
    for frame in last_frames(terminal):
        print(f"  terminal: {frame[:110]}")

    notes = tmp / "notes" / "big.md"
    notes.parent.mkdir()
    pages = sorted(PUBLIC_CORPUS.rglob("*.md"))
    text = ""
    for _ in range(2):  # 1.9 MB: under the 2 MB limit for one notes file
        for n, page in enumerate(pages):
            text += f"\n\n# Part {len(text)} {n}\n\n" + page.read_text("utf-8")
    notes.write_text(text)
    size = notes.stat().st_size / 1e6
    # A store of its own: in the one above, the load would also encode the articles of the
    # 500 imported feeds (91,000 chunks, an hour here), not only what it loads.
    alone = {**env, "DEVOPSBOT_DATABASE_URL": f"sqlite:///{tmp}/notes.db"}
    code2, took2, out2, terminal2 = on_terminal(["notes", "load", str(notes.parent)], alone)
    print(
        f"notes load of a {size:.1f} MB file: exit {code2}, {took2:.1f} s; {out2.splitlines()[-1]}"
    )
    for frame in last_frames(terminal2, 3):
        print(f"  terminal: {frame[:110]}")
    return code == 0 and code2 == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=100, help="feeds in the round trip (×2 channels)")
    ap.add_argument("--import-feeds", type=int, default=500)
    ap.add_argument("--database-url", help="the round trip's source store (default: SQLite)")
    args = ap.parse_args()
    ctx = mp.get_context("fork")
    port_q: mp.Queue = ctx.Queue()
    full = ctx.Event()
    full.set()
    count = max(args.feeds, args.import_feeds)
    child = ctx.Process(target=serve, args=(port_q, full, count), daemon=True)
    child.start()
    port, _ = port_q.get(timeout=120)
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        ok = round_trip(base, args.feeds, args.database_url, Path(tmp))
        ok = progress(base, args.import_feeds, Path(tmp)) and ok
    child.terminate()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
