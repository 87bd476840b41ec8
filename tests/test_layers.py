"""Data flows one way: the store knows nothing of feeds, knowledge or Slack, and neither feeds
nor knowledge know Slack (checked on the source, including imports inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
FORBIDDEN = {
    "db": ("bot.feeds", "bot.knowledge", "bot.slack"),
    "feeds": ("bot.slack",),
    "knowledge": ("bot.slack",),
}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(package):
    offenders = []
    for path in sorted((BOT / package).rglob("*.py")):
        for module in imported_modules(path):
            if module.startswith(FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(BOT.parent)} imports {module}")
    assert offenders == []
