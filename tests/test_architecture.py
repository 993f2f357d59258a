"""The layering of docs/architecture.md, enforced: rules stay testable without Discord or a
database, and cogs stay thin adapters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_DISCORD = ["bot/domain", "bot/services", "bot/db", "bot/jobs"]
# The domain may word what it says through the translation layer (gettext and Babel behind
# it, no I/O but reading the catalogs), and nothing else outside the standard library.
DOMAIN_ALLOWED_PREFIXES = ("bot.domain", "bot.i18n")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py")) if (ROOT / folder).exists() else []


@pytest.mark.parametrize("folder", NO_DISCORD)
def test_lower_layers_never_import_discord(folder: str) -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files(folder)
        if any(m == "discord" or m.startswith("discord.") for m in imported_modules(path))
    ]
    assert offenders == []


def test_cogs_never_touch_the_database_directly() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files("cogs")
        if any(
            m.split(".")[0] == "sqlalchemy" or m.startswith("bot.db")
            for m in imported_modules(path)
        )
    ]
    assert python_files("cogs")
    assert offenders == []


def test_domain_uses_only_the_standard_library() -> None:
    import sys

    offenders = []
    for path in python_files("bot/domain"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if module.startswith(DOMAIN_ALLOWED_PREFIXES) or top in sys.stdlib_module_names:
                continue
            offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert offenders == []


def test_the_checker_sees_imports() -> None:
    """Guard against a checker that can never fail."""
    assert "discord" in imported_modules(ROOT / "bot" / "client.py")
    assert "bot.db.engine" in imported_modules(ROOT / "bot" / "services" / "guild_config.py")
