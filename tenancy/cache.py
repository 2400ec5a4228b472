"""Cache keys that carry the tenant, and a Redis cache that is an accelerator only.

The cache never decides anything: every value in it can be read again from PostgreSQL. So
when Redis is down or slow, a cache call must answer "not cached" quickly instead of
raising, and the page goes on from the database (issue 13: Redis stopped, the counter
answered 500 everywhere).
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from tenancy.context import current_tenant

logger = logging.getLogger(__name__)


def tenant_cache_key(*parts: object) -> str:
    """`t<tenant id>:part:part...` for the current tenant (raises if none is selected)."""
    return ":".join([f"t{current_tenant().pk}", *map(str, parts)])


def _cache_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    # OSError: a refused or reset socket can surface unwrapped from the connection pool.
    return (RedisError, OSError)


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django's client, keeping one redis.Redis per connection pool.

    Django builds a new redis.Redis for every cache call; building one fills its table of
    about 200 response callbacks, which cost as much as the round trip itself on the
    counter lookup (two cache calls per request, issue 20). A redis.Redis is thread-safe: it
    only borrows a connection from its pool for each command.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class ResilientRedisCache(RedisCache):
    """Django's RedisCache whose failures read as misses and writes that did not happen.

    After a failure the cache is skipped for `RETRY_SECONDS`: with Redis unreachable every
    call would otherwise wait for its socket timeout (a few hundred ms each, several per
    page). Failures are logged once per `LOG_SECONDS`, not once per call.

    What is lost while Redis is away: deletes. A cached user or membership that changed during
    the outage may be served from Redis for up to its timeout (tenancy/membership.py keeps it
    5 minutes) once Redis returns with its old data; docs/reliability.md says so.
    """

    RETRY_SECONDS = 5.0
    LOG_SECONDS = 60.0

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
        self._skip_until = 0.0
        self._logged_at = float("-inf")
        self._lock = threading.Lock()

    # --- the breaker -------------------------------------------------------------------------

    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, operation: str, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self._skip_until = now + self.RETRY_SECONDS
            log = now - self._logged_at >= self.LOG_SECONDS
            if log:
                self._logged_at = now
        if log:
            logger.warning(
                "Cache unavailable (%s: %s); serving from the database, retrying every %ss",
                operation,
                exc.__class__.__name__,
                self.RETRY_SECONDS,
            )

    def _guard(self, operation: str, call, default):
        if not self._available():
            return default
        try:
            return call()
        except _cache_errors() as exc:
            self._failed(operation, exc)
            return default

    def health(self) -> str:
        """ "ok" or "error: <reason>", asking Redis itself (the breaker does not hide it)."""
        try:
            super().set("healthz", "ok", 5)
            return "ok" if super().get("healthz") == "ok" else "error: no read-back"
        except _cache_errors() as exc:
            return f"error: {exc.__class__.__name__}"

    # --- every operation Django's RedisCache has ---------------------------------------------

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard("add", lambda: super(_R, self).add(key, value, timeout, version), False)

    def get(self, key, default=None, version=None):
        return self._guard("get", lambda: super(_R, self).get(key, default, version), default)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._guard("set", lambda: super(_R, self).set(key, value, timeout, version), None)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard("touch", lambda: super(_R, self).touch(key, timeout, version), False)

    def delete(self, key, version=None):
        return self._guard("delete", lambda: super(_R, self).delete(key, version), False)

    def get_many(self, keys, version=None):
        return self._guard("get_many", lambda: super(_R, self).get_many(keys, version), {})

    def has_key(self, key, version=None):
        return self._guard("has_key", lambda: super(_R, self).has_key(key, version), False)

    def incr(self, key, delta=1, version=None):
        missing = object()
        value = self._guard("incr", lambda: super(_R, self).incr(key, delta, version), missing)
        if value is missing:
            # What BaseCache.incr says for a key it does not have: callers already handle it.
            raise ValueError(f"Key '{key}' not found (cache unavailable)")
        return value

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        # Every key "failed to insert", as set_many reports it.
        return self._guard(
            "set_many", lambda: super(_R, self).set_many(data, timeout, version), list(data)
        )

    def delete_many(self, keys, version=None):
        self._guard("delete_many", lambda: super(_R, self).delete_many(keys, version), None)

    def clear(self):
        return self._guard("clear", lambda: super(_R, self).clear(), False)


_R = ResilientRedisCache
