"""Production settings pass Django's deployment checklist with no warning; a bad key fails it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "0",
        "SECRET_KEY": "q8Vt2-Lm9#zR4wXp7!cN6bY1sK3dF0gH5jA-production-like",
        "ALLOWED_HOSTS": "crm.example.cn",
        "SECURE_SSL_REDIRECT": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("key", [None, "short-but-not-the-default", "a" * 60])
def test_check_deploy_fails_with_the_development_or_a_weak_key(tmp_path, key):
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "0",
        "ALLOWED_HOSTS": "crm.example.cn",
        "SECURE_SSL_REDIRECT": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    if key is not None:
        env["SECRET_KEY"] = key
    # No --fail-level: an error, not a warning, so the default run refuses it.
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "tenancy.E001" in result.stdout + result.stderr
