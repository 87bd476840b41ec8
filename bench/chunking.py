"""How the Markdown chunker scales with a file's size: the sample notes repeated 1-100 times.

    python bench/chunking.py [--times 1,10,40,100]

Prints, per size, the chunking time (median of 3) and the throughput in MB/s; a chunker that
is linear in the file's size keeps the throughput flat as the file grows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median
from bot.knowledge.notes import chunk_markdown

NOTES = Path(__file__).resolve().parent.parent / "bot" / "sample_data" / "devops-notes.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--times", default="1,10,40,100")
    args = parser.parse_args()
    notes = NOTES.read_text()
    for times in (int(t) for t in args.times.split(",")):
        text = notes * times
        took, chunks = [], 0
        for _ in range(3):
            started = time.perf_counter()
            chunks = len(chunk_markdown(text))
            took.append(time.perf_counter() - started)
        mb = len(text.encode()) / 1e6
        print(
            f"{mb:7.2f} MB: {chunks:6d} chunks in {median(took):6.2f} s, "
            f"{mb / median(took):.2f} MB/s"
        )


if __name__ == "__main__":
    main()
