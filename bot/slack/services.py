"""What the Slack listeners call, one object per concern, built once per app from the runtime:
answers (questions and the answer buttons), commands (/devops subcommands), votes, the App Home
tab, notes saved from Slack, the event claims that keep a retried event from being answered
twice, and the offers to save a thread reply the bot could not give itself."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.slack.answers import Answers
from bot.slack.asked import AskedQuestions
from bot.slack.events_seen import EventClaims
from bot.slack.feed_commands import FeedCommands
from bot.slack.home_tab import HomeTab
from bot.slack.saved_notes import SavedNotes
from bot.slack.thread_offers import ThreadOffers
from bot.slack.votes import Votes


class SlackServices:
    """The Slack-facing services of one app."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.asked = AskedQuestions(runtime)
        self.events = EventClaims(runtime)
        self.offers = ThreadOffers(runtime)
        self.notes = SavedNotes(runtime)
        self.answers = Answers(runtime, self.asked, self.events, self.offers)
        self.home = HomeTab(runtime, self.asked)
        self.commands = FeedCommands(
            runtime, self.answers, on_joined=self.home.joined, notes=self.notes
        )
        self.votes = Votes(runtime)
