"""The shipped compose stack: every container that writes or reads uploads shares one named
media volume, so an upload saved by web is found by the worker and survives a re-create."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# Containers that touch MEDIA_ROOT: web saves uploads, the worker's import jobs read them.
UPLOAD_SERVICES = {"web", "worker"}


def _stack() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _runs_the_app(service: dict) -> bool:
    command = " ".join(service.get("command") or [])
    return "gunicorn" in command or "celery" in command and " worker" in command


def test_every_service_that_touches_uploads_mounts_the_shared_media_volume():
    stack = _stack()
    services = stack["services"]
    assert {name for name, service in services.items() if _runs_the_app(service)} == (
        UPLOAD_SERVICES
    )
    assert "media" in stack["volumes"]
    for name in UPLOAD_SERVICES:
        service = services[name]
        media_root = service["environment"]["MEDIA_ROOT"]
        assert f"media:{media_root}" in service["volumes"], name


def test_the_image_creates_the_media_folder_for_its_user():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    media_root = _stack()["services"]["web"]["environment"]["MEDIA_ROOT"]
    assert f"mkdir -p {media_root}" in dockerfile
