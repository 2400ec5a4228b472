"""Reads that may go to a streaming replica (DATABASE_REPLICA_URL), and only those.

Only code inside `reads_from_replica()` (the dashboards, reports and exports) is routed there;
everything else, the counter and every write, uses the primary. A marked read still goes to
the primary when:
- this request or session wrote in the last REPLICA_PIN_SECONDS (a signed cookie carries the
  pin to the next requests), so a person sees their own writes;
- the default connection is inside a transaction (it may hold uncommitted rows);
- the replica is down or its replay lag exceeds REPLICA_MAX_LAG_SECONDS, checked at most
  every REPLICA_CHECK_SECONDS per process.

The replica connection gets the same per-statement tenant settings as the primary
(`tenancy.context.install_tenant_settings` runs for every PostgreSQL connection), so
row-level security applies there too: the policies are replicated with the schema.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DatabaseError, connections

REPLICA = "replica"
PIN_COOKIE = "crm_primary"
_PIN_SALT = "tenancy.replica.pin"

logger = logging.getLogger(__name__)


class _RequestState:
    """What the router learns during one request: pinned by cookie, or wrote just now."""

    __slots__ = ("pinned", "wrote")

    def __init__(self, pinned: bool = False) -> None:
        self.pinned = pinned
        self.wrote = False


_marked: ContextVar[bool] = ContextVar("reads_from_replica", default=False)
_request: ContextVar[_RequestState | None] = ContextVar("replica_request", default=None)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


# --- Health: replica reachable and not lagging, cached per process ---------------------------

_health_lock = threading.Lock()
_health = {"checked_at": float("-inf"), "usable": False}

# Lag is zero when everything received has been replayed: an idle primary commits nothing,
# so the last replayed commit's age alone would read as lag.
_LAG_SQL = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)


def _measure() -> bool:
    connection = connections[REPLICA]
    try:
        with connection.cursor() as cursor:
            cursor.execute(_LAG_SQL)
            lag = cursor.fetchone()[0]
    except DatabaseError as error:
        logger.warning("replica unusable, reading from the primary: %s", error)
        _close_quietly()
        return False
    if lag is None or float(lag) > settings.REPLICA_MAX_LAG_SECONDS:
        logger.warning("replica lags %s s, reading from the primary", lag)
        return False
    return True


def _close_quietly() -> None:
    try:
        connections[REPLICA].close()
    except DatabaseError:
        pass


def replica_usable(*, force: bool = False) -> bool:
    """Whether marked reads may use the replica now (re-measured every REPLICA_CHECK_SECONDS)."""
    now = time.monotonic()
    with _health_lock:
        if force or now - _health["checked_at"] >= settings.REPLICA_CHECK_SECONDS:
            _health["usable"] = _measure()
            _health["checked_at"] = now
        return _health["usable"]


def forget_replica_health() -> None:
    """Measure again on the next marked read (tests, and after a failure)."""
    with _health_lock:
        _health["checked_at"] = float("-inf")


# --- Marking reads ---------------------------------------------------------------------------


@contextmanager
def reads_from_replica() -> Iterator[None]:
    """Reads inside the block may use the replica (writes never do)."""
    token = _marked.set(True)
    try:
        yield
    finally:
        _marked.reset(token)


def view_reads_from_replica(view: Callable) -> Callable:
    """A view whose reads may use the replica. If the replica fails during the view and the
    view has written nothing yet, it runs once more on the primary: a replica going down
    never fails a page."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            with reads_from_replica():
                return view(request, *args, **kwargs)
        except DatabaseError:
            state = _request.get()
            if not replica_configured() or (state and state.wrote):
                raise
            _close_quietly()
            if replica_usable(force=True):
                raise  # the replica is fine: the error was the primary's or the view's
            return view(request, *args, **kwargs)

    return wrapped


class ReplicaRouter:
    """DATABASE_ROUTERS entry: marked reads to the replica when it is usable."""

    def db_for_read(self, model, **hints):
        if not _marked.get() or not replica_configured():
            return None
        state = _request.get()
        if state is not None and (state.pinned or state.wrote):
            return None
        if connections["default"].in_atomic_block:
            return None
        return REPLICA if replica_usable() else None

    def db_for_write(self, model, **hints):
        state = _request.get()
        if state is not None:
            state.wrote = True
        return None

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA else None


class PinToPrimaryMiddleware:
    """Reads go to the primary for REPLICA_PIN_SECONDS after this browser wrote (a POST or
    any ORM write), so a person never misses their own change on a lagging replica."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_configured():
            return self.get_response(request)
        seconds = settings.REPLICA_PIN_SECONDS
        pinned = (
            request.get_signed_cookie(PIN_COOKIE, default=None, salt=_PIN_SALT, max_age=seconds)
            is not None
        )
        state = _RequestState(pinned=pinned)
        token = _request.set(state)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        if state.wrote or request.method not in ("GET", "HEAD", "OPTIONS"):
            response.set_signed_cookie(
                PIN_COOKIE,
                "1",
                salt=_PIN_SALT,
                max_age=seconds,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
