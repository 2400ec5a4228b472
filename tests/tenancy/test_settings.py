"""Production settings pass Django's deployment checklist with no warning; a bad key fails it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Production-like personal-data keys (base64 of 32 bytes each); without them a deployment
# does not start (see the tests at the end).
KEYS = "k1:cHJvZHVjdGlvbi1saWtlLWZpZWxkLWtleS0xMjM0NTY="
BLIND = "cHJvZHVjdGlvbi1saWtlLWJsaW5kLWluZGV4LWtleSE="


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "0",
        "SECRET_KEY": "q8Vt2-Lm9#zR4wXp7!cN6bY1sK3dF0gH5jA-production-like",
        "FIELD_ENCRYPTION_KEYS": KEYS,
        "FIELD_BLIND_INDEX_KEY": BLIND,
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
        env.update(SECRET_KEY=key, FIELD_ENCRYPTION_KEYS=KEYS, FIELD_BLIND_INDEX_KEY=BLIND)
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


def _production_env(tmp_path, **extra) -> dict:
    return {
        "PATH": os.environ["PATH"],
        "DEBUG": "0",
        "SECRET_KEY": "q8Vt2-Lm9#zR4wXp7!cN6bY1sK3dF0gH5jA-production-like",
        "ALLOWED_HOSTS": "crm.example.cn",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        **extra,
    }


def _check(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_deployment_without_the_personal_data_keys_does_not_start(tmp_path):
    result = _check(_production_env(tmp_path))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "FIELD_ENCRYPTION_KEYS and FIELD_BLIND_INDEX_KEY must be set" in result.stderr


def test_a_key_that_does_not_parse_stops_every_command(tmp_path):
    env = _production_env(
        tmp_path, FIELD_ENCRYPTION_KEYS="k1:not-base64!", FIELD_BLIND_INDEX_KEY=BLIND
    )
    result = _check(env)
    assert result.returncode != 0
    assert "tenancy.E002" in result.stdout + result.stderr


def test_the_development_keys_fail_the_deployment_check(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    result = _check(env, "--deploy")
    assert "tenancy.E003" in result.stdout + result.stderr
