"""Posting what the outbox owes: oldest first, about one message per second per channel.

A row is claimed before its post and marked posted after. Slack errors are sorted into four
kinds:
- the channel or token can no longer be posted to (archived, not a member, bad token): the
  subscription is marked broken with a readable reason and its posts wait for a resume;
- rate limits: the post waits for Retry-After, and the wait is not a try at all;
- Slack's own trouble (HTTP 5xx, internal_error, timeouts, no connection): retried with a
  capped back-off from the post's failed tries, for as long as it takes; nothing is lost;
- Slack refusing the message itself (invalid_blocks, msg_too_long, …, or a code we do not
  know): given up after MAX_REFUSALS, logged.
A try whose outcome is unknown (a timeout, a lost connection, a claim whose holder died) is
checked against the channel's history before it is posted again (bot.slack.reconcile).
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db.channel_leases import (
    keep_channel,
    posted_in_channel,
    release_channels,
    take_channel,
)
from bot.db.models import utcnow
from bot.db.outbox import (
    CHANNEL,
    MAX_REFUSALS,
    NETWORK,
    RATE_LIMITED,
    REFUSED,
    SLACK_ERROR,
    TIMEOUT,
    TOKEN,
    OutboxItem,
    article_message_parts,
    break_subscriptions,
    claim,
    defer,
    give_up,
    mark_found,
    mark_posted,
    notice_text,
    owed_items,
    post_state,
    release,
    thread_ts_of,
)
from bot.slack.announce_blocks import Announcement, ArticleView, announcement, notice
from bot.slack.digest_posts import GROUPED_KINDS, grouped_message
from bot.slack.notices import render_notice
from bot.slack.reconcile import CannotLook, Found, delivery_key, delivery_metadata, find_posted
from bot.slack.slack_errors import is_rate_limit, is_slack_side, may_have_been_done

log = logging.getLogger(__name__)

# The channel cannot take posts from us: every subscription in it is broken.
CHANNEL_ERRORS = {
    "channel_not_found": "Slack says the channel does not exist or the bot cannot see it",
    "not_in_channel": "the bot is not a member of the channel; invite it with /invite",
    "is_archived": "the channel is archived",
}
# The bot's token is unusable: nothing can be posted anywhere until it is fixed.
TOKEN_ERRORS = {
    "invalid_auth": "Slack rejected the bot token (invalid_auth); check SLACK_BOT_TOKEN",
    "not_authed": "no bot token was sent (not_authed); check SLACK_BOT_TOKEN",
    "account_inactive": "the bot's token belongs to a deactivated user or app",
    "token_revoked": "the bot token was revoked; reinstall the app and update SLACK_BOT_TOKEN",
    "token_expired": "the bot token expired; reinstall the app and update SLACK_BOT_TOKEN",
    "missing_scope": "the bot token lacks the chat:write scope; reinstall the app",
}
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)


def make_client(settings: Settings) -> WebClient | None:
    """A WebClient for announcements (SLACK_API_URL, 429 retries on); None without a token."""
    if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value():
        return None
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=int(max(settings.devopsbot_http_timeout, 1)),
    )
    return ensure_rate_limit_retries(client)


def ensure_rate_limit_retries(client: WebClient) -> WebClient:
    """Install slack_sdk's RateLimitErrorRetryHandler (not on by default) once."""
    if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    return client


def _without_blind_resends(client: WebClient) -> WebClient:
    """The client to post with: slack_sdk's connection-error retry also resends a request whose
    answer was lost (RemoteDisconnected, a reset), which may post twice. Here only errors while
    connecting and sending are retried inside the call; a lost answer is checked first."""
    others = [h for h in client.retry_handlers if not isinstance(h, ConnectionErrorRetryHandler)]
    if len(others) == len(client.retry_handlers):
        return client
    posting = copy.copy(client)  # the listeners' client keeps its own handlers
    posting.retry_handlers = [
        ConnectionErrorRetryHandler(max_retry_count=1, error_types=[URLError]),
        *others,
    ]
    return posting


def worker_id() -> str:
    """Who holds a claim: host, process and a random suffix (two workers in one process differ)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ChannelPacer:
    """At most one post per `interval` seconds per channel; the clock and sleep are injectable.

    Shared by every delivery run of a process, so pacing holds across scheduler ticks.
    """

    def __init__(
        self,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def ready_at(self, channel: str) -> float:
        """When the channel may get its next post (clock units)."""
        with self._lock:
            return self._next.get(channel, float("-inf"))

    def wait(self, channel: str) -> None:
        """Sleep until the channel may get its next post."""
        delay = self.ready_at(channel) - self.clock()
        if delay > 0:
            self.sleep(delay)

    def posted(self, channel: str, extra: float = 0.0) -> None:
        """A post just went to the channel (or Slack asked us to wait `extra` seconds)."""
        with self._lock:
            self._next[channel] = self.clock() + max(self.interval, extra)

    def not_before(self, channel: str, delay: float) -> None:
        """The channel may not get a post for `delay` more seconds (another replica posted)."""
        with self._lock:
            self._next[channel] = max(self._next.get(channel, float("-inf")), self.clock() + delay)


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    posted: int = 0
    found: int = 0  # an earlier try had gone through: found in the channel, not posted again
    retrying: int = 0
    failed: int = 0
    broken: list[str] = field(default_factory=list)  # readable reasons, one per channel/token
    would_post: list[tuple[str, str]] = field(default_factory=list)  # dry run: (channel, text)
    stopped: str | None = None  # why the run stopped early


def _build(session: Session, item: OutboxItem) -> tuple[Announcement, bool] | None:
    """The message for a claimed row and whether to unfurl links; None if the row vanished."""
    if item.kind == "notice":
        text = notice_text(session, item)
        return None if text is None else (notice(render_notice(text)), False)
    if item.kind in GROUPED_KINDS:  # a digest message or a day thread's parent
        message = grouped_message(session, item)
        return None if message is None else (message, False)
    parts = article_message_parts(session, item)
    if parts is None:
        return None
    article, feed, sub = parts
    view = ArticleView(
        title=article.title,
        url=article.url,
        feed_title=feed.title or feed.url,
        author=article.author,
        published_at=article.published_at or article.updated_at,
        summary=article.summary,
        text=article.text,
    )
    message = announcement(view)
    thread_ts = thread_ts_of(session, item)
    if thread_ts:
        message = Announcement(message.text, message.blocks, thread_ts)
    return message, bool(sub.unfurl)


def _retry_delay(failures: int) -> timedelta:
    """Back-off after `failures` failed tries (rate limits are not tries): doubling, capped."""
    return min(RETRY_BASE * (2 ** min(max(failures - 1, 0), 20)), RETRY_MAX)


def _queues(items: list[OutboxItem], now: datetime) -> dict[str, deque[OutboxItem]]:
    """Per channel, the owed posts that are due, stopping at the first one that is not: a
    post waiting for a retry keeps the ones after it waiting too, so order holds."""
    queues: dict[str, deque[OutboxItem]] = {}
    blocked: set[str] = set()
    for item in items:
        if item.channel_id in blocked:
            continue
        if item.state == "pending" and item.next_attempt_at > now:
            blocked.add(item.channel_id)
            continue
        queues.setdefault(item.channel_id, deque()).append(item)
    return queues


def pending_posts(sessions: sessionmaker[Session], now: datetime | None = None) -> list[str]:
    """Dry run: one line per post that would go out now, without claiming anything."""
    now = now or utcnow()
    lines = []
    with sessions() as session:
        for channel, items in _queues(owed_items(session, now, limit=10_000), now).items():
            for item in items:
                built = _build(session, item)
                if built is not None:
                    lines.append(f"{channel}: {built[0].text}")
    return lines


def deliver_pending(
    sessions: sessionmaker[Session],
    client: WebClient,
    settings: Settings,
    *,
    now: datetime | None = None,
    pacer: ChannelPacer | None = None,
    worker: str | None = None,
    budget_seconds: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DeliveryReport:
    """Post what is owed, oldest first per channel, channels interleaved by their pacing; a
    channel another replica is posting to is left to it.

    `budget_seconds` bounds the run (on the pacer's clock) and `should_stop` is checked before
    each post; what is left stays owed for the next run.
    """
    now = now or utcnow()
    pacer = pacer or ChannelPacer(settings.devopsbot_post_interval)
    worker = worker or worker_id()
    client = _without_blind_resends(ensure_rate_limit_retries(client))
    report = DeliveryReport()
    deadline = pacer.clock() + budget_seconds if budget_seconds is not None else None
    owned: set[str] = set()
    try:
        # Passes: a replica that found a channel owned by us left its posts to us, so after
        # handing our channels back we look again; a pass that posts nothing ends the run.
        while True:
            with sessions() as session:
                queues = _queues(owed_items(session, now), now)
            posted = report.posted
            _deliver_pass(
                sessions, client, queues, now, pacer, worker, owned, report, deadline, should_stop
            )
            _release(sessions, owned, worker)
            if report.stopped or report.posted == posted:
                break
    finally:
        _release(sessions, owned, worker)
    return report


def _deliver_pass(
    sessions: sessionmaker[Session],
    client: WebClient,
    queues: dict[str, deque[OutboxItem]],
    now: datetime,
    pacer: ChannelPacer,
    worker: str,
    owned: set[str],
    report: DeliveryReport,
    deadline: float | None,
    should_stop: Callable[[], bool] | None,
) -> None:
    while queues:
        channel = min(queues, key=pacer.ready_at)
        if deadline is not None and max(pacer.ready_at(channel), pacer.clock()) > deadline:
            report.stopped = "time budget used up; the rest is posted on the next run"
            return
        if channel not in owned:
            if not _take(sessions, channel, worker, pacer):
                queues.pop(channel)  # another replica is posting there
                continue
            owned.add(channel)
        pacer.wait(channel)
        if should_stop is not None and should_stop():
            report.stopped = "shutting down; the rest is posted on the next run"
            return
        item = queues[channel].popleft()
        if not queues[channel]:
            del queues[channel]
        with sessions.begin() as session:
            # Renewed before each post; lost only if this replica stalled past the lease.
            if not keep_channel(session, channel, worker, utcnow()):
                owned.discard(channel)
                queues.pop(channel, None)
                continue
            if not claim(session, item, now, worker):
                continue  # another worker has it
            built = _build(session, item)
        if built is None:
            continue
        message, unfurl = built
        outcome = _check_first(sessions, client, item, now, report)
        if outcome is None:
            outcome = _post(sessions, client, item, message, unfurl, now, report)
        with sessions.begin() as session:
            posted_in_channel(session, channel, worker, utcnow())
        pacer.posted(channel, extra=outcome.wait)
        if outcome.drop_channel:
            queues.pop(channel, None)
        if outcome.stop:
            report.stopped = outcome.stop
            return


def _release(sessions: sessionmaker[Session], owned: set[str], worker: str) -> None:
    if owned:
        with sessions.begin() as session:
            release_channels(session, owned, worker, utcnow())
        owned.clear()


def _take(sessions: sessionmaker[Session], channel: str, worker: str, pacer: ChannelPacer) -> bool:
    """Own the channel's queue, pacing from its last post by any replica; False when another
    replica owns it now."""
    with sessions.begin() as session:
        now = utcnow()
        turn = take_channel(session, channel, worker, now)
    if turn.owned and turn.last_post_at is not None:
        since = (now - turn.last_post_at).total_seconds()
        pacer.not_before(channel, pacer.interval - since)
    return turn.owned


@dataclass(frozen=True)
class _PostOutcome:
    wait: float = 0.0
    drop_channel: bool = False
    stop: str | None = None


def _post(
    sessions: sessionmaker[Session],
    client: WebClient,
    item: OutboxItem,
    message: Announcement,
    unfurl: bool,
    now: datetime,
    report: DeliveryReport,
) -> _PostOutcome:
    try:
        response = client.chat_postMessage(
            channel=item.channel_id,
            thread_ts=message.thread_ts,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=unfurl,
            unfurl_media=unfurl,
            metadata=delivery_metadata(item.kind, item.id),
        )
    except SlackApiError as exc:
        return _on_slack_error(sessions, item, exc, now, report)
    except Exception as exc:  # network trouble: urllib/socket errors, timeouts
        kind, reason = _network_error(client, exc)
        log.warning("posting to %s: %s; will retry", item.channel_id, reason)
        unsure = _may_have_reached_slack(exc)
        return _retry_later(sessions, item, reason, kind, now, report, None, unsure=unsure)
    with sessions.begin() as session:
        mark_posted(session, item, response.get("ts"), utcnow())
    report.posted += 1
    return _PostOutcome()


def _on_slack_error(
    sessions: sessionmaker[Session],
    item: OutboxItem,
    exc: SlackApiError,
    now: datetime,
    report: DeliveryReport,
) -> _PostOutcome:
    response = exc.response
    code = response.get("error")
    error = str(code or f"HTTP {response.status_code}")
    if error in CHANNEL_ERRORS or error in TOKEN_ERRORS:
        token = error in TOKEN_ERRORS
        if token:
            reason = f"{TOKEN_ERRORS[error]}; then run `devopsbot feeds resume --broken`"
        else:
            reason = (
                f"{CHANNEL_ERRORS[error]} ({error}); fix that, then resume with "
                "`/devops resume <url>` or `devopsbot feeds resume --broken`"
            )
        with sessions.begin() as session:
            release(session, item, now, reason, TOKEN if token else CHANNEL)
            if token:
                # The token is shared: every channel is broken for the same reason.
                break_subscriptions(session, reason)
            else:
                break_subscriptions(session, reason, channel_id=item.channel_id)
        log.warning("subscription(s) in %s marked broken: %s", item.channel_id, reason)
        report.broken.append(f"{item.channel_id}: {reason}")
        return _PostOutcome(drop_channel=True, stop=reason if token else None)
    if is_rate_limit(response):
        retry_after = _retry_after(response.headers)
        reason = f"Slack rate limit (HTTP 429, Retry-After {retry_after:.0f}s)"
        return _retry_later(sessions, item, reason, RATE_LIMITED, now, report, retry_after)
    if response.status_code != 200:
        reason = f"Slack answered HTTP {response.status_code}" + (f" ({code})" if code else "")
    else:
        reason = f"Slack answered {error}"
    if is_slack_side(response):
        unsure = may_have_been_done(response)
        return _retry_later(sessions, item, reason, SLACK_ERROR, now, report, None, unsure=unsure)
    return _retry_later(sessions, item, reason, REFUSED, now, report, None)


def _check_first(
    sessions: sessionmaker[Session],
    client: WebClient,
    item: OutboxItem,
    now: datetime,
    report: DeliveryReport,
) -> _PostOutcome | None:
    """When an earlier try may have gone through, look for it in the channel first; None means
    post (it is not there, or the token may not look)."""
    with sessions() as session:
        state = post_state(session, item)
    if not state.unsure:
        return None
    key = delivery_key(item.kind, item.id)
    try:
        check = find_posted(client, item.channel_id, key, state.first_claimed_at or utcnow())
    except SlackApiError as exc:
        response = exc.response
        where = "checking the channel for an earlier try: "
        if is_rate_limit(response):
            retry_after = _retry_after(response.headers)
            reason = f"{where}Slack rate limit (HTTP 429, Retry-After {retry_after:.0f}s)"
            return _retry_later(
                sessions, item, reason, RATE_LIMITED, now, report, retry_after, unsure=True
            )
        code = response.get("error")
        reason = f"{where}Slack answered HTTP {response.status_code}" + (
            f" ({code})" if code else ""
        )
        return _retry_later(sessions, item, reason, SLACK_ERROR, now, report, None, unsure=True)
    except Exception as exc:  # network trouble, as for a post
        kind, reason = _network_error(client, exc)
        reason = f"checking the channel for an earlier try: {reason}"
        return _retry_later(sessions, item, reason, kind, now, report, None, unsure=True)
    if isinstance(check, Found):
        with sessions.begin() as session:
            mark_found(session, item, check.ts, utcnow())
        log.info("%s in %s had gone through (ts %s)", key, item.channel_id, check.ts)
        report.found += 1
        return _PostOutcome()
    if isinstance(check, CannotLook):
        log.warning(
            "cannot read %s's history (%s) to see whether %s went through; posting it again "
            "(add the channels:history and groups:history scopes)",
            item.channel_id,
            check.error,
            key,
        )
    return None


def _network_error(client: WebClient, exc: BaseException) -> tuple[str, str]:
    """The kind and words of a failed call that got no answer."""
    if _is_timeout(exc):
        return TIMEOUT, f"Slack did not answer within {client.timeout}s (timeout)"
    return NETWORK, f"could not reach Slack ({type(exc).__name__})"


def _is_timeout(exc: BaseException) -> bool:
    """A read timeout, or urllib's URLError wrapping a connect timeout."""
    return isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)


def _may_have_reached_slack(exc: BaseException) -> bool:
    """False only when no connection was made (refused, unknown host): nothing was sent."""
    return not isinstance(getattr(exc, "reason", None), (ConnectionRefusedError, socket.gaierror))


def _retry_after(headers: dict[str, object]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(1.0, float(str(raw)))
            except ValueError:
                break
    return 30.0


def _retry_later(
    sessions: sessionmaker[Session],
    item: OutboxItem,
    reason: str,
    kind: str,
    now: datetime,
    report: DeliveryReport,
    retry_after: float | None,
    *,
    unsure: bool = False,
) -> _PostOutcome:
    """Put the row back: after Retry-After for a rate limit (not a try), after a back-off from
    its failed tries otherwise; given up only when Slack refused it MAX_REFUSALS times.
    `unsure`: some try may have gone through, so the next one checks the channel first."""
    with sessions.begin() as session:
        if retry_after is not None:
            defer(session, item, now + timedelta(seconds=retry_after), reason, unsure=unsure)
            report.retrying += 1
            return _PostOutcome(wait=retry_after, drop_channel=True)
        state = post_state(session, item)
        if kind == REFUSED and state.refusals + 1 >= MAX_REFUSALS:
            give_up(session, item, reason, kind)
            log.error(
                "giving up on a post to %s: Slack refused it %d times: %s",
                item.channel_id,
                state.refusals + 1,
                reason,
            )
            report.failed += 1
            return _PostOutcome()
        release(session, item, now + _retry_delay(state.attempts), reason, kind, unsure=unsure)
    report.retrying += 1
    # The channel's later posts wait behind this one, so its order holds.
    return _PostOutcome(wait=retry_after or 0.0, drop_channel=True)
