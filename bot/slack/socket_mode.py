"""Socket Mode that survives dropped connections: slack_sdk's websocket-client adapter plus a
watchdog for connections that go silent.

slack_sdk's built-in adapter spins a core for a minute when a connection dies without a close
frame. The websocket-client adapter reconnects at once when the socket reports an error or EOF,
but never notices a connection that simply stops delivering (a NAT or proxy dropping the flow):
it pings and nobody checks the pongs. The watchdog does, and shuts such a socket down, which
hands it to the adapter's own reconnect path (apps.connections.open, then a new connection).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler

log = logging.getLogger(__name__)

# A ping every 3 s and 6 s without a pong: a silent connection is replaced within ~10 s.
PING_INTERVAL = 3.0
SILENCE_LIMIT = 6.0
_CHECK_EVERY = 0.5


class SilenceWatchdog:
    """Shuts down the current Socket Mode connection once it has not answered a ping for
    `limit` seconds, so the adapter reconnects."""

    def __init__(self, client: Any, limit: float = SILENCE_LIMIT) -> None:
        self.client = client
        self.limit = limit
        self.replaced = 0  # silent connections shut down so far
        self._stop = threading.Event()
        self._session: Any = None
        self._since = 0.0
        self._thread = threading.Thread(target=self._run, name="socket-mode-watchdog", daemon=True)

    def start(self) -> SilenceWatchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(_CHECK_EVERY):
            try:
                self.check(time.time())
            except Exception:  # the watchdog must outlive any one odd connection state
                log.debug("socket mode watchdog check failed", exc_info=True)

    def check(self, now: float) -> bool:
        """Shut the connection down when it has been silent too long; True when it did."""
        session = self.client.current_session
        ws = getattr(session, "sock", None)
        if session is None or ws is None or not getattr(ws, "connected", False):
            return False
        if session is not self._session:
            # A new connection: its silence is counted from when it was first seen.
            self._session, self._since = session, now
        # websocket-client records when it last sent a ping and last received a pong.
        last_ping = float(getattr(session, "last_ping_tm", 0) or 0)
        last_pong = float(getattr(session, "last_pong_tm", 0) or 0)
        heard = max(last_pong, self._since)
        if last_ping <= heard or now - heard < self.limit:
            return False
        log.warning("Socket Mode connection silent for %.0f s (no pong); reconnecting", now - heard)
        self.replaced += 1
        _shut_down(session)  # wakes the reader: EOF → the adapter reconnects
        return True


def _shut_down(session: Any) -> None:
    """Shut the session's socket down so its reader wakes now, not at its next 10 s poll."""
    raw = getattr(getattr(session, "sock", None), "sock", None)
    if raw is not None:
        with contextlib.suppress(OSError):  # already gone
            raw.shutdown(socket.SHUT_RDWR)


def close_socket_mode(handler: SocketModeHandler, watchdog: SilenceWatchdog) -> None:
    """Disconnect for good, promptly (a container's stop grace period is often 10 s)."""
    watchdog.stop()
    client: Any = handler.client
    client.auto_reconnect_enabled = False  # the wake-up below must not look like a drop
    session = client.current_session
    _shut_down(session)
    # Let the reader see the EOF and finish before the adapter closes the socket under it: a
    # socket closed while the reader waits on it is never reported, and the reader then sits
    # out its 10 s poll.
    deadline = time.monotonic() + 2.0
    while getattr(session, "sock", None) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    handler.close()


def socket_mode_handler(
    app: App,
    app_token: str,
    ping_interval: float = PING_INTERVAL,
    silence_limit: float = SILENCE_LIMIT,
) -> tuple[SocketModeHandler, SilenceWatchdog]:
    """A Socket Mode handler on the websocket-client adapter and its (unstarted) watchdog; the
    Web API calls (apps.connections.open included) go through the app's client."""
    from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler

    handler = SocketModeHandler(app, app_token, ping_interval=ping_interval)
    return handler, SilenceWatchdog(handler.client, silence_limit)
