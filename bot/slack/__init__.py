"""Slack: the bolt app, thin listeners, pure Block Kit builders, and channel announcements."""
