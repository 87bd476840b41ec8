"""The manifest matches the code and Slack's schema; the Dockerfile keeps its promises."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.slack.app import BOT_EVENTS, BOT_SCOPES, SHORTCUTS
from bot.slack.subcommands import SLASH_COMMAND

ROOT = Path(__file__).resolve().parents[2]
# The shared schema is the reference when it sits beside the checkout; the copy in tests/data
# keeps the check running (never skipped) in a lone clone.
SHARED_SCHEMA = ROOT.parent / "shared" / "schemas" / "slack-app-manifest.schema.json"
SCHEMA = SHARED_SCHEMA if SHARED_SCHEMA.exists() else ROOT / "tests" / "data" / SHARED_SCHEMA.name


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((ROOT / "app_manifest.yml").read_text("utf-8"))


def test_manifest_is_valid_against_the_schema(manifest):
    jsonschema.validate(manifest, json.loads(SCHEMA.read_text("utf-8")))


def test_manifest_declares_exactly_what_the_code_uses(manifest):
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == [SLASH_COMMAND]
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert sorted(manifest["settings"]["event_subscriptions"]["bot_events"]) == sorted(BOT_EVENTS)
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]
    assert not home["messages_tab_read_only_enabled"]  # people DM the bot
    # Slack sends <#C…|name> and <url> in the command text only with escaping on.
    assert manifest["features"]["slash_commands"][0]["should_escape"] is True


def test_manifest_declares_the_save_shortcut_and_the_history_scopes_it_reads_threads_with(
    manifest,
):
    shortcuts = manifest["features"]["shortcuts"]
    assert {s["callback_id"]: s["name"] for s in shortcuts} == SHORTCUTS
    assert [s["type"] for s in shortcuts] == ["message"]  # on a message or thread reply
    assert SHORTCUTS == {"save_to_notes": "Save to DevOps notes"}
    # conversations.replies (a whole thread) in public and private channels; shortcuts need
    # `commands`, chat.getPermalink and views.open need no scope of their own.
    assert {"channels:history", "groups:history", "commands"} <= set(BOT_SCOPES)
    assert "remember TITLE :: TEXT" in manifest["features"]["slash_commands"][0]["usage_hint"]


def test_dockerfile_is_multi_stage_non_root_with_volume_and_healthcheck():
    text = (ROOT / "Dockerfile").read_text("utf-8")
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    # Both stages on one base: the official image unless BASE_IMAGE names a stand-in.
    assert stages == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    runtime = text.split("\nFROM ", 2)[2]  # the final stage
    assert "build-essential" not in runtime and "apt-get install" not in runtime
    assert "pip install" not in runtime
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    # Numeric, so Kubernetes' runAsNonRoot can verify it without resolving a name.
    assert re.findall(r"^USER\s+(\S+)", runtime, re.M) == ["10001:10001"]
    assert re.search(r'^VOLUME \["/data"\]', runtime, re.M)
    assert "DEVOPSBOT_DATABASE_URL=sqlite:////data/devopsbot.db" in runtime
    assert re.search(r"^EXPOSE 3000", runtime, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", runtime, re.M)
    assert 'CMD ["devopsbot", "run"]' in runtime


def test_dockerignore_keeps_the_context_small():
    ignored = (ROOT / ".dockerignore").read_text("utf-8").split()
    for entry in (".git", ".venv", "tests", "*.db", ".env"):
        assert entry in ignored
