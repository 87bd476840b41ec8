"""Settings: environment and .env, with errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith(("DEVOPSBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))


def test_defaults_need_no_configuration(tmp_path):
    settings = load_settings()
    assert settings.devopsbot_database_url.startswith("sqlite:///")
    assert str(tmp_path) in settings.devopsbot_database_url
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.devopsbot_allow_private_urls is False


def test_dot_env_is_read(tmp_path):
    (tmp_path / ".env").write_text(
        "DEVOPSBOT_POLL_INTERVAL=600\nSLACK_API_URL=http://127.0.0.1:9/api\n"
    )
    settings = load_settings()
    assert settings.devopsbot_poll_interval == 600
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"


def test_postgresql_urls_use_the_shipped_driver(monkeypatch):
    monkeypatch.setenv("DEVOPSBOT_DATABASE_URL", "postgresql://bot@db:5432/bot")
    assert load_settings().devopsbot_database_url == "postgresql+psycopg://bot@db:5432/bot"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEVOPSBOT_DATABASE_URL", "mysql://x"),
        ("DEVOPSBOT_POLL_INTERVAL", "5"),
        ("DEVOPSBOT_ALLOW_PRIVATE_URLS", "maybe"),
        ("SLACK_API_URL", "slack.com/api"),
        ("DEVOPSBOT_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_secrets_never_appear_in_errors(monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "")
    monkeypatch.setenv("DEVOPSBOT_POLL_INTERVAL", "5")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-value")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "very-secret" not in str(err.value)


def test_notes_sync_is_off_by_default_and_runs_every_minute():
    settings = load_settings()
    assert settings.notes_paths == ()
    assert settings.devopsbot_notes_sync_interval == 60


def test_notes_path_takes_files_and_folders_separated_by_colons(monkeypatch, tmp_path):
    monkeypatch.setenv("DEVOPSBOT_NOTES_PATH", f"/srv/notes: ~/runbook.md::{tmp_path}/ops/")
    assert load_settings().notes_paths == (
        Path("/srv/notes"),
        tmp_path / "runbook.md",  # HOME is tmp_path
        tmp_path / "ops",
    )


@pytest.mark.parametrize("value", ["4", "86401", "0", "-60"])
def test_notes_sync_interval_out_of_range_says_the_range(monkeypatch, value):
    monkeypatch.setenv("DEVOPSBOT_NOTES_SYNC_INTERVAL", value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "DEVOPSBOT_NOTES_SYNC_INTERVAL: must be between 5 and 86400 seconds" in str(err.value)


def test_notes_sync_interval_bounds_are_accepted(monkeypatch):
    for value in ("5", "86400"):
        monkeypatch.setenv("DEVOPSBOT_NOTES_SYNC_INTERVAL", value)
        assert load_settings().devopsbot_notes_sync_interval == int(value)


def test_every_bad_variable_is_named_at_once(monkeypatch):
    monkeypatch.setenv("DEVOPSBOT_POLL_INTERVAL", "5")
    monkeypatch.setenv("DEVOPSBOT_PORT", "http")
    monkeypatch.setenv("DEVOPSBOT_SAMPLE_DATA", "maybe")
    with pytest.raises(ConfigError) as err:
        load_settings()
    lines = str(err.value).splitlines()[1:]
    assert sorted(line.split(":")[0].strip() for line in lines) == [
        "DEVOPSBOT_POLL_INTERVAL",
        "DEVOPSBOT_PORT",
        "DEVOPSBOT_SAMPLE_DATA",
    ]
    assert "must be a whole number >= 60 (got '5')" in str(err.value)
    assert "must be true or false" in str(err.value)


def test_the_environment_wins_over_dot_env(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("DEVOPSBOT_POLL_INTERVAL=600\nDEVOPSBOT_SAMPLE_DATA=false\n")
    monkeypatch.setenv("DEVOPSBOT_POLL_INTERVAL", "1200")
    settings = load_settings()
    assert settings.devopsbot_poll_interval == 1200
    assert settings.devopsbot_sample_data is False


def test_tokens_are_kept_out_of_reprs(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-value")
    settings = load_settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-very-secret-value"
    assert "very-secret" not in repr(settings) and "very-secret" not in str(settings)


def test_an_unreadable_dot_env_is_named(tmp_path):
    (tmp_path / ".env").write_bytes(b"DEVOPSBOT_PORT=3000\nSLACK_BOT_TOKEN=\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"\.env: cannot be read as UTF-8 text"):
        load_settings()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("Yes", True), ("on", True), ("0", False), ("OFF", False)],
)
def test_a_switch_takes_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("DEVOPSBOT_ALLOW_PRIVATE_URLS", value)
    assert load_settings().devopsbot_allow_private_urls is expected
