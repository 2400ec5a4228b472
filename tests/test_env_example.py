"""`.env.example` names every environment variable the settings read, so an operator's
template cannot fall behind the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# env("X"), env.str("X"), env.db("X") ... as crm_site/settings.py reads them.
_READ = re.compile(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"")


def _read_by_settings() -> set[str]:
    names = set()
    for path in (ROOT / "crm_site").glob("*.py"):
        names |= set(_READ.findall(path.read_text(encoding="utf-8")))
    return names


def _documented() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def test_the_pattern_finds_the_settings_reads():
    assert {"SECRET_KEY", "DATABASE_URL", "DATABASE_REPLICA_URL", "LOG_FORMAT"} <= (
        _read_by_settings()
    )


def test_env_example_names_every_variable_the_settings_read():
    missing = _read_by_settings() - _documented()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_names_the_compose_files_variables():
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose))
    assert not used - _documented()
