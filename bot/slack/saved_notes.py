"""Saving Slack messages as notes: the shortcut's modal, its submission, `/devops remember`, and
Edit / Delete under an answer. Sessions are opened here (the edge); the knowledge package
stores and chunks, and the answerer re-indexes at once, so the next question finds the note."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError

from bot.config import Settings
from bot.db.models import SlackNote
from bot.db.slack_notes import NoteFields, note_key, slack_note, slack_note_by_key
from bot.knowledge.saved import mrkdwn_plain
from bot.knowledge.slack_notes import delete_note, edit_note, save_note
from bot.runtime import Runtime
from bot.slack.answer_blocks import NOTE_MENU_VERBS, Message, mention, notice, parse_menu_value
from bot.slack.save_blocks import (
    Prefill,
    SaveForm,
    form_errors,
    message_view,
    origin_from_metadata,
    parse_save_thread_value,
    read_form,
)
from bot.slack.save_modal import (
    conversation_facts,
    message_prefill,
    open_save_modal,
    thread_prefill,
)
from bot.slack.text import escape, truncate

log = logging.getLogger(__name__)


def may_change_note(settings: Settings, user_id: str | None, saver_id: str) -> bool:
    """The saver, or an admin (DEVOPSBOT_ADMINS; when it is empty everyone is, as for feeds)."""
    if not user_id:
        return False
    return user_id == saver_id or not settings.admins or user_id in settings.admins


def _refusal(saver_id: str) -> Message:
    return notice(
        f"Only the person who saved this note ({mention(saver_id)}) or an admin "
        "(DEVOPSBOT_ADMINS) can edit or delete it.",
        ":no_entry:",
    )


def _saved_text(title: str, private: bool, edited: bool = False) -> str:
    verb = "Updated" if edited else "Saved"
    text = (
        f":white_check_mark: {verb} *{escape(truncate(title, 150))}* in the DevOps notes: "
        "`/devops` answers from it now."
    )
    if private:
        text += " It came from a private conversation: anyone who asks the bot can see it."
    return text


class SavedNotes:
    """Everything about notes saved from Slack, for the listeners and /devops remember."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings

    def may_change(self, user_id: str | None, saver_id: str) -> bool:
        """May this user edit or delete a note `saver_id` saved?"""
        return may_change_note(self.settings, user_id, saver_id)

    # -- opening the modal ------------------------------------------------------------------

    def open_from_shortcut(
        self, body: dict[str, Any], client: WebClient, bot_user_id: str | None = None
    ) -> Message | None:
        """The message shortcut: open the modal on the message (or its whole thread)."""
        channel = body.get("channel") or {}
        message = body.get("message") or {}
        trigger = body.get("trigger_id")
        if not channel.get("id") or not message.get("ts") or not trigger:
            return notice("Slack sent no message to save; try the shortcut again.", ":warning:")
        prefill = message_prefill(
            client,
            channel_id=str(channel["id"]),
            channel_name=str(channel.get("name") or ""),
            team_id=(body.get("team") or {}).get("id"),
            message=message,
            bot_user_id=bot_user_id,
        )
        if not open_save_modal(client, trigger, prefill):
            return notice("I could not open the form (Slack refused it); try again.", ":warning:")
        return None

    def open_from_thread(
        self,
        value: str | None,
        body: dict[str, Any],
        client: WebClient,
        bot_user_id: str | None = None,
    ) -> Message | None:
        """The "Save this answer" button: its value is `{"channel": …, "thread_ts": …}`."""
        thread = parse_save_thread_value(value)
        if thread is None:
            return notice("That button has expired.", ":warning:")
        channel, thread_ts = thread
        prefill = thread_prefill(
            client,
            channel_id=channel,
            thread_ts=thread_ts,
            team_id=(body.get("team") or {}).get("id"),
            bot_user_id=bot_user_id,
        )
        if prefill is None:
            return notice("I could not read that thread (invite me to the channel).", ":warning:")
        if not body.get("trigger_id") or not open_save_modal(client, body["trigger_id"], prefill):
            return notice("I could not open the form (Slack refused it); try again.", ":warning:")
        return None

    # -- submitting -------------------------------------------------------------------------

    def check(self, user_id: str | None, values: dict[str, Any], metadata: str) -> dict[str, str]:
        """Errors to show in the modal (by block id); empty when the submission can be saved."""
        origin = origin_from_metadata(metadata)
        form = read_form(values)
        errors = form_errors(form, private=origin.private and origin.note_id is None)
        if errors:
            return errors
        if not user_id:
            return {"title": "Slack did not say who you are; try again."}
        with self.runtime.sessions() as session:
            if origin.note_id is not None:
                note = slack_note(session, origin.note_id)
                if note is None:
                    return {"title": "This note was deleted meanwhile."}
                if not self.may_change(user_id, note.saver_id):
                    return {"title": "Only the person who saved this note or an admin can edit it."}
            elif origin.channel_id and origin.message_ts:
                key = note_key(origin.team_id, origin.channel_id, origin.message_ts)
                note = slack_note_by_key(session, key)
                if note is not None and not self.may_change(user_id, note.saver_id):
                    return {
                        "title": "Someone else already saved this message; only they or an "
                        "admin can change that note."
                    }
        return {}

    def submit(
        self,
        user_id: str,
        values: dict[str, Any],
        metadata: str,
        view_id: str | None,
        client: WebClient,
    ) -> None:
        """Store the checked submission, index it now, then say so in the modal."""
        origin = origin_from_metadata(metadata)
        form = read_form(values)
        try:
            if origin.note_id is not None:
                text = self._edit(origin.note_id, form)
            else:
                text = self._save_new(user_id, origin, form, client)
        except Exception:
            log.exception("saving a note from Slack failed")
            text = ":warning: Something went wrong on my side; nothing was saved."
        if view_id:
            try:
                client.views_update(view_id=view_id, view=message_view(text))
            except SlackApiError as exc:
                log.info("views.update after saving failed (%s)", exc.response.get("error"))

    def _permalink(self, client: WebClient, origin: Prefill) -> str | None:
        if not origin.channel_id or not origin.message_ts:
            return None
        try:
            reply = client.chat_getPermalink(
                channel=origin.channel_id, message_ts=origin.message_ts
            )
        except SlackApiError as exc:
            log.info("chat.getPermalink failed (%s)", exc.response.get("error"))
            return None
        link = reply.get("permalink")
        return str(link) if isinstance(link, str) and link.startswith("https://") else None

    def _save_new(self, user_id: str, origin: Prefill, form: SaveForm, client: WebClient) -> str:
        values = NoteFields(
            title=form.title,
            section=form.section,
            body=form.text,
            saver_id=user_id,
            author_id=origin.author_id,
            team_id=origin.team_id,
            channel_id=origin.channel_id,
            channel_name=origin.channel_name,
            message_ts=origin.message_ts,
            permalink=self._permalink(client, origin),
            private=origin.private,
        )
        key = note_key(origin.team_id, origin.channel_id, origin.message_ts)
        for attempt in range(2):
            try:
                with self.runtime.sessions.begin() as session:
                    save_note(session, key, values)
                break
            except IntegrityError:  # saved by someone else this very moment: replace theirs
                if attempt:
                    raise
        self.index_now()
        return _saved_text(form.title, origin.private)

    def _edit(self, note_id: int, form: SaveForm) -> str:
        with self.runtime.sessions.begin() as session:
            note = slack_note(session, note_id)
            if note is None:
                return "This note was deleted meanwhile; nothing was saved."
            edit_note(session, note, form.title, form.section, form.text)
        self.index_now()
        return _saved_text(form.title, False, edited=True)

    def index_now(self) -> None:
        """Bring this process's answer index up to date now (vectors for the new chunks first);
        other replicas see the moved source revision before their next answer."""
        try:
            self.runtime.answerer.ingest(self.runtime.sessions)
        except Exception:  # no model: index by words now; vectors come with the next refresh
            log.exception("indexing a saved note with its vectors failed; indexing its words")
            with self.runtime.sessions.begin() as session:
                self.runtime.answerer.sync(session, embed=False)

    # -- the overflow menu under an answer --------------------------------------------------

    def menu(
        self, user_id: str | None, choice: str | None, trigger_id: str | None, client: WebClient
    ) -> Message | None:
        """Edit (opens the modal prefilled) or Delete a saved note; a reply to show, if any."""
        parsed = parse_menu_value(choice, NOTE_MENU_VERBS)
        if parsed is None:
            return notice("That menu has expired; ask again.", ":warning:")
        verb, note_id = parsed
        with self.runtime.sessions() as session:
            note = slack_note(session, note_id)
            prefill = _edit_prefill(note) if note is not None else None
            saver = note.saver_id if note is not None else ""
        if prefill is None:
            return notice("That note was deleted already.", ":wastebasket:")
        if not self.may_change(user_id, saver):
            return _refusal(saver)
        if verb == "edit":
            if not trigger_id or not open_save_modal(client, trigger_id, prefill):
                return notice(
                    "I could not open the form (Slack refused it); try again.", ":warning:"
                )
            return None
        with self.runtime.sessions.begin() as session:
            deleted = delete_note(session, note_id)
        if deleted:
            self.index_now()
        return notice(
            f"Deleted the saved note *{escape(truncate(prefill.title, 150))}*: answers no "
            "longer show it.",
            ":wastebasket:",
        )

    # -- /devops remember -------------------------------------------------------------------

    def remember(
        self,
        title: str,
        text: str,
        *,
        user_id: str | None,
        channel_id: str | None,
        client: WebClient | None,
    ) -> Message:
        """`/devops remember TITLE :: TEXT`: a note saved straight from the command line."""
        form = SaveForm(mrkdwn_plain(title), "", text.strip(), confirmed=True)
        errors = form_errors(form, private=False)
        if errors or not user_id:
            problem = " ".join(errors.values()) or "Slack did not say who you are."
            return notice(f"{escape(problem)} Usage: `/devops remember TITLE :: TEXT`", ":warning:")
        name, private = "", False
        if client is not None and channel_id:
            name, private = conversation_facts(client, channel_id)
        if private:  # typed for the bot, not taken from the channel: its name stays private
            name = ""
        values = NoteFields(
            title=form.title,
            section=name,
            body=form.text,
            saver_id=user_id,
            author_id=user_id,
            channel_id=channel_id,
            channel_name=name,
            private=private,
        )
        with self.runtime.sessions.begin() as session:
            save_note(session, note_key(None, None, None), values)
        self.index_now()
        return notice(_saved_text(form.title, private))


def _edit_prefill(note: SlackNote) -> Prefill:
    # The private-conversation confirmation was given when it was saved: not asked again.
    return Prefill(
        title=note.title,
        section=note.section,
        text=note.body,
        channel_id=note.channel_id,
        channel_name=note.channel_name,
        message_ts=note.message_ts,
        author_id=note.author_id,
        team_id=note.team_id,
        note_id=note.id,
    )
