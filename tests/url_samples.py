"""How the role-matrix test reaches URLs that take arguments.

Each app's test package may have a `url_samples.py` that calls `register()` for each of its
URL names with arguments: a builder that, given a store, creates (or finds) an object of that
store and returns the URL kwargs. The builder runs inside tenant_context(store.tenant). The
matrix then asks every role for the object of their own store, of another store of their
tenant, and of another tenant. A URL with arguments and no sample fails the matrix test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from django.apps import apps


@dataclass(frozen=True)
class Sample:
    build: Callable | None = None  # store -> URL kwargs
    store_scoped: bool = True  # store staff get 404 for another store's object
    ok_status: int = 200  # what an allowed role gets (405 for POST-only views)


SAMPLES: dict[str, Sample] = {}


def register(url_name: str, build: Callable | None = None, **options) -> None:
    SAMPLES[url_name] = Sample(build=build, **options)


def load_all() -> dict[str, Sample]:
    for config in apps.get_app_configs():
        try:
            import_module(f"tests.{config.label}.url_samples")
        except ModuleNotFoundError as exc:
            if exc.name not in (f"tests.{config.label}", f"tests.{config.label}.url_samples"):
                raise
    return SAMPLES
