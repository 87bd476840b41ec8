"""The "Save this answer" offer as a pure builder: who it speaks to, its button, hostile text."""

from __future__ import annotations

import json

from slack_harness import block_texts, buttons

from bot.slack.save_blocks import ACTION_SAVE_THREAD
from bot.slack.thread_offer_blocks import save_offer_message

THREAD = {"channel_id": "C0DEVOPS1", "thread_ts": "1700000000.000100"}


def _offer(question: str, recipient: str, asker: str = "U0ASKER01", replier: str = "U0REPLY01"):
    message = save_offer_message(
        question, recipient=recipient, asker=asker, replier=replier, **THREAD
    )
    return {"text": message.text, "blocks": message.blocks}


def test_the_offer_speaks_to_its_reader_and_carries_the_thread():
    to_asker = _offer("how do I rotate certs", "U0ASKER01")
    to_replier = _offer("how do I rotate certs", "U0REPLY01")
    assert "<@U0REPLY01> answered your question that I couldn't" in block_texts(to_asker)
    assert "You answered a question I couldn't" in block_texts(to_replier)
    both = _offer("how do I rotate certs", "U0ASKER01", replier="U0ASKER01")
    assert "You answered your own question" in block_texts(both)
    for offer in (to_asker, to_replier, both):
        value = buttons(offer)[ACTION_SAVE_THREAD]
        assert json.loads(value) == {"channel": "C0DEVOPS1", "thread_ts": "1700000000.000100"}
        assert "how do I rotate certs" in offer["text"]  # the fallback names the question
        assert "Nothing is saved unless you press the button" in block_texts(offer)


def test_a_hostile_question_cannot_ping_or_overflow():
    question = "<!channel> <@U123> <http://evil|trusted> & " + "x" * 5000
    offer = _offer(question, "U0REPLY01")
    shown = json.dumps(offer)
    assert "<!channel>" not in shown and "<@U123>" not in shown and "<http://evil" not in shown
    assert "&lt;!channel&gt;" in block_texts(offer)
    assert len(offer["text"]) < 500
    assert all(len(b["text"]["text"]) <= 3000 for b in offer["blocks"] if b["type"] == "section")
    # A malformed user id is never echoed as markup.
    to_asker = _offer(question, "U0ASKER01", replier="not-a-user-id")
    assert "someone answered your question" in block_texts(to_asker)
    assert "not-a-user-id" not in json.dumps(to_asker["blocks"][0])
