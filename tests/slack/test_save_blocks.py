"""The save-to-notes modal, its checks, and answers from saved notes: pure Block Kit (issue 10)."""

from __future__ import annotations

import json

from fakes import modal_problem
from slack_harness import block_texts, save_form

from bot.knowledge.index import IndexedChunk
from bot.slack.answer_blocks import (
    ACTION_NOTE_MENU,
    Answer,
    AnswerHit,
    SavedFrom,
    answer_message,
)
from bot.slack.save_blocks import (
    CALLBACK_SAVE,
    CONFIRM_TEXT,
    Prefill,
    SaveForm,
    form_errors,
    message_view,
    origin_from_metadata,
    read_form,
    save_modal,
)

PREFILL = Prefill(
    title="Rotate the staging database password",
    section="ops",
    text="Run `vault write -f database/rotate-root/staging-postgres`",
    channel_id="C0OPS",
    channel_name="ops",
    message_ts="1700000000.000100",
    author_id="U0AUTHOR",
    team_id="T1",
)


def inputs(view: dict) -> dict[str, dict]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def test_the_modal_is_prefilled_and_within_slacks_limits():
    view = save_modal(PREFILL)
    assert modal_problem(view) is None
    assert view["callback_id"] == CALLBACK_SAVE
    fields = inputs(view)
    assert list(fields) == ["title", "section", "text"]  # no confirmation for a public channel
    assert fields["title"]["element"]["initial_value"] == PREFILL.title
    assert fields["section"]["element"]["initial_value"] == "ops"
    assert fields["section"]["optional"] is True
    assert fields["text"]["element"]["multiline"] is True
    assert fields["text"]["element"]["max_length"] == 3000
    assert "From #ops, a message by <@U0AUTHOR>" in json.dumps(view)


def test_a_private_conversation_needs_the_confirmation_box():
    view = save_modal(Prefill(**{**PREFILL.__dict__, "private": True, "channel_name": "sec<r>t"}))
    assert modal_problem(view) is None
    confirm = inputs(view)["confirm"]
    assert confirm.get("optional", False) is False  # Slack requires it before submitting
    assert confirm["element"]["options"][0]["text"]["text"] == CONFIRM_TEXT
    notice = view["blocks"][0]["text"]["text"]
    assert "private conversation" in notice and "#sec&lt;r&gt;t" in notice  # escaped


def test_an_over_long_thread_prefill_still_opens():
    view = save_modal(Prefill(title="x" * 400, section="s" * 300, text="y" * 5000, truncated=True))
    assert modal_problem(view) is None
    assert "its end was cut" in json.dumps(view)


def test_private_metadata_carries_the_origin_not_the_text():
    raw = save_modal(PREFILL)["private_metadata"]
    assert "vault" not in raw and len(raw) < 3000
    origin = origin_from_metadata(raw)
    assert (origin.channel_id, origin.message_ts, origin.author_id, origin.team_id) == (
        "C0OPS",
        "1700000000.000100",
        "U0AUTHOR",
        "T1",
    )
    assert origin.note_id is None and origin.private is False
    assert origin_from_metadata("not json").channel_id is None
    assert origin_from_metadata('{"note_id": true, "private": "yes"}').note_id is None


def test_the_form_is_checked_field_by_field():
    form = read_form(save_form("  Restart\n the API ", None, "  kubectl rollout restart  "))
    assert form == SaveForm("Restart the API", "", "kubectl rollout restart", False)
    assert form_errors(form, private=False) == {}
    assert set(form_errors(form, private=True)) == {"confirm"}
    assert form_errors(read_form(save_form("T", "", "x", confirm=True)), private=True) == {}
    errors = form_errors(read_form(save_form("", "s" * 101, " ")), private=False)
    assert set(errors) == {"title", "section", "text"}
    long = form_errors(read_form(save_form("t" * 151, "", "x" * 3001)), private=False)
    assert "151" in long["title"] and "3,001" in long["text"]


def test_a_message_view_is_a_valid_modal():
    assert modal_problem(message_view("Saving…")) is None


def _answer(saved: SavedFrom | None) -> Answer:
    chunk = IndexedChunk(
        id=7,
        source_id=3,
        kind="note",
        title="Rotate the staging database password",
        section="ops › Rotate the staging database password",
        text="Run `vault write -f database/rotate-root/staging-postgres`",
        url=saved.permalink if saved else None,
        source_name="saved from #ops" if saved else "runbook.md",
    )
    return Answer("new secret for the staging db", True, (AnswerHit(chunk, 0.9, None, saved),))


def _menu(message) -> dict | None:
    for block in message.blocks:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element.get("action_id") == ACTION_NOTE_MENU:
                return element
    return None


def test_an_answer_from_a_saved_note_says_where_it_was_saved_with_its_link():
    saved = SavedFrom(12, "ops<!channel>", "U0SAVER", "https://test.slack.com/archives/C0OPS/p1")
    message = answer_message(_answer(saved))
    text = block_texts(message.__dict__)
    assert "saved from #ops&lt;!channel&gt; by <@U0SAVER>" in text
    assert "<https://test.slack.com/archives/C0OPS/p1|original message>" in text
    assert "<!channel>" not in text
    assert _menu(message) is None  # only for the saver or an admin

    menu = _menu(answer_message(_answer(saved), editable=True))
    assert [o["value"] for o in menu["options"]] == ["edit:12", "delete:12"]
    assert _menu(answer_message(_answer(saved), "shared", editable=True)) is None


def test_a_markdown_note_answer_has_no_saved_line_and_no_menu():
    message = answer_message(_answer(None), editable=True)
    assert "saved from" not in block_texts(message.__dict__)
    assert "runbook.md" in block_texts(message.__dict__)
    assert _menu(message) is None
