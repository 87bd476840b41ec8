"""Database schema, engine/session helpers and migrations."""
