"""A local Socket Mode endpoint: a real WebSocket server behind a TCP relay that can cut or
freeze the connection, the way a network does."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import struct
import threading
import time
import uuid
from typing import Any

from websockets.sync.server import ServerConnection, serve


class _Pipe:
    """One relayed connection: two sockets and the threads copying between them."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self.frozen = threading.Event()
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._copy, args=(src, dst), daemon=True).start()

    def _copy(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                while self.frozen.is_set():  # a frozen flow delivers nothing, either way
                    time.sleep(0.05)
                    if src.fileno() < 0:
                        return
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not self.frozen.is_set():
                self.close()

    def cut(self) -> None:
        """Reset both sides: no WebSocket close frame, just a dead TCP connection."""
        for s in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        for s in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                s.close()


class FakeSocketMode:
    """Sends `hello` to each new connection, pushes envelopes to the newest one and records the
    bot's acks. `cut()` drops the connection without a close frame; `freeze()` makes it silent
    (nothing delivered either way, the TCP connection left open)."""

    def __init__(self) -> None:
        self.connections = 0
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self._current: ServerConnection | None = None
        self._lock = threading.Lock()
        self._pipes: list[_Pipe] = []
        self._server = serve(self._handle, "127.0.0.1", 0, ping_interval=None)
        self._ws_port = self._server.socket.getsockname()[1]
        self._relay = socket.create_server(("127.0.0.1", 0))
        self.port = self._relay.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._relay.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._ws_port))
            with self._lock:
                self._pipes.append(_Pipe(client, upstream))

    def _handle(self, ws: ServerConnection) -> None:
        with self._lock:
            self.connections += 1
            self._current = ws
        ws.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {}}))
        try:
            for message in ws:
                self.acks.put(json.loads(message))
        except Exception:
            return

    def push(self, kind: str, payload: dict[str, Any], **extra: Any) -> str:
        """Send one envelope (`slash_commands`, `events_api`, `interactive`); its id."""
        envelope_id = uuid.uuid4().hex
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload, **extra}
        with self._lock:
            ws = self._current
        assert ws is not None, "no Socket Mode connection yet"
        ws.send(json.dumps(envelope))
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                ack = self.acks.get(timeout=left)
            except queue.Empty:
                break
            if ack.get("envelope_id") == envelope_id:
                return ack
        raise AssertionError(f"no ack for envelope {envelope_id} within {timeout} s")

    def wait_connections(self, count: int, timeout: float) -> float:
        """Seconds until the bot has opened `count` connections (fails past `timeout`)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            with self._lock:
                if self.connections >= count and self._current is not None:
                    return time.monotonic() - start
            time.sleep(0.02)
        raise AssertionError(f"{self.connections} connections after {timeout} s, wanted {count}")

    def cut(self) -> None:
        with self._lock:
            pipes, self._pipes, self._current = self._pipes, [], None
        for pipe in pipes:
            pipe.cut()

    def freeze(self) -> None:
        with self._lock:
            pipes, self._pipes, self._current = self._pipes, [], None
        for pipe in pipes:
            pipe.frozen.set()
        self._frozen = pipes

    def stop(self) -> None:
        # Pipes first: the server would otherwise wait out its close timeout on a frozen one.
        self._relay.close()
        with self._lock:
            pipes = self._pipes + getattr(self, "_frozen", [])
        for pipe in pipes:
            pipe.close()
        self._server.shutdown()
