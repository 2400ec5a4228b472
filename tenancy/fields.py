"""Model fields that store personal data encrypted (tenancy.encryption) and read it back
transparently: code sees plaintext, the database (and every backup) sees `enc1:...`.

An encrypted column cannot be searched: a sealed value differs every time it is written.
Only `isnull` and an equality test against the empty value work; any other lookup
(`phone=...`, `name__icontains=...`, `phone__in=...`) is refused with FieldError so that a
forgotten filter fails loudly instead of silently finding nobody. Searches go through the
blind index columns next to the field (customers.models.Customer.phone_hash, name_hash).
Sorting by an encrypted column sorts ciphertext: sort in Python after fetching.
"""

from __future__ import annotations

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact, IsNull

from tenancy.encryption import (
    BLIND_INDEX_LENGTH,
    Unreadable,
    encrypt,
    name_index,
    open_or_placeholder,
    phone_index,
)


class _EmptyOnlyExact(Exact):
    """`field=""` or `field=None`: whether the member has a value at all. Nothing else."""

    def __init__(self, lhs, rhs):
        if rhs not in ("", None):
            raise FieldError(
                f"{lhs.target.name} is encrypted: compare through its blind index instead."
            )
        super().__init__(lhs, rhs)


class EncryptedFieldMixin:
    """Seal on the way in (get_prep_value), open on the way out (from_db_value).

    Empty values (None, "") are stored as they are: that a member has no e-mail says nothing
    about them, and `exclude(email="")` keeps working.
    """

    def db_type(self, connection) -> str:
        return "text"

    def cast_db_type(self, connection) -> str:
        return "text"

    @property
    def encryption_context(self) -> str:
        # The column, authenticated with each value: a value moved to another column (or a
        # name pasted over a phone) fails to open instead of being read as something else.
        return f"{self.model._meta.db_table}.{self.column}"

    def plaintext_to_python(self, text: str):
        return text

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        opened = open_or_placeholder(value, context=self.encryption_context)
        if isinstance(opened, Unreadable):
            return opened
        return self.plaintext_to_python(opened)

    def get_prep_value(self, value):
        if isinstance(value, Unreadable):
            # Written back as it was read: never seal the placeholder over the data.
            return value.stored
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value), context=self.encryption_context)

    def to_python(self, value):
        if isinstance(value, Unreadable):
            return value
        return super().to_python(value)

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return IsNull
        if lookup_name == "exact":
            return _EmptyOnlyExact
        return None

    def get_transform(self, lookup_name):
        return None


class EncryptedCharField(EncryptedFieldMixin, models.CharField):
    """A CharField whose max_length checks the plaintext; the column is text (ciphertext is
    longer than the value)."""


class EncryptedEmailField(EncryptedFieldMixin, models.EmailField):
    pass


class EncryptedIntegerField(EncryptedFieldMixin, models.IntegerField):
    """An integer (a birth year) sealed as its decimal text."""

    def plaintext_to_python(self, text: str):
        return int(text)

    def get_prep_value(self, value):
        if isinstance(value, Unreadable):
            return value.stored
        if value is None or value == "":
            return None
        return encrypt(str(int(value)), context=self.encryption_context)


class EncryptedTextField(EncryptedFieldMixin, models.TextField):
    pass


class BlindIndexField(models.CharField):
    """The keyed hash of another (encrypted) field of the same row, for equality lookups.

    Filled in pre_save, which Django runs for save() and for bulk_create alike, so the index
    cannot lag behind its value; bulk_update and QuerySet.update() do not run it, so code that
    writes `source` that way writes this field too (customers.importing). An unreadable
    source keeps the index it has: it was made from the real value.
    """

    KINDS = {"phone": phone_index, "name": name_index}

    def __init__(self, *args, source: str, kind: str, **kwargs):
        self.source, self.kind = source, kind
        kwargs.setdefault("max_length", BLIND_INDEX_LENGTH)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.update(source=self.source, kind=self.kind)
        if kwargs.get("max_length") == BLIND_INDEX_LENGTH:
            del kwargs["max_length"]
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.source)
        if isinstance(value, Unreadable):
            return getattr(model_instance, self.attname)
        hashed = self.KINDS[self.kind](value)
        setattr(model_instance, self.attname, hashed)
        return hashed
