"""Start-up checks of the Slack credentials, and that secrets never reach the logs."""

from __future__ import annotations

import logging

import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.slack.tokens import RedactSecrets, check_credentials


def settings(**values) -> Settings:
    return load_settings(env_file=None, **values)


def test_http_mode_without_an_app_token():
    creds = check_credentials(settings(slack_bot_token="xoxb-1", slack_signing_secret="abc123"))
    assert creds.mode == "http" and creds.signing_secret == "abc123"


def test_socket_mode_with_an_app_token_needs_no_signing_secret():
    creds = check_credentials(settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1-A"))
    assert creds.mode == "socket" and creds.app_token == "xapp-1-A"


def test_missing_bot_token_names_the_variable_and_where_to_find_it():
    with pytest.raises(ConfigError) as info:
        check_credentials(settings(slack_signing_secret="abc"))
    message = str(info.value)
    assert "SLACK_BOT_TOKEN is not set" in message
    assert "api.slack.com/apps" in message and "OAuth & Permissions" in message


@pytest.mark.parametrize(
    ("values", "variable", "where"),
    [
        ({"slack_bot_token": "xoxp-user-token"}, "SLACK_BOT_TOKEN must be a bot token", "OAuth"),
        (
            {"slack_bot_token": "xoxb-1", "slack_app_token": "xoxb-2"},
            "SLACK_APP_TOKEN",
            "App-Level",
        ),
        ({"slack_bot_token": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set", "Basic Information"),
        (
            {"slack_bot_token": "xoxb-1", "slack_signing_secret": "not a secret!"},
            "SLACK_SIGNING_SECRET looks malformed",
            "Basic Information",
        ),
    ],
)
def test_malformed_credentials_fail_with_a_pointer(values, variable, where):
    with pytest.raises(ConfigError) as info:
        check_credentials(settings(**values))
    assert variable in str(info.value) and where in str(info.value)


def test_error_messages_never_contain_the_values():
    with pytest.raises(ConfigError) as info:
        check_credentials(settings(slack_bot_token="xoxp-SECRETVALUE", slack_app_token="bad-VALUE"))
    assert "SECRETVALUE" not in str(info.value) and "bad-VALUE" not in str(info.value)


def test_redaction_filter_masks_tokens_in_log_records(caplog):
    logger = logging.getLogger("test.redaction")
    redact = RedactSecrets(("8f742231b10e8888abcd99yyyzzz85a5",))
    logger.addFilter(redact)
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("token %s secret %s", "xoxb-123-abc", "8f742231b10e8888abcd99yyyzzz85a5")
    finally:
        logger.removeFilter(redact)
    assert "xoxb-123" not in caplog.text and "8f742231" not in caplog.text
    assert caplog.text.count("(redacted)") == 2
