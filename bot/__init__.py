"""devopsbot: a Slack bot that announces DevOps feeds and answers questions from notes."""

__version__ = "0.1.0"
