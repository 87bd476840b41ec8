"""The bolt app factory: one WebClient on SLACK_API_URL, listeners wired to the services."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from bot.config import Settings
from bot.runtime import Runtime
from bot.slack.listeners import actions, commands, events, home, notes
from bot.slack.save_blocks import SHORTCUT_NAME, SHORTCUT_SAVE
from bot.slack.services import SlackServices

# What the listeners use, and so exactly what app_manifest.yml declares (a test compares them).
BOT_EVENTS = (
    "app_home_opened",
    "app_mention",
    # Replies in channel threads where the bot said "I don't know" (the first one gets an offer
    # to save it); delivered under the channels:history / groups:history scopes.
    "message.channels",
    "message.groups",
    "message.im",
)
BOT_SCOPES = (
    "app_mentions:read",  # app_mention events
    # conversations.history, only for a post whose outcome is unknown (Slack did not answer in
    # time, the process died mid-post): was it posted after all? Without them it is re-posted.
    # conversations.replies, when someone saves a whole thread as a note (issue 10).
    "channels:history",
    "channels:join",  # conversations.join: subscribing a public channel the bot is not in
    # conversations.list (App Home: the bot's channels) and conversations.info (subscribing:
    # is the bot in the channel?), for public and private channels respectively
    "channels:read",
    "chat:write",  # answers in DMs and threads, Share in channel, feed announcements
    "commands",  # /devops
    "groups:history",
    "groups:read",
    "im:history",  # message.im events: direct messages to the bot
)
# Message shortcuts need no scope beyond `commands`; callback_id → name (app_manifest.yml).
SHORTCUTS = {SHORTCUT_SAVE: SHORTCUT_NAME}
LISTENER_THREADS = 32  # answers take milliseconds; the pool bounds concurrent Slack calls


class _DropTokenSkippedWarning(logging.Filter):
    """bolt warns that SLACK_BOT_TOKEN (read from the environment) is unused when we hand it
    a client; that is exactly what we mean (the client carries the token and SLACK_API_URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


class _NoRequestBodies(logging.Filter):
    """bolt quotes the request body when a signature check fails (at INFO) and parts of it for
    a request no listener takes, or a middleware that stopped (WARNING). A body may be anyone's
    and carries the response_url, a credential for five replies: above DEBUG, those lines say
    what happened and quote nothing."""

    _SHORT = (
        ("Invalid request signature", "refused a request: invalid signature or stale timestamp"),
        ("Unhandled request", "no listener took a request (DEBUG logs show which)"),
        ("A global middleware", "a middleware stopped a request (DEBUG logs show which)"),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        message = str(record.msg)
        for prefix, short in self._SHORT:
            if message.startswith(prefix):
                record.msg, record.args = short, None
        return True


APP_LOGGER = logging.getLogger("bot.slack.app")
APP_LOGGER.addFilter(_DropTokenSkippedWarning())
APP_LOGGER.addFilter(_NoRequestBodies())
# bolt's signature check logs through its own logger (it copies APP_LOGGER's filters only when
# that logger has none yet, so it gets the filter directly).
logging.getLogger("slack_bolt.RequestVerification").addFilter(_NoRequestBodies())


def make_client(settings: Settings) -> WebClient:
    """A Web API client on SLACK_API_URL that waits out 429s (off by default in slack_sdk)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def create_app(
    runtime: Runtime, *, client: WebClient | None = None, socket_mode: bool = False
) -> App:
    """Build the bolt App; HTTP mode verifies signatures, Socket Mode needs no signing secret.

    bolt calls auth.test here, so a revoked or wrong bot token fails at start.
    """
    settings = runtime.settings
    secret = settings.slack_signing_secret
    app = App(
        name="devopsbot",
        logger=APP_LOGGER,
        client=client or make_client(settings),
        signing_secret=secret.get_secret_value() if secret else "",
        request_verification_enabled=not socket_mode,
        # Ack first: bolt answers Slack's HTTP request as soon as ack() is called, and the
        # listener goes on in the executor.
        process_before_response=False,
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="listener"),
    )
    services = SlackServices(runtime)
    for group in (commands, events, actions, home, notes):
        group.register(app, services)
    return app
