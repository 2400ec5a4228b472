import pytest

from tests.faults.redis import PrivateRedis


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_cache(private_redis, settings):
    """The site's cache on the private Redis, with the timeouts production uses."""
    settings.CACHES = {
        "default": {
            "BACKEND": "tenancy.cache.ResilientRedisCache",
            "LOCATION": private_redis.url,
            "KEY_PREFIX": "crm",
            "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.3},
        }
    }
    return private_redis
