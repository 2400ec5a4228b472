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


@register(Tags.security)
def check_field_encryption_keys(app_configs, **kwargs) -> list[Error]:
    """The personal-data keys parse (every start-up command runs this): a typo in a key would
    otherwise surface as members whose data cannot be read."""
    from django.core.exceptions import ImproperlyConfigured

    from tenancy.encryption import parse_keyring

    try:
        parse_keyring(list(settings.FIELD_ENCRYPTION_KEYS), settings.FIELD_BLIND_INDEX_KEY)
    except ImproperlyConfigured as exc:
        return [
            Error(
                f"The personal-data encryption keys are not usable: {exc}",
                hint="FIELD_ENCRYPTION_KEYS=kid:base64key[,...] (newest first) and "
                "FIELD_BLIND_INDEX_KEY=base64key, each 32 random bytes.",
                id="tenancy.E002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_field_encryption_not_development(app_configs, **kwargs) -> list[Error]:
    """The development keys are in this repository: data sealed with them is not protected."""
    if list(settings.FIELD_ENCRYPTION_KEYS) == list(settings.DEVELOPMENT_FIELD_ENCRYPTION_KEYS) or (
        settings.FIELD_BLIND_INDEX_KEY == settings.DEVELOPMENT_FIELD_BLIND_INDEX_KEY
    ):
        return [
            Error(
                "The personal-data encryption keys are the development keys.",
                hint="Set FIELD_ENCRYPTION_KEYS and FIELD_BLIND_INDEX_KEY (.env.example).",
                id="tenancy.E003",
            )
        ]
    return []
