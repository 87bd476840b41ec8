"""App Home's "Questions nobody could answer": its privacy rule (at least three different askers,
never who asked), questions dropping off once answered, and how Home shows them."""

from __future__ import annotations

import json

from slack_sdk import WebClient

from bot.slack.answer_blocks import Answer
from bot.slack.home import home_view
from bot.slack.services import SlackServices

QUESTION = "how do I rotate the vault root token"


def _ask(
    services: SlackServices,
    user: str | None,
    *,
    answered: bool = False,
    question: str = QUESTION,
    surface: str = "command",
    channel: str = "C0DEVOPS1",
) -> None:
    services.asked.record(
        Answer(question, answered), user_id=user, channel_id=channel, surface=surface
    )


def test_listed_only_once_three_different_people_asked_it(replicas):
    services, other = replicas
    for _ in range(3):
        _ask(services, "U0ASKER01")  # one person asking again is still one person
    _ask(services, "U0ASKER02", surface="dm", channel="D0DM00002")
    # Unlike "most asked", a public mention in a channel does not put it on the list...
    _ask(services, "U0ASKER01", surface="mention")
    # ...and neither does sharing it (a share is not an ask).
    _ask(services, "U0ASKER05", surface="share")
    _ask(services, None)  # a question without an asker counts nobody
    assert other.asked.unanswered() == []
    assert other.asked.top() != []  # while "most asked" still shows the public question

    _ask(services, "U0ASKER03", question="How do I rotate the Vault root token?")
    [(text, askers)] = other.asked.unanswered()
    assert askers == 3
    assert text.lower().rstrip("?") == QUESTION.lower()


def test_answered_questions_are_not_listed(replicas):
    services, other = replicas
    for user in ("U0ASKER01", "U0ASKER02", "U0ASKER03", "U0ASKER04"):
        _ask(services, user, answered=True, question="how do I tail pods")
    assert other.asked.unanswered() == []


def test_a_question_answered_since_drops_off_and_counts_again_from_zero(replicas):
    services, other = replicas
    for user in ("U0ASKER01", "U0ASKER02", "U0ASKER03"):
        _ask(services, user)
    assert [n for _, n in other.asked.unanswered()] == [3]

    _ask(services, "U0ASKER04", answered=True)  # a note was added: the bot answers it now
    assert other.asked.unanswered() == []

    # The note went away again: only people asking since count.
    _ask(services, "U0ASKER01")
    _ask(services, "U0ASKER02")
    assert other.asked.unanswered() == []
    _ask(services, "U0ASKER05")
    assert [n for _, n in other.asked.unanswered()] == [3]


def test_most_askers_first_within_the_limit(replicas):
    services, other = replicas
    for n in range(12):
        for user in range(3 + (n == 7) + 2 * (n == 4)):
            _ask(services, f"U0ASKER{user:02d}", question=f"unknown question {n}")
    listed = other.asked.unanswered(limit=10)
    assert len(listed) == 10
    assert listed[:2] == [("unknown question 4", 5), ("unknown question 7", 4)]
    assert {n for _, n in listed[2:]} == {3}


def test_home_shows_them_to_everyone_without_who_asked(replicas, fake_slack):
    services, other = replicas
    for user in ("U0ASKER01", "U0ASKER02", "U0ASKER03"):
        _ask(services, user, surface="dm", channel=f"D0DM{user}")
        _ask(services, user, question="<!channel> why is *prod* down & who broke it")
    _ask(services, "U0ASKER04", question="my private unanswered question")
    client = WebClient(token="xoxb-1", base_url=fake_slack.api_url)
    other.home.publish_home("U0VIEWER1", client)
    view = fake_slack.posted("views.publish")[-1]["view"]
    shown = json.dumps(view if isinstance(view, dict) else json.loads(view), ensure_ascii=False)
    assert "Questions nobody could answer" in shown
    assert f"{QUESTION} _(asked by 3 people)_" in shown
    assert "&lt;!channel&gt; why is *prod* down &amp; who broke it" in shown
    assert "<!channel>" not in shown
    assert "private unanswered" not in shown
    assert "U0ASKER" not in shown and "D0DM" not in shown and "C0DEVOPS1" not in shown


def test_home_view_bounds_the_list_and_says_when_it_is_empty():
    view = home_view([], [], unanswered=[("q" * 400, 9)] * 25)
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    [listed] = [t for t in sections if "asked by 9 people" in t]
    assert listed.count("asked by 9 people") == 10
    assert "q" * 200 not in listed and len(listed) <= 3000

    empty = json.dumps(home_view([], [], unanswered=[]))
    assert "Questions nobody could answer" in empty
    assert "at least three people" in empty
