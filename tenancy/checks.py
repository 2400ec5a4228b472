"""Deployment checks of our own, run by `manage.py check --deploy`."""

from django.conf import settings
from django.core.checks import Error, Tags, register

# Django's own rule for a key that may be used in production (security.W009).
_MIN_LENGTH = 50
_MIN_UNIQUE_CHARACTERS = 5


@register(Tags.security, deploy=True)
def check_secret_key(app_configs, **kwargs) -> list[Error]:
    """The development key, or a weak one, is an error, not Django's warning.

    Anyone who knows the key can forge session cookies and sign in as anybody, and the
    default key is in this repository; `check --deploy` must stop the deployment.
    """
    key = str(getattr(settings, "SECRET_KEY", "") or "")
    if (
        key.startswith("django-insecure")
        or len(key) < _MIN_LENGTH
        or len(set(key)) < _MIN_UNIQUE_CHARACTERS
    ):
        return [
            Error(
                "SECRET_KEY is the development key or too weak for production.",
                hint=(
                    "Set SECRET_KEY in the environment to a random value of at least 50 "
                    "characters, e.g. from django.core.management.utils.get_random_secret_key()."
                ),
                id="tenancy.E001",
            )
        ]
    return []
