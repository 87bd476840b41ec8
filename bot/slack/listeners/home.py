"""The App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack.services import SlackServices


def register(app: App, services: SlackServices) -> None:
    """Publish the Home tab whenever a user opens it."""

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        services.home.publish_home(event["user"], client)
