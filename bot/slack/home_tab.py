"""App Home: the subscriptions of the bot's channels (with controls for those who manage feeds),
the most asked questions and those nobody could answer; the subscribe and edit modals go
through the same subscription service as the CLI."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.feeds.filters import FilterError, compile_filters
from bot.runtime import Runtime
from bot.schedules import ScheduleError, parse_schedule
from bot.slack.answer_blocks import parse_menu_value
from bot.slack.asked import AskedQuestions
from bot.slack.channel_access import (
    CannotPost,
    ChannelAccess,
    access_problem,
    bot_name,
    check_channel,
    join_or_raise,
    plain_names,
    slack_names,
)
from bot.slack.command_blocks import subscribed_message
from bot.slack.feed_commands import is_admin
from bot.slack.home import home_view
from bot.slack.home_controls import (
    MENU_VERBS,
    edit_modal,
    message_modal,
    read_form,
    subscribe_modal,
)
from bot.slack.text import escape
from bot.subscriptions import (
    SubscriptionError,
    change_subscription,
    get_subscription,
    list_subscriptions,
    pause,
    resume,
    subscribe,
    unsubscribe,
)

log = logging.getLogger(__name__)

_REFUSED = "Only the feed admins (DEVOPSBOT_ADMINS) can change subscriptions."
_CHANNELS_TTL = 60.0  # conversations.list is Tier 2 (20/min): don't call it per home view


class HomeTab:
    """Publishes a user's Home tab."""

    def __init__(self, runtime: Runtime, asked: AskedQuestions) -> None:
        self.runtime = runtime
        self.asked = asked
        self._lock = threading.Lock()
        self._channels: tuple[float, frozenset[str]] | None = None
        self._bot_name: str | None = None

    def publish_home(self, user_id: str, client: WebClient) -> None:
        """Build and publish the user's Home tab."""
        with self.runtime.sessions() as session:
            subs = list_subscriptions(session)
        channels = self._member_channels(client)
        scoped = channels is not None
        if channels is not None:
            subs = [s for s in subs if s.channel_id in channels]
        view = home_view(
            subs,
            self.asked.top(),
            scoped=scoped,
            unanswered=self.asked.unanswered(),
            can_manage=is_admin(self.runtime.settings, user_id),
        )
        client.views_publish(user_id=user_id, view=view)

    # -- controls -----------------------------------------------------------------------------

    def open_subscribe(self, user_id: str | None, trigger_id: str, client: WebClient) -> None:
        """Open the "Subscribe a feed" modal (for those who may manage feeds)."""
        if not is_admin(self.runtime.settings, user_id):
            client.views_open(trigger_id=trigger_id, view=message_modal("Feeds", _REFUSED))
            return
        client.views_open(trigger_id=trigger_id, view=subscribe_modal())

    def menu(
        self, user_id: str | None, value: str | None, trigger_id: str, client: WebClient
    ) -> None:
        """A subscription's menu choice: pause, resume or unsubscribe now; edit opens a modal.
        The user's Home is published again to show the change."""
        choice = parse_menu_value(value, MENU_VERBS)
        if choice is None or user_id is None:
            return
        if not is_admin(self.runtime.settings, user_id):
            client.views_open(trigger_id=trigger_id, view=message_modal("Feeds", _REFUSED))
            return
        verb, sub_id = choice
        try:
            if verb == "edit":
                with self.runtime.sessions() as session:
                    sub = get_subscription(session, sub_id)
                client.views_open(trigger_id=trigger_id, view=edit_modal(sub))
                return
            action = {"pause": pause, "resume": resume, "unsubscribe": unsubscribe}[verb]
            with self.runtime.sessions.begin() as session:
                action(session, str(sub_id))
        except SubscriptionError as exc:
            client.views_open(trigger_id=trigger_id, view=message_modal("Feeds", escape(str(exc))))
        self.publish_home(user_id, client)

    def check_form(self, user_id: str | None, values: dict[str, Any], new: bool) -> dict[str, str]:
        """Errors to show in the modal, by block id (none: the form can be submitted)."""
        form = read_form(values)
        first = "url" if new else "include"
        if not is_admin(self.runtime.settings, user_id):
            return {first: "Only the feed admins (DEVOPSBOT_ADMINS) can change subscriptions."}
        errors: dict[str, str] = {}
        if new and not form.url.startswith(("http://", "https://")):
            errors["url"] = "Give the feed's (or the blog's) address, starting with https://."
        if new and not form.channel_id:
            errors["channel"] = "Pick the channel to announce new posts in."
        for block, specs in (("include", form.include), ("exclude", form.exclude)):
            try:
                compile_filters(specs)
            except FilterError as exc:
                errors[block] = f"Bad filter: {exc}."
        try:
            parse_schedule(form.digest, self.runtime.settings.devopsbot_timezone)
        except ScheduleError as exc:
            errors["digest"] = str(exc)
        return errors

    def check_channel(
        self, values: dict[str, Any], client: WebClient
    ) -> tuple[ChannelAccess | None, dict[str, str]]:
        """Can the bot post in the form's channel? (its access, errors to show by block id).

        Asked before the modal is acknowledged, so a channel the bot cannot post in is refused
        next to the channel picker and nothing is fetched or stored. Errors are plain text.
        """
        channel_id = read_form(values).channel_id
        if not channel_id:
            return None, {}
        access = check_channel(client, channel_id)
        if access.ok:
            return access, {}
        if self._bot_name is None and access.outcome != "unavailable":
            self._bot_name = bot_name(client)
        problem = access_problem(access, *plain_names(access, self._bot_name, "this channel"))
        return access, {"channel": f"{problem} Nothing was subscribed."}

    def joined(self, channel_id: str) -> None:
        """The bot joined `channel_id`: the Home tab shows its subscriptions right away."""
        with self._lock:
            if self._channels is not None:
                self._channels = (self._channels[0], self._channels[1] | {channel_id})

    def submit_subscribe(
        self,
        user_id: str,
        values: dict[str, Any],
        view_id: str,
        client: WebClient,
        access: ChannelAccess | None,
        bot_user_id: str | None = None,
    ) -> None:
        """Subscribe as the form says (fetching the feed), joining the channel when `access`
        says so (a refused join stores nothing), then show the outcome in the modal (already
        acknowledged with a "fetching" view) and refresh the user's Home."""
        form = read_form(values)
        try:
            with self.runtime.sessions.begin() as session:
                result = subscribe(
                    session,
                    form.url,
                    form.channel_id,
                    self.runtime.settings,
                    include=form.include,
                    exclude=form.exclude,
                    unfurl=form.unfurl,
                    created_by=user_id,
                    digest=form.digest,
                    thread=form.thread,
                )
                if access is not None:
                    access = join_or_raise(client, access)
            joined = access is not None and access.outcome == "joined"
            if joined and form.channel_id:
                self.joined(form.channel_id)
            text = subscribed_message(
                result.subscription,
                result.created,
                result.articles_indexed,
                discovered_from=result.discovered_from,
                joined=joined,
            ).text
        except CannotPost as refused:
            problem = access_problem(refused.access, *slack_names(refused.access, bot_user_id))
            text = f":warning: {problem} Nothing was subscribed."
        except SubscriptionError as exc:
            text = f":warning: {escape(str(exc))}"
        except Exception:
            log.exception("subscribing from the Home tab failed")
            text = ":warning: Something went wrong on my side; the bot's logs have the details."
        client.views_update(view_id=view_id, view=message_modal("Subscribe a feed", text))
        self.publish_home(user_id, client)

    def submit_edit(self, values: dict[str, Any], sub_id: str) -> dict[str, str]:
        """Save the edit form; returns errors to show in the modal (none: it may close)."""
        form = read_form(values)
        try:
            with self.runtime.sessions.begin() as session:
                change_subscription(
                    session,
                    sub_id,
                    include=form.include,
                    exclude=form.exclude,
                    unfurl=form.unfurl,
                    digest=form.digest,
                    thread=form.thread,
                    default_tz=self.runtime.settings.devopsbot_timezone,
                )
        except SubscriptionError as exc:
            return {"include": str(exc)}
        return {}

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
