"""Sign-in throttling that an attacker cannot turn against the people it protects.

django-axes records every failed sign-in (one row per user name, address and browser) and
refuses a sign-in before the password is tried. Three limits, each counting the failures of
the last LOGIN_COOLOFF_MINUTES (a lock ends that long after the last counted failure):

1. One account from one address: LOGIN_FAILURE_LIMIT (5) failures lock that pair. This is
   axes' own lock (AXES_LOCKOUT_PARAMETERS); it binds everyone, known device or not, so
   nobody gets more than five guesses per account per address.
2. One account from anywhere: LOGIN_ACCOUNT_FAILURE_LIMIT failures (default 20, slower than
   the pair) stop guessing spread over many addresses, but only for unknown devices: before,
   five failures from anywhere locked the real person out too (issue 12, finding 3).
3. One address against any accounts: LOGIN_ADDRESS_FAILURE_LIMIT failures (default 100),
   high because a store's staff share one NAT address and each of them mistypes now and then;
   it stops spraying one password over many accounts. Known devices pass this one too.

A known device for an account is a browser that carries our signed device cookie for it
(set at each successful sign-in), or an address the account signed in from successfully
within LOGIN_KNOWN_ADDRESS_DAYS (0 turns that off; on a carrier's shared address it lets
the others there past limits 2 and 3, never past limit 1).
"""

from __future__ import annotations

from datetime import timedelta

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.core.signing import BadSignature
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.crypto import salted_hmac

DEVICE_COOKIE = "crm_device"
_DEVICE_SALT = "tenancy.throttle.device"
# A shared counter PC is used by a handful of clerks; more than this and the oldest go.
_DEVICES_PER_COOKIE = 10


def _failures(attempts: QuerySet) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def _device_tag(username: str) -> str:
    # Keyed, so the cookie does not tell who has signed in on a shared counter PC.
    return salted_hmac(_DEVICE_SALT, username).hexdigest()[:20]


def _device_tags(request: HttpRequest) -> list[str]:
    try:
        value = request.get_signed_cookie(
            DEVICE_COOKIE,
            default="",
            salt=_DEVICE_SALT,
            max_age=timedelta(days=settings.LOGIN_DEVICE_COOKIE_DAYS),
        )
    except BadSignature:
        return []
    return [tag for tag in value.split(":") if tag]


def remember_device(request: HttpRequest, response: HttpResponse, username: str) -> None:
    """After a successful sign-in: this browser is a known device for `username`."""
    tag = _device_tag(username)
    tags = [tag] + [other for other in _device_tags(request) if other != tag]
    response.set_signed_cookie(
        DEVICE_COOKIE,
        ":".join(tags[:_DEVICES_PER_COOKIE]),
        salt=_DEVICE_SALT,
        max_age=int(timedelta(days=settings.LOGIN_DEVICE_COOKIE_DAYS).total_seconds()),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def is_known_device(request: HttpRequest, username: str | None) -> bool:
    if not username:
        return False
    if _device_tag(username) in _device_tags(request):
        return True
    days = settings.LOGIN_KNOWN_ADDRESS_DAYS
    if days <= 0:
        return False
    return AccessLog.objects.filter(
        username=username,
        ip_address=request.axes_ip_address,
        attempt_time__gte=timezone.now() - timedelta(days=days),
    ).exists()


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler plus the per-account and per-address limits above."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        if super().is_locked(request, credentials):
            return True
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        username = get_client_username(request, credentials)
        account_busy = bool(username) and (
            _failures(recent.filter(username=username)) >= settings.LOGIN_ACCOUNT_FAILURE_LIMIT
        )
        address_busy = (
            _failures(recent.filter(ip_address=request.axes_ip_address))
            >= settings.LOGIN_ADDRESS_FAILURE_LIMIT
        )
        if not (account_busy or address_busy):
            return False
        return not is_known_device(request, username)


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """The page a locked sign-in gets (AXES_LOCKOUT_CALLABLE): why, for how long, what to do."""
    cool_off = get_cool_off(request) or timedelta(0)
    # Rounded up: "try again in 0 minutes" would invite a retry that is refused again.
    minutes = max(1, -(-int(cool_off.total_seconds()) // 60))
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
