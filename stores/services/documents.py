"""Qualification documents: checked by size, extension and content."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from stores.models import (
    ApplicationDocument,
    StoreCodeApplication,
)
from stores.services.applications import _locked
from tenancy.context import current_tenant
from tenancy.models import StaffMember
from tenancy.services import audit_record

# --- Qualification documents ----------------------------------------------------------------

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# Extension -> (content type, the file's first bytes). The content is checked too: a renamed
# executable is not a PDF.
DOCUMENT_TYPES = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
}


def document_check(upload: UploadedFile) -> str:
    """Size and type of an upload; returns its content type or raises ValidationError."""
    from pathlib import PurePath

    if upload.size > MAX_DOCUMENT_BYTES:
        raise ValidationError(_("A document may be at most 5 MB."))
    if upload.size == 0:
        raise ValidationError(_("The file is empty."))
    extension = PurePath(upload.name or "").suffix.lower()
    if extension not in DOCUMENT_TYPES:
        raise ValidationError(_("Upload a PDF, JPG or PNG file."))
    content_type, signatures = DOCUMENT_TYPES[extension]
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not any(head.startswith(signature) for signature in signatures):
        raise ValidationError(_("The file's content does not match its type."))
    return content_type


@transaction.atomic
def document_add(
    *, application: StoreCodeApplication, upload: UploadedFile, actor: StaffMember
) -> ApplicationDocument:
    content_type = document_check(upload)
    application = _locked(application)
    if not application.is_editable:
        raise ValidationError(_("A submitted application is read-only."))
    document = ApplicationDocument(
        application=application,
        original_name=(upload.name or "")[-200:],
        content_type=content_type,
        size=upload.size,
        uploaded_by=actor,
    )
    document.tenant = current_tenant()
    document.file.save(upload.name, upload, save=False)
    document.save()
    audit_record(
        action="stores.document_add",
        actor=actor,
        obj=application,
        after={"document": document.original_name, "size": document.size},
    )
    return document
