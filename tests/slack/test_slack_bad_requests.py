"""HTTP mode against what is not a proper Slack request: malformed, oversized or wrongly signed
bodies get a 4xx and one log line quoting nothing of the body, and the bot keeps serving."""

from __future__ import annotations

import io
import json
import logging
import select
import socket
import time
from urllib.parse import urlsplit

import pytest
from slack_harness import SlackClientSim, block_texts

from bot.slack.app import create_app
from bot.slack.requests import MAX_BODY_BYTES
from bot.slack.runner import health_check, make_wsgi

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

MALFORMED = [
    pytest.param(JSON, b'{"type": "event_callback", "event": {', id="broken-json"),
    pytest.param(JSON, b'{"type": "event_callback", "text": "caf\xe9"}', id="latin-1-bytes"),
    pytest.param(FORM, b"command=%2Fdevops&text=\xff\xfe\xfa", id="non-utf8-form"),
    pytest.param(JSON, b'[{"type": "event_callback"}]', id="json-array"),
    pytest.param(JSON, b'"event_callback"', id="json-string"),
    pytest.param(FORM, b"payload=%7Bnot+json%7D", id="form-payload-not-json"),
    pytest.param(FORM, b"payload=%5B1%2C2%5D", id="form-payload-array"),
    pytest.param(FORM, b"%%%&&==garbage&=", id="form-garbage"),
    pytest.param(JSON, b'{"type": "event_callback", "authorizations": [7]}', id="wrong-types"),
    pytest.param(JSON, b"[" * 100_000, id="deep-nesting"),
    pytest.param(JSON, b"", id="empty"),
]


def _answers_a_question(sim: SlackClientSim, name: str) -> None:
    """The bot still answers a valid signed slash command (it kept serving)."""
    assert sim.command("how do I tail multiple pods", response=name).status_code == 200
    [answer] = sim.wait_response(name)
    assert "stern" in block_texts(answer)


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize(("content_type", "body"), MALFORMED)
def test_a_malformed_body_gets_400_and_the_bot_keeps_serving(
    slack_sim, caplog, content_type, body, signed
):
    caplog.set_level(logging.INFO)
    signature = None if signed else "v0=" + "0" * 64
    response = slack_sim.post(body, content_type, signature=signature)

    assert response.status_code == 400
    assert response.json()["error"]  # says what is wrong
    refused = [r for r in caplog.records if r.getMessage().startswith("refused a request")]
    assert len(refused) == 1 and "\n" not in refused[0].getMessage()
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
    _answers_a_question(slack_sim, f"after-{signed}")


def test_a_declared_64_mb_body_is_refused_before_it_is_sent(slack_sim):
    """413 on the headers alone: the server neither waits for nor buffers the 64 MB."""
    url = urlsplit(slack_sim.url)
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {JSON}\r\n"
        f"Content-Length: {64 * 1024 * 1024}\r\nX-Slack-Request-Timestamp: {int(time.time())}\r\n"
        "X-Slack-Signature: v0=00\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
        conn.sendall(head + b'{"type": "event_callback", "padding": "' + b"x" * 4096)
        status_line = _read_status(conn)
    assert status_line.split()[1] == b"413", status_line
    assert time.monotonic() - started < 3
    _answers_a_question(slack_sim, "after-64mb")


def test_a_chunked_body_over_the_cap_is_cut_off_with_413(slack_sim):
    url = urlsplit(slack_sim.url)
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {JSON}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    sent = 0
    with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
        conn.sendall(head)
        # Keep sending until the server answers; it must do so soon after the cap.
        while not select.select([conn], [], [], 0.01)[0]:
            assert sent < 4 * MAX_BODY_BYTES, "no answer long after the cap"
            try:
                conn.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 64 * 1024
        status_line = _read_status(conn)
    assert status_line.split()[1] == b"413", status_line
    assert sent < 2 * MAX_BODY_BYTES
    _answers_a_question(slack_sim, "after-chunked")


def _read_status(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n" not in data:
        part = conn.recv(4096)
        if not part:
            break
        data += part
    return data.split(b"\r\n", 1)[0]


class _Endless(io.RawIOBase):
    """A request body stream with no declared length that never ends; counts what is read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size >= 0, "an unbounded read of the body"
        self.read_bytes += size
        return b"x" * size


def test_a_body_without_a_length_is_read_only_up_to_the_cap(slack_runtime):
    """Behind a server that passes bodies through without Content-Length, the app reads at
    most one byte past the cap and answers 413."""
    wsgi = make_wsgi(create_app(slack_runtime), health_check(slack_runtime.engine, bool, "http"))
    stream = _Endless()
    statuses: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "CONTENT_TYPE": JSON,
        "wsgi.input": stream,
    }
    body = b"".join(wsgi(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["413 Content Too Large"]
    assert b"limit" in body
    assert stream.read_bytes <= MAX_BODY_BYTES + 1


def test_a_failed_signature_check_logs_neither_the_body_nor_the_response_url(slack_sim, caplog):
    caplog.set_level(logging.INFO)
    body = slack_sim.command_body("rotate the prod db password hunter2", response="leak")
    response = slack_sim.post(body, FORM, signature="v0=" + "0" * 64)
    assert response.status_code == 401
    event = slack_sim.event_body({"type": "message", "text": "private words in a DM"})
    assert slack_sim.post(event, JSON, signature="v0=" + "1" * 64).status_code == 401

    assert "invalid signature" in caplog.text  # the refusal itself is logged
    logged = caplog.text
    for secret in (
        "hunter2",
        "rotate",
        "private words",
        slack_sim.fake.response_url("leak"),
        "response_url",
        "legacy-verification-token",
    ):
        assert secret not in logged


def test_slacks_own_probes_still_pass_the_checks(slack_sim):
    """The URL verification handshake and the certificate check are Slack requests too."""
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"token": "t", "challenge": challenge, "type": "url_verification"})
    response = slack_sim.post(body, JSON)
    assert response.status_code == 200
    assert challenge in response.text
    assert slack_sim.post("ssl_check=1&token=t", FORM).status_code == 200
