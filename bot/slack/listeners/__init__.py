"""Thin bolt listeners, one `register(app, services)` per group: ack first, then a service call."""
