"""Real loopback servers the tests talk to: a feed server and a fake Slack Web API."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Route:
    """What the feed server answers for one path; tests change it between polls."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # when set, If-None-Match with this value gets a 304
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 drops connections when 20 answers arrive at once, and the
    # client's 1 s retry would then be measured as the bot's latency.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out on purpose (slow-feed tests) leave broken pipes behind; the
        # default handler prints them to whatever stderr is captured at that moment.
        return


class FeedServer:
    """Serves feeds on 127.0.0.1 and records every request (path and headers)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                owner.requests.append((self.path, dict(self.headers.items())))
                route = owner.routes.get(urlsplit(self.path).path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.etag:
                    self.send_header("ETag", route.etag)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, **kwargs: Any) -> str:
        """Serve `body` at `path` and return its absolute URL."""
        self.routes[path] = Route(body=body, **kwargs)
        return self.url(path)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if urlsplit(p).path == path]

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class FakeChannel:
    """A conversation as the fake Web API knows it; `member` says whether the bot is in it."""

    name: str
    private: bool = False
    member: bool = False
    archived: bool = False

    def info(self, channel_id: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "name": self.name,
            "is_channel": not self.private,
            "is_group": self.private,
            "is_private": self.private,
            "is_archived": self.archived,
            "is_member": self.member,
        }


@dataclass
class SlackCall:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]


class FakeSlack:
    """A local Slack Web API (`/api/<method>`) plus response_url endpoints (`/response/<id>`).

    Every call is recorded; `queue(method, ...)` makes the next calls of a method fail (an
    `{"ok": false}` error, or an HTTP status such as 429 with Retry-After), for every channel
    or, with `channel=`, only for calls to that channel.

    conversations.info / conversations.join answer from `channels`: a FakeChannel, or None for
    a channel that does not exist. Ids not listed are public channels the bot is in, so tests
    that don't care about membership need not set anything up. As for a real bot token, a
    private channel the bot is not in is invisible (channel_not_found).

    Every message chat.postMessage accepted is kept per channel (`messages(channel)`, with its
    metadata) and served back by conversations.history as Slack does: newest first, after
    `oldest`, `limit` per page with cursors, metadata only with `include_all_metadata`. Message
    ts are real Unix times. `answer_late(method, seconds)` makes the next call be accepted at
    once but answered only after `seconds` (past a client's timeout); `drop_answer(method)`
    accepts it and closes the connection without an answer.
    """

    def __init__(
        self, bot_user_id: str = "UBOT", bot_id: str = "BBOT", bot_name: str = "devopsbot"
    ) -> None:
        self.calls: list[SlackCall] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []
        self._queued: dict[
            tuple[str, str | None], list[tuple[int, dict[str, Any], dict[str, str]]]
        ] = {}
        self._lock = threading.Lock()
        self._last_ts = 0.0
        self._late: dict[str, list[float]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        self.channels: dict[str, FakeChannel | None] = {}
        # Threads people wrote, by (channel, parent ts): parent first (conversations.replies).
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._views = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(raw).items()}
                # GET methods (conversations.history) send their arguments in the query.
                args.update({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
                path = urlsplit(self.path).path
                if path.startswith("/response/"):
                    with owner._lock:
                        owner.responses.append((path.removeprefix("/response/"), args))
                    self._reply(200, {"ok": True}, {})
                    return
                method = path.removeprefix("/api/")
                status, payload, headers = owner._answer(method, args, dict(self.headers.items()))
                late = owner._lateness(method)
                if late < 0:  # accepted, then the connection drops before any answer
                    self.close_connection = True
                    return
                if late:
                    time.sleep(late)
                with contextlib.suppress(OSError):  # the client may have stopped waiting
                    self._reply(status, payload, headers)

            do_GET = do_POST

            def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def queue(
        self,
        method: str,
        payload: dict[str, Any] | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int = 1,
        channel: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (to `channel`, when given) answer this way
        instead of succeeding."""
        with self._lock:
            for _ in range(times):
                self._queued.setdefault((method, channel), []).append(
                    (status, payload or {"ok": False, "error": "ratelimited"}, headers or {})
                )

    def answer_late(self, method: str, seconds: float, times: int = 1) -> None:
        """Accept the next `times` calls of `method` at once, but answer them after `seconds`."""
        with self._lock:
            self._late.setdefault(method, []).extend([seconds] * times)

    def drop_answer(self, method: str, times: int = 1) -> None:
        """Accept the next `times` calls of `method`, then close the connection unanswered."""
        with self._lock:
            self._late.setdefault(method, []).extend([-1.0] * times)

    def _lateness(self, method: str) -> float:
        with self._lock:
            late = self._late.get(method)
            return late.pop(0) if late else 0.0

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """What the channel shows: every message chat.postMessage accepted there, oldest first."""
        with self._lock:
            return list(self.history.get(channel, []))

    def _answer(self, method: str, args: dict[str, Any], headers: dict[str, str]):
        with self._lock:
            self.calls.append(SlackCall(method, args, headers))
            queued = self._queued.get((method, args.get("channel"))) or self._queued.get(
                (method, None)
            )
            if queued:
                return queued.pop(0)
            # Real Unix times, as Slack's are; strictly increasing, as in one channel.
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            ts = f"{self._last_ts:.6f}"
        if method in self.handlers:
            payload = self.handlers[method](args)
            if method == "chat.postMessage" and payload.get("ok"):
                self._keep(args, str(payload.get("ts") or ts))
            return 200, payload, {}
        if method == "conversations.history":
            return 200, self._history(args), {}
        if method == "auth.test":
            return (
                200,
                {
                    "ok": True,
                    "user_id": self.bot_user_id,
                    "bot_id": self.bot_id,
                    "team_id": "T1",
                    "user": self.bot_name,
                    "team": "Test",
                },
                {},
            )
        if method in ("conversations.info", "conversations.join"):
            return 200, self._conversation(method, str(args.get("channel") or "")), {}
        if method in _SAVE_FLOW_METHODS:
            return 200, self._save_flow(method, args), {}
        if method == "chat.postMessage":
            self._keep(args, ts)
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            return (
                200,
                {
                    "ok": True,
                    "channel": args.get("channel"),
                    "ts": ts,
                    "message": {"text": args.get("text"), "ts": ts},
                },
                {},
            )
        return 200, {"ok": True}, {}

    def _keep(self, args: dict[str, Any], ts: str) -> None:
        message: dict[str, Any] = {
            "type": "message",
            "ts": ts,
            "text": args.get("text"),
            "bot_id": self.bot_id,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        if args.get("metadata"):
            metadata = args["metadata"]
            message["metadata"] = json.loads(metadata) if isinstance(metadata, str) else metadata
        with self._lock:
            self.history.setdefault(str(args.get("channel")), []).append(message)

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            kept = list(reversed(self.history.get(str(args.get("channel")), [])))
        oldest = float(args.get("oldest") or 0)
        # As in Slack, a channel's history holds no thread replies (conversations.replies does).
        found = [m for m in kept if float(m["ts"]) > oldest and "thread_ts" not in m]
        if str(args.get("include_all_metadata")).lower() not in ("1", "true"):
            found = [{k: v for k, v in m.items() if k != "metadata"} for m in found]
        start, limit = int(args.get("cursor") or 0), int(args.get("limit") or 100)
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": found[start : start + limit],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def channel(
        self,
        channel_id: str,
        name: str = "ops",
        *,
        private: bool = False,
        member: bool = False,
        archived: bool = False,
    ) -> FakeChannel:
        """Declare a channel (by default public and without the bot in it)."""
        found = FakeChannel(name, private=private, member=member, archived=archived)
        with self._lock:
            self.channels[channel_id] = found
        return found

    def _conversation(self, method: str, channel_id: str) -> dict[str, Any]:
        with self._lock:
            found = self.channels.get(channel_id, FakeChannel(channel_id.lower(), member=True))
            if found is None or (found.private and not found.member):
                return {"ok": False, "error": "channel_not_found"}
            if method == "conversations.join":
                if found.archived:
                    return {"ok": False, "error": "is_archived"}
                if found.private:
                    return {"ok": False, "error": "method_not_supported_for_channel_type"}
                already = found.member
                found.member = True
                reply: dict[str, Any] = {"ok": True, "channel": found.info(channel_id)}
                if already:
                    reply["already_in_channel"] = True
                return reply
            return {"ok": True, "channel": found.info(channel_id)}

    # -- the save-to-notes flow: threads, permalinks, modals (issue 10) ---------------------

    def thread(self, channel_id: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
        """Declare a thread people wrote: the parent first, then replies (each with `user` and
        `text`; ts are given or made up). Returns the messages as conversations.replies has
        them; a one-message thread is a message without replies."""
        base = time.time() - 3600
        kept: list[dict[str, Any]] = []
        for i, given in enumerate(messages):
            message = {"type": "message", "ts": f"{base + i:.6f}", **given}
            kept.append(message)
        parent = kept[0]["ts"]
        for message in kept:
            if len(kept) > 1:
                message["thread_ts"] = parent
        if len(kept) > 1:
            kept[0]["reply_count"] = len(kept) - 1
        with self._lock:
            self.threads[(channel_id, parent)] = kept
        return kept

    def _save_flow(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.replies":
            return self._replies(args)
        if method == "chat.getPermalink":
            channel, ts = args.get("channel"), args.get("message_ts")
            if not channel or not ts:
                return {"ok": False, "error": "invalid_arguments"}
            link = f"https://test.slack.com/archives/{channel}/p{str(ts).replace('.', '')}"
            return {"ok": True, "channel": channel, "permalink": link}
        # views.open / views.update / views.push: what Slack checks before showing a modal.
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if method == "views.update" and not (args.get("view_id") or args.get("external_id")):
            return {"ok": False, "error": "invalid_arguments"}
        if method != "views.update" and not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_arguments"}
        problem = modal_problem(view)
        if problem:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [problem]},
            }
        with self._lock:
            self._views += 1
            view_id = args.get("view_id") or f"V{self._views:08d}"
        return {"ok": True, "view": {**view, "id": view_id, "state": {"values": {}}}}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        if not channel or not ts:
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            found = self.channels.get(channel, FakeChannel(channel.lower(), member=True))
            if found is None or (found.private and not found.member):
                return {"ok": False, "error": "channel_not_found"}
            thread = next(
                (
                    t
                    for (c, _), t in self.threads.items()
                    if c == channel and ts in {m["ts"] for m in t}
                ),
                None,
            )
        if thread is None:
            return {"ok": False, "error": "thread_not_found"}
        # Asked with a reply's ts, Slack answers with that reply only.
        if thread[0]["ts"] != ts:
            thread = [m for m in thread if m["ts"] == ts]
        start, limit = int(args.get("cursor") or 0), int(args.get("limit") or 1000)
        more = start + limit < len(thread)
        return {
            "ok": True,
            "messages": [dict(m) for m in thread[start : start + limit]],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def posted(self, method: str = "chat.postMessage") -> list[dict[str, Any]]:
        """Arguments of every successful-or-not call of `method`, in order."""
        with self._lock:
            return [c.args for c in self.calls if c.method == method]

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_SAVE_FLOW_METHODS = frozenset(
    {"conversations.replies", "chat.getPermalink", "views.open", "views.update", "views.push"}
)


def _text_len(obj: Any) -> int:
    return len((obj or {}).get("text") or "") if isinstance(obj, dict) else 0


def modal_problem(view: Any) -> str | None:
    """What Slack would refuse in a modal (the limits of its Block Kit reference), or None."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return "[ERROR] view must be a modal"
    if not 0 < _text_len(view.get("title")) <= 24:
        return "[ERROR] title must be 1-24 characters [json-pointer:/view/title/text]"
    for key in ("submit", "close"):
        if key in view and not 0 < _text_len(view[key]) <= 24:
            return f"[ERROR] {key} must be 1-24 characters [json-pointer:/view/{key}/text]"
    if len(view.get("private_metadata") or "") > 3000:
        return "[ERROR] private_metadata longer than 3000 characters"
    if len(view.get("callback_id") or "") > 255:
        return "[ERROR] callback_id longer than 255 characters"
    blocks = view.get("blocks") or []
    if not blocks or len(blocks) > 100:
        return "[ERROR] a modal needs 1-100 blocks"
    if any(b.get("type") == "input" for b in blocks) and "submit" not in view:
        return "[ERROR] a modal with inputs needs a submit button"
    ids = [b["block_id"] for b in blocks if b.get("block_id")]
    if len(ids) != len(set(ids)):
        return "[ERROR] block_ids must be unique"
    for i, block in enumerate(blocks):
        if block.get("type") != "input":
            continue
        if not 0 < _text_len(block.get("label")) <= 2000:
            return f"[ERROR] input label must be 1-2000 characters [json-pointer:/view/blocks/{i}]"
        element = block.get("element") or {}
        if element.get("type") == "plain_text_input":
            limit = element.get("max_length", 3000)
            if limit > 3000 or len(element.get("initial_value") or "") > limit:
                return (
                    f"[ERROR] initial_value longer than max_length [json-pointer:/view/blocks/{i}]"
                )
        if element.get("type") == "checkboxes" and not 0 < len(element.get("options") or []) <= 10:
            return f"[ERROR] checkboxes need 1-10 options [json-pointer:/view/blocks/{i}]"
    return None
