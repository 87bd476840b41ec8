"""App Home: the subscriptions of the bot's channels and the most asked questions."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.runtime import Runtime
from bot.slack.asked import AskedQuestions
from bot.slack.home import home_view
from bot.subscriptions import list_subscriptions

log = logging.getLogger(__name__)

_CHANNELS_TTL = 60.0  # conversations.list is Tier 2 (20/min): don't call it per home view


class HomeTab:
    """Publishes a user's Home tab."""

    def __init__(self, runtime: Runtime, asked: AskedQuestions) -> None:
        self.runtime = runtime
        self.asked = asked
        self._lock = threading.Lock()
        self._channels: tuple[float, frozenset[str]] | None = None

    def publish_home(self, user_id: str, client: WebClient) -> None:
        """Build and publish the user's Home tab."""
        with self.runtime.sessions() as session:
            subs = list_subscriptions(session)
        channels = self._member_channels(client)
        scoped = channels is not None
        if channels is not None:
            subs = [s for s in subs if s.channel_id in channels]
        view = home_view(subs, self.asked.top(), scoped=scoped)
        client.views_publish(user_id=user_id, view=view)

    def _member_channels(self, client: WebClient) -> frozenset[str] | None:
        """Channels the bot is in (cached a minute), or None when Slack won't tell us."""
        now = time.monotonic()
        with self._lock:
            if self._channels and now - self._channels[0] < _CHANNELS_TTL:
                return self._channels[1]
        found: set[str] = set()
        cursor = None
        try:
            for _ in range(20):  # 20 pages of 200 channels is a big workspace already
                page = client.conversations_list(
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=200,
                    cursor=cursor,
                )
                channels = page.get("channels")
                if channels is None:
                    return None
                found.update(c["id"] for c in channels if c.get("is_member"))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as exc:
            log.info(
                "conversations.list failed (%s): showing all subscriptions",
                exc.response.get("error"),
            )
            return None
        members = frozenset(found)
        with self._lock:
            self._channels = (now, members)
        return members
