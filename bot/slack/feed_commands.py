"""`/devops` subcommands: the feed management people do from Slack, through the same
subscription service as the CLI. Questions are handed to the answers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient

from bot.config import Settings
from bot.runtime import Runtime
from bot.slack.answer_blocks import Message, mention, notice
from bot.slack.answers import Answers, Send
from bot.slack.channel_access import (
    CannotPost,
    ChannelAccess,
    access_problem,
    check_channel,
    join_or_raise,
    slack_names,
)
from bot.slack.command_blocks import (
    changed_message,
    channel_changed_message,
    error_message,
    feeds_message,
    help_message,
    settings_message,
    subscribed_message,
)
from bot.slack.saved_notes import SavedNotes
from bot.slack.subcommands import ALL, Command
from bot.slack.text import escape
from bot.subscriptions import (
    SubscriptionError,
    change_channel,
    change_subscription,
    list_subscriptions,
    pause,
    resume,
    subscribe,
    unsubscribe,
    valid_channel_id,
)

log = logging.getLogger(__name__)


def is_admin(settings: Settings, user_id: str | None) -> bool:
    """Everyone manages feeds when DEVOPSBOT_ADMINS is empty; else only those listed."""
    admins = settings.admins
    return not admins or (user_id is not None and user_id in admins)


class FeedCommands:
    """Runs parsed /devops commands; DEVOPSBOT_ADMINS decides who manages feeds."""

    def __init__(
        self,
        runtime: Runtime,
        answers: Answers,
        on_joined: Callable[[str], None] | None = None,
        notes: SavedNotes | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.answers = answers
        self.on_joined = on_joined  # told the channel the bot just joined (the Home tab cache)
        self.notes = notes or SavedNotes(runtime)  # `remember`

    def is_admin(self, user_id: str | None) -> bool:
        """May this user manage feeds (DEVOPSBOT_ADMINS)?"""
        return is_admin(self.settings, user_id)

    def acknowledgement(self, command: Command, user_id: str | None) -> str:
        """What the 3-second ack says: nothing for questions, a heads-up for slow feed work."""
        if command.name == "subscribe" and not command.error and self.is_admin(user_id):
            return f"Fetching {escape(command.ref or '')} … this can take a few seconds."
        return ""

    def run_command(
        self,
        command: Command,
        *,
        user_id: str | None,
        channel_id: str | None,
        send: Send,
        client: WebClient | None = None,
        bot_user_id: str | None = None,
    ) -> None:
        """Answer a question or run a subcommand; every outcome reaches the user via `send`.

        `client` is the bot's Web API client: `subscribe` checks with it that the bot can post
        where the subscription points (and joins a public channel); None skips the check.
        """
        try:
            reply = self._dispatch(
                command,
                user_id=user_id,
                channel_id=channel_id,
                send=send,
                client=client,
                bot_user_id=bot_user_id,
            )
        except SubscriptionError as exc:
            reply = error_message(str(exc))
        except Exception:
            log.exception("/devops %s failed", command.name)
            reply = error_message(
                "Something went wrong on my side; the bot's logs have the details."
            )
        if reply is not None:
            send(reply)

    def _dispatch(
        self,
        command: Command,
        *,
        user_id: str | None,
        channel_id: str | None,
        send: Send,
        client: WebClient | None,
        bot_user_id: str | None,
    ) -> Message | None:
        if command.error:
            return error_message(command.error)
        if command.name == "ask":
            self.answers.answer_and_send(
                command.question,
                user_id=user_id,
                channel_id=channel_id,
                surface="command",
                style="private",
                send=send,
            )
            return None
        if command.name == "help":
            return help_message(bool(self.settings.admins))
        if command.name == "remember":
            return self.notes.remember(
                command.note_title,
                command.note_text,
                user_id=user_id,
                channel_id=channel_id,
                client=client,
            )
        if command.name == "feeds":
            with self.runtime.sessions() as session:
                subs = list_subscriptions(session, channel_id=command.channel_id)
            return feeds_message(subs, command.channel_id)
        if command.manages_feeds and not self.is_admin(user_id):
            return self._refusal()
        target = command.channel_id or channel_id
        ref = command.ref or ""
        if command.name == "subscribe":
            return self._subscribe(ref, target, user_id, client, bot_user_id, command)
        with self.runtime.sessions.begin() as session:
            if command.name == "set":
                views = change_subscription(
                    session,
                    ref,
                    target,
                    include=command.include,
                    exclude=command.exclude,
                    unfurl=command.unfurl,
                    digest=command.digest,
                    thread=command.thread,
                    default_tz=self.settings.devopsbot_timezone,
                )
                return settings_message(views)
            actions = {
                "unsubscribe": (unsubscribe, "Unsubscribed"),
                "pause": (pause, "Paused"),
                "resume": (resume, "Resumed"),
            }
            action, verb = actions[command.name]
            if ref == ALL:
                if target is None:
                    return error_message("Run it in a channel, or name one: `pause all #channel`.")
                views = change_channel(session, command.name, target)
                return channel_changed_message(verb, views, target)
            view = action(session, ref, channel_id=target)
            return changed_message(verb, view)

    def _subscribe(
        self,
        ref: str,
        target: str | None,
        user_id: str | None,
        client: WebClient | None,
        bot_user_id: str | None,
        command: Command | None = None,
    ) -> Message:
        """Check the bot can post in `target` before fetching anything, subscribe (with the
        command's settings), then join a public channel inside the same transaction: a
        refused join stores nothing."""
        target = valid_channel_id(target)
        access: ChannelAccess | None = None
        if client is not None and target is not None:
            access = check_channel(client, target)
            if not access.ok:
                return self._cannot_post(access, bot_user_id)
        try:
            with self.runtime.sessions.begin() as session:
                result = subscribe(
                    session,
                    ref,
                    target,
                    self.settings,
                    created_by=user_id,
                    include=(command.include if command else None) or (),
                    exclude=(command.exclude if command else None) or (),
                    unfurl=bool(command and command.unfurl),
                    digest=command.digest if command else None,
                    thread=command.thread if command else None,
                )
                if client is not None and access is not None:
                    access = join_or_raise(client, access)
        except CannotPost as refused:
            return self._cannot_post(refused.access, bot_user_id)
        joined = access is not None and access.outcome == "joined"
        if joined and target and self.on_joined is not None:
            self.on_joined(target)
        return subscribed_message(
            result.subscription,
            result.created,
            result.articles_indexed,
            result.backfilled,
            result.discovered_from,
            joined=joined,
        )

    @staticmethod
    def _cannot_post(access: ChannelAccess, bot_user_id: str | None) -> Message:
        text = access_problem(access, *slack_names(access, bot_user_id))
        return notice(f"{text} Nothing was subscribed.", ":warning:")

    def _refusal(self) -> Message:
        admins = sorted(self.settings.admins)
        who = ", ".join(mention(a) for a in admins[:5])
        text = (
            "Only the feed admins can subscribe, unsubscribe, pause or resume feeds"
            f" (DEVOPSBOT_ADMINS). Ask {who}."
        )
        return notice(text, ":no_entry:")
