"""The bot served as `devopsbot run` serves it over HTTP (waitress + bolt's WSGI adapter,
signature checks on), on loopback, against the local fake Slack Web API: what the Slack
benches drive with requests signed the way Slack signs them."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "tests", REPO / "tests" / "slack"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import fakes  # noqa: E402
from fakes import FakeSlack  # noqa: E402

# What the benches read replies with, from the tests' Slack harness (re-exported).
from slack_harness import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackClientSim,
    block_texts,
    input_values,
    save_form,
    view_of,
)

from bot.config import load_settings  # noqa: E402
from bot.runtime import Runtime, open_runtime  # noqa: E402
from bot.slack.app import create_app  # noqa: E402
from bot.slack.runner import HttpServer, health_check, make_wsgi, prepare_store  # noqa: E402


class TimedResponses(list):
    """FakeSlack appends (name, payload) here; we keep when each name first arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, tuple[float, dict]] = {}
        self.event = threading.Condition()

    def append(self, item: tuple[str, dict]) -> None:
        now = time.perf_counter()
        with self.event:
            self.arrived.setdefault(item[0], (now, item[1]))
            super().append(item)
            self.event.notify_all()

    def wait(self, name: str, timeout: float = 10.0) -> tuple[float, dict]:
        """(perf_counter time, payload) of the first response named `name`."""
        with self.event:
            if not self.event.wait_for(lambda: name in self.arrived, timeout=timeout):
                raise RuntimeError(f"no response for {name}")
            return self.arrived[name]


__all__ = [
    "Served",
    "TimedResponses",
    "block_texts",
    "input_values",
    "save_form",
    "served",
    "view_of",
]


@dataclass(frozen=True)
class Served:
    fake: Any  # FakeSlack
    timed: TimedResponses
    runtime: Runtime
    sim: Any  # SlackClientSim


@contextmanager
def served(db_url: str, setup: Callable[[Any], None] | None = None) -> Iterator[Served]:
    """The app on `db_url` (sample data loaded) behind a fresh fake Slack; `setup` gets the
    fake before the app starts (channels it knows)."""
    # socketserver's default listen backlog is 5: with 20 answers arriving at once the kernel
    # drops SYNs and the client retries after 1 s, which would measure the fake, not the bot.
    fakes._Server.request_queue_size = 128
    fake = FakeSlack().start()
    if setup is not None:
        setup(fake)
    timed = TimedResponses()
    fake.responses = timed
    settings = load_settings(
        env_file=None,
        devopsbot_database_url=db_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.api_url,
    )
    runtime = open_runtime(settings)
    prepare_store(runtime)
    server = HttpServer(
        make_wsgi(create_app(runtime), health_check(runtime.engine, lambda: True, "http")),
        "127.0.0.1",
        0,
    ).start()
    sim = SlackClientSim(server.url, fake)
    try:
        yield Served(fake, timed, runtime, sim)
    finally:
        sim.close()
        server.stop()
        fake.stop()
        runtime.engine.dispose()
