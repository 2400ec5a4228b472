"""Which address a request came from, trusting only the proxies we were told about."""

import logging

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)

# Each misconfiguration is logged once per process: the header arrives on every request, and
# a warning per request would bury everything else in the log.
_warned: set[str] = set()


def _warn_once(kind: str, message: str, *args) -> None:
    if kind not in _warned:
        _warned.add(kind)
        logger.warning(message, *args)


def client_ip(request: HttpRequest) -> str:
    """The client's address, used by the sign-in throttle and written to the audit log.

    With TRUSTED_PROXY_COUNT = n, the n-th address from the right of X-Forwarded-For is the
    one our outermost proxy saw; anything further left was written by the client and can be
    forged, so it is never used (a spoofed header must not reset login throttling).
    """
    remote_addr = request.META.get("REMOTE_ADDR", "")
    proxy_count = settings.TRUSTED_PROXY_COUNT
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxy_count <= 0:
        if header:
            # Either a proxy we were not told about (every person then shares its address
            # in the throttle) or a client forging the header; both deserve a look.
            _warn_once(
                "untrusted-header",
                "X-Forwarded-For arrived but TRUSTED_PROXY_COUNT is 0, so it is ignored. "
                "If the site runs behind a reverse proxy, set TRUSTED_PROXY_COUNT.",
            )
        return remote_addr
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    if len(forwarded) < proxy_count:
        # The request did not pass through every proxy we trust: the app is reachable
        # directly, and a client reaching it so can forge the header (issue 12, finding 2).
        _warn_once(
            "missing-proxy",
            "A request reached the site through fewer than TRUSTED_PROXY_COUNT=%d proxies; "
            "do not publish the app server directly.",
            proxy_count,
        )
        return remote_addr
    return forwarded[-proxy_count]
