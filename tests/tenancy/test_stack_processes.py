"""The production stack proven without Docker.

docker-compose.yml is read and each app service's own command (migrate, web, worker, beat) is
started as a plain process against a fresh database on the local PostgreSQL and a private
redis-server: migrate runs twice (the second applies nothing), web answers /healthz through
the compose healthcheck's own command, and beat's heartbeat is queued by beat and run by the
worker, which the beat healthcheck (`manage.py check_heartbeat`) then confirms.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.faults.redis import PrivateRedis, free_port

pytestmark = pytest.mark.postgres

ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent
LONG_RUNNING = ("web", "worker", "beat")


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _local(argv: list[str], port: int, schedule: Path) -> list[str]:
    """The container's command as a local process: our venv's programs, a free port, a
    schedule file of the test's own."""
    program, *rest = argv
    local = [str(BIN / program) if (BIN / program).exists() else program, *rest]
    local = [arg.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for arg in local]
    container_schedule = "/tmp/celerybeat-schedule"  # noqa: S108 - the path inside the image
    return [str(schedule) if arg == container_schedule else arg for arg in local]


def _environment(service: dict, database: str, redis_url: str, media: Path) -> dict:
    """The service's compose environment with ${VAR:-default} resolved and the hosts
    "postgres" and "redis" pointed at this machine (trust auth: passwords are ignored)."""
    env = dict(os.environ)
    for key, value in service.get("environment", {}).items():
        value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        env[key] = re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "test-secret", value)
    # The personal-data keys are checked at start-up (tenancy.E002): a value of their shape.
    env["FIELD_ENCRYPTION_KEYS"] = ",".join(settings.FIELD_ENCRYPTION_KEYS)
    env["FIELD_BLIND_INDEX_KEY"] = settings.FIELD_BLIND_INDEX_KEY
    env["DATABASE_URL"] = re.sub(
        r"@postgres:5432/crm$", f"@127.0.0.1:5432/{database}", env["DATABASE_URL"]
    )
    env["REDIS_URL"] = redis_url
    env["MEDIA_ROOT"] = str(media)
    env["BEAT_HEARTBEAT_SECONDS"] = "1"
    env["HOSTNAME"] = socket.gethostname()
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"  # the image's programs are on its PATH
    env.pop("CRM_TEST_CLOCK", None)
    return env


def _healthcheck(service: dict, env: dict, port: int) -> subprocess.CompletedProcess:
    test = service["healthcheck"]["test"]
    kind, *argv = test
    if kind == "CMD-SHELL":
        argv = ["sh", "-c", argv[0].replace("$$", "$")]
    argv = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in argv]
    if argv[0] in ("python", "celery"):
        argv[0] = str(BIN / argv[0])
    return subprocess.run(  # noqa: S603 - the compose file's own healthcheck
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _until(check, seconds: float):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result.returncode == 0 or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


@pytest.fixture
def fresh_database():
    """An empty database with the roles' grants, made by scripts/pg-setup, dropped after."""
    name = f"crm_stack_{uuid.uuid4().hex[:8]}"
    subprocess.run(  # noqa: S603 - our own script
        [str(ROOT / "scripts" / "pg-setup")],
        env={**os.environ, "CRM_DATABASE": name},
        check=True,
        capture_output=True,
    )
    yield name
    subprocess.run(  # noqa: S603 - Debian's PostgreSQL client
        [shutil.which("dropdb") or "dropdb", "-h", "127.0.0.1", "-U", "postgres"]
        + ["--if-exists", "--force", name],
        check=False,
        capture_output=True,
    )


def test_the_compose_services_declare_restart_policies_healthchecks_and_volumes():
    stack = _compose()
    services = stack["services"]
    for name in (*LONG_RUNNING, "postgres", "redis", "proxy"):
        assert services[name]["restart"] == "unless-stopped", name
        assert name in ("proxy",) or services[name].get("healthcheck"), name
    assert services["migrate"]["restart"] == "no"
    for name in LONG_RUNNING:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert {"pgdata", "media"} <= set(stack["volumes"])


@pytest.mark.skipif(not shutil.which("dropdb"), reason="needs PostgreSQL's client programs")
def test_each_service_command_runs_as_a_plain_process(fresh_database, tmp_path):
    services = _compose()["services"]
    redis = PrivateRedis()
    redis.start()
    port = free_port()
    schedule = tmp_path / "celerybeat-schedule"
    processes: list[subprocess.Popen] = []

    def env_for(name):
        return _environment(services[name], fresh_database, redis.url, tmp_path)

    try:
        migrate = services["migrate"]
        for _run in (1, 2):
            done = subprocess.run(  # noqa: S603 - the compose file's own command
                _local(migrate["command"], port, schedule),
                cwd=ROOT,
                env=env_for("migrate"),
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, done.stderr[-2000:]
        assert "No migrations to apply" in done.stdout  # the second run changes nothing

        logs = {}
        for name in LONG_RUNNING:
            logs[name] = (tmp_path / f"{name}.log").open("w")
            processes.append(
                subprocess.Popen(  # noqa: S603 - the compose file's own command
                    _local(services[name]["command"], port, schedule),
                    cwd=ROOT,
                    env=env_for(name),
                    stdout=logs[name],
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

        web = _until(lambda: _healthcheck(services["web"], env_for("web"), port), 60)
        assert web.returncode == 0, (tmp_path / "web.log").read_text()[-3000:]

        worker = _until(lambda: _healthcheck(services["worker"], env_for("worker"), port), 60)
        assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]

        beat = _until(lambda: _healthcheck(services["beat"], env_for("beat"), port), 60)
        assert beat.returncode == 0, beat.stderr + (tmp_path / "beat.log").read_text()[-3000:]
        assert "heartbeat" in beat.stdout
        assert list(tmp_path.glob("celerybeat-schedule*"))  # beat keeps its state there
        assert "tenancy.heartbeat" in (tmp_path / "worker.log").read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        redis.close()
