"""`devopsbot run`: the bolt app, the feed scheduler and an HTTP server, with a clean SIGTERM.

HTTP mode serves POST /slack/events (bolt verifies signatures and timestamps) and GET /healthz
on waitress; Socket Mode connects out with SLACK_APP_TOKEN and still serves /healthz, so the
Docker HEALTHCHECK works in both modes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from bot.config import ConfigError, Settings, load_settings
from bot.db.errors import store_errors
from bot.knowledge.sample import ensure_sample_data
from bot.logs import configure_logging
from bot.runtime import Runtime, open_runtime
from bot.slack.tokens import Credentials, check_credentials, install_redaction

if TYPE_CHECKING:
    from slack_bolt import App

# slack_bolt and waitress are imported where used: `devopsbot ask` loads this module too
# (for the `run` command) and should not pay for them.

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
HTTP_THREADS = 16
DRAIN_SECONDS = 5.0

Health = Callable[[], tuple[bool, dict[str, Any]]]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


# -- health ----------------------------------------------------------------------------------


def database_ok(engine: Engine) -> tuple[bool, str]:
    """(reachable, "ok" or the error's class name); never raises."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True, "ok"
    except Exception as exc:
        return False, type(exc).__name__


def health_check(
    engine: Engine,
    scheduler_running: Callable[[], bool],
    mode: str,
    socket_connected: Callable[[], bool] | None = None,
) -> Health:
    """A /healthz callable: healthy when the database answers and the scheduler runs."""

    def check() -> tuple[bool, dict[str, Any]]:
        db_ok, detail = database_ok(engine)
        running = scheduler_running()
        report: dict[str, Any] = {
            "ok": db_ok and running,
            "database": detail,
            "scheduler": "running" if running else "stopped",
            "mode": mode,
        }
        if socket_connected is not None:
            # Informative only: the client reconnects by itself, a blip must not kill the pod.
            report["socket_mode_connected"] = socket_connected()
        return db_ok and running, report

    return check


def _reply(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def slack_events(bolt_app: App) -> WsgiApp:
    """POST /slack/events: the body read with a cap and checked, then bolt (signature first).

    A body bolt could not parse is answered 400, one that is too large 413, each with one log
    line that quotes nothing of the body (it may be anyone's, and it carries response_url).
    """
    from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
    from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse

    from bot.slack.requests import RefusedRequest, bolt_request, read_body

    def events(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            request = bolt_request(
                read_body(environ),
                environ.get("QUERY_STRING", ""),
                WsgiHttpRequest(environ).get_headers(),
            )
        except RefusedRequest as exc:
            log.info("refused a request from %s: %s", environ.get("REMOTE_ADDR", "?"), exc.reason)
            return _reply(start_response, exc.status, json.dumps({"error": exc.reason}).encode())
        response = bolt_app.dispatch(request)
        wsgi_response = WsgiHttpResponse(
            status=response.status, headers=response.headers, body=response.body
        )
        start_response(wsgi_response.status, wsgi_response.get_headers())
        return wsgi_response.get_body()

    return events


def make_wsgi(bolt_app: App | None, health: Health) -> WsgiApp:
    """The WSGI app: /healthz always, /slack/events only when bolt_app is given (HTTP mode)."""
    events = slack_events(bolt_app) if bolt_app is not None else None

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            ok, report = health()
            status = "200 OK" if ok else "503 Service Unavailable"
            return _reply(start_response, status, json.dumps(report).encode())
        if events is not None and path == EVENTS_PATH and method == "POST":
            return events(environ, start_response)
        return _reply(start_response, "404 Not Found", b'{"error": "not found"}')

    return wsgi


# -- HTTP server -----------------------------------------------------------------------------


class HttpServer:
    """waitress on (host, port) until `stop()`; then it stops accepting and drains in-flight work.

    We drive waitress's loop ourselves (one poll at a time) so a stop request from a signal
    handler or another thread is honoured in the serving thread, without racing its sockets.
    """

    def __init__(self, wsgi: WsgiApp, host: str, port: int, threads: int = HTTP_THREADS) -> None:
        from waitress.server import create_server

        from bot.slack.requests import MAX_BODY_BYTES

        self._app = wsgi
        # waitress refuses a longer body with 413 as soon as it reads the headers (and counts
        # chunked bodies as they arrive), so an oversized request is never buffered whole.
        self._server = create_server(
            self._dispatch,
            host=host,
            port=port,
            threads=threads,
            ident="devopsbot",
            channel_timeout=30,
            max_request_body_size=MAX_BODY_BYTES,
        )
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _dispatch(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return self._app(environ, start_response)

    def mount(self, wsgi: WsgiApp) -> None:
        """Serve `wsgi` from now on (the port can be bound before the app is built)."""
        self._app = wsgi

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.effective_port)  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        """Base URL for loopback clients."""
        host = self._server.effective_host  # type: ignore[union-attr]
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{host}:{self.port}"

    def serve(self) -> None:
        """Serve until stop(); blocks the calling thread."""
        from waitress import wasyncore

        server = self._server
        sockets = server._map  # type: ignore[union-attr]
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=0.5, map=sockets, use_poll=True, count=1)
            server.close()  # stop accepting; requests already read still get their answers
            deadline = time.monotonic() + DRAIN_SECONDS
            while time.monotonic() < deadline and any(
                getattr(ch, "requests", None) or getattr(ch, "total_outbufs_len", 0)
                for ch in list(sockets.values())
            ):
                wasyncore.loop(timeout=0.05, map=sockets, use_poll=True, count=1)
            server.task_dispatcher.shutdown(timeout=DRAIN_SECONDS)
            for channel in list(sockets.values()):
                channel.close()
        finally:
            self._done.set()

    def close(self) -> None:
        """Release the listening socket of a server that never served."""
        self._server.close()  # type: ignore[union-attr]
        self._server.task_dispatcher.shutdown(timeout=1)  # type: ignore[union-attr]

    def start(self) -> HttpServer:
        """Serve in a daemon thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self.serve, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self, wait: bool = True) -> None:
        """Ask the serving loop to finish; safe from signal handlers and other threads."""
        self._stop.set()
        with contextlib.suppress(OSError):  # already closed
            self._server.pull_trigger()  # type: ignore[union-attr]
        if wait and self._thread is not None and threading.current_thread() is not self._thread:
            self._done.wait(DRAIN_SECONDS * 3)


def listen(wsgi: WsgiApp, host: str, port: int) -> HttpServer:
    """An HttpServer bound to (host, port); ConfigError saying what to do when it cannot be."""
    try:
        return HttpServer(wsgi, host, port)
    except OSError as exc:
        where = f"cannot listen on {host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            reason = (
                "the port is already in use (another devopsbot, or another service): stop it, "
                "or choose a free port with DEVOPSBOT_PORT or --port."
            )
        elif exc.errno == errno.EACCES:
            reason = (
                "permission denied (ports below 1024 need privileges): choose another port "
                "with DEVOPSBOT_PORT or --port."
            )
        elif exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
            reason = (
                f"{host} is not an address of this machine ({exc.strerror}): set DEVOPSBOT_HOST "
                "to one of its addresses, or 0.0.0.0 for all of them."
            )
        else:
            reason = f"{exc.strerror or exc}: check DEVOPSBOT_HOST and DEVOPSBOT_PORT."
        raise ConfigError(f"{where}: {reason}") from None


# -- the bot ---------------------------------------------------------------------------------


def prepare_store(runtime: Runtime) -> None:
    """Load the bundled sample data into an empty store (when enabled) and warm the index."""
    if runtime.settings.devopsbot_sample_data:
        try:
            with runtime.sessions.begin() as session:
                if ensure_sample_data(session):
                    log.info("store was empty: loaded the bundled sample notes and feeds")
        except IntegrityError:
            log.info("another replica is loading the sample data")
    # Index what the store holds now; vectors still missing (an upgraded store, a big ingest)
    # are computed in the background while questions are already answered.
    with runtime.sessions.begin() as session:
        runtime.answerer.sync(session, embed=False)
    runtime.answerer.refresh_in_background(runtime.sessions)


def _start_scheduler(runtime: Runtime, app: App) -> Any:
    from bot.scheduler import build_scheduler

    scheduler = build_scheduler(runtime, app.client)
    scheduler.start()
    return scheduler


def _starting(_environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """What the bound port would answer before the bot is ready (nothing is served yet)."""
    return _reply(start_response, "503 Service Unavailable", b'{"error": "starting"}')


def _create_app(runtime: Runtime, socket_mode: bool) -> App:
    """The bolt app; a rejected token or an unreachable Slack API is a ConfigError."""
    from slack_bolt.error import BoltError

    from bot.slack.app import create_app

    try:
        return create_app(runtime, socket_mode=socket_mode)  # bolt calls auth.test here
    except BoltError as exc:
        raise ConfigError(
            f"Slack rejected SLACK_BOT_TOKEN ({exc}). Copy the Bot User OAuth Token again from "
            "https://api.slack.com/apps → your app → OAuth & Permissions (reinstall the app if "
            "it was revoked)."
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"could not reach the Slack API at {runtime.settings.slack_api_url} "
            f"({type(exc).__name__}: {exc}); check the network or SLACK_API_URL."
        ) from None


def serve(settings: Settings, credentials: Credentials, host: str, port: int) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    from slack_sdk.errors import SlackApiError

    from bot.slack.socket_mode import close_socket_mode, socket_mode_handler

    # Bind first: a port in use is reported before the store is touched or Slack is called.
    server = listen(_starting, host, port)
    try:
        runtime = open_runtime(settings)
        with store_errors(settings.devopsbot_database_url):
            prepare_store(runtime)
        socket_mode = credentials.mode == "socket"
        app = _create_app(runtime, socket_mode)
        scheduler: Any = None

        def scheduler_running() -> bool:
            return scheduler is not None and bool(scheduler.running)

        handler: Any = None
        watchdog: Any = None
        if socket_mode:
            handler, watchdog = socket_mode_handler(app, credentials.app_token)
            health = health_check(
                runtime.engine, scheduler_running, "socket", handler.client.is_connected
            )
            server.mount(make_wsgi(None, health))
            try:
                handler.connect()  # apps.connections.open goes through app.client (SLACK_API_URL)
            except SlackApiError as exc:
                raise ConfigError(
                    f"Slack rejected SLACK_APP_TOKEN ({exc.response.get('error')}): create an "
                    "app-level token with the connections:write scope at "
                    "https://api.slack.com/apps → your app → Basic Information → App-Level "
                    "Tokens, and make sure Socket Mode is on (Settings → Socket Mode)."
                ) from None
            watchdog.start()
        else:
            health = health_check(runtime.engine, scheduler_running, "http")
            server.mount(make_wsgi(app, health))
        scheduler = _start_scheduler(runtime, app)
    except BaseException:
        server.close()
        raise

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        server.stop(wait=False)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    where = "Socket Mode" if socket_mode else f"HTTP mode, Slack requests at {EVENTS_PATH}"
    log.info(
        "devopsbot running (%s); health at http://%s:%d%s", where, host, server.port, HEALTH_PATH
    )
    try:
        server.serve()
    finally:
        if handler is not None:
            close_socket_mode(handler, watchdog)
        scheduler.shutdown(wait=True)
        app.listener_runner.listener_executor.shutdown(wait=True)
        runtime.engine.dispose()
    log.info("devopsbot stopped")
    return 0


@click.command("run")
@click.option("--host", default=None, help="Address to listen on (default: DEVOPSBOT_HOST).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to listen on (default: DEVOPSBOT_PORT).",
)
def run(host: str | None, port: int | None) -> None:
    """Run the bot: Slack listeners plus the feed scheduler.

    Socket Mode when SLACK_APP_TOKEN is set, else HTTP mode (POST /slack/events, signed with
    SLACK_SIGNING_SECRET). Both serve GET /healthz. SIGTERM shuts down cleanly.
    """
    try:
        settings = load_settings()
        credentials = check_credentials(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.devopsbot_log_level)
    install_redaction(credentials)
    try:
        code = serve(
            settings,
            credentials,
            host or settings.devopsbot_host,
            port if port is not None else settings.devopsbot_port,
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(code)
