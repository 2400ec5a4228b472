"""Store registry services: every write and business rule of regions, types, codes,
applications, re-reviews and imports. Each writes its audit event in its own transaction."""

from stores.services.applications import (  # noqa: F401 - the package's public names
    APPLICATION_FIELDS,
    CODE_RECIPIENTS_SETTING,
    FOUR_EYES_SETTING,
    application_approve,
    application_create,
    application_reject,
    application_reviewable_by,
    application_submit,
    application_update,
    four_eyes_required,
    four_eyes_set,
    store_code_hq_recipients,
    store_code_recipients_set,
)
from stores.services.codes import (  # noqa: F401 - the package's public names
    DEFAULT_REVIEW_MONTHS,
    REVIEW_MONTHS_SETTING,
    ParsedCode,
    next_review_date,
    review_interval_months,
    review_interval_set,
    store_code_format,
    store_code_parse,
    store_code_search,
)
from stores.services.documents import (  # noqa: F401 - the package's public names
    DOCUMENT_TYPES,
    MAX_DOCUMENT_BYTES,
    document_add,
    document_check,
)
from stores.services.imports import (  # noqa: F401 - the package's public names
    IMPORT_COLUMNS,
    UPLOAD_MAX_AGE,
    UPLOAD_SALT,
    ImportOutcome,
    ImportProblem,
    counters_sync_with_stores,
    store_upload_discard,
    store_upload_keep,
    store_upload_open,
    store_uploads_sweep,
    stores_export_audit,
    stores_import,
    stores_import_validate,
)
from stores.services.reviews import (  # noqa: F401 - the package's public names
    review_record,
    reviews_mark_due,
    store_set_status,
)
from stores.services.setup import (  # noqa: F401 - the package's public names
    setup_entry_delete,
    setup_entry_save,
)
