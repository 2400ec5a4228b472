"""Every write of the analytics app: recording sales (counter, POS API, file import),
refunds, store API tokens, and marking late days for the nightly aggregation."""

from analytics.services.exports import (  # noqa: F401 - the package's public names
    report_export,
)
from analytics.services.imports import (  # noqa: F401 - the package's public names
    CHECKED_KEPT_FOR,
    sale_import_confirm,
    sale_import_create,
    sale_import_run,
    sale_imports_sweep,
)
from analytics.services.incentives import (  # noqa: F401 - the package's public names
    incentive_rule_create,
    incentive_statement_confirm,
    incentive_statement_export,
    incentive_statements_compute,
    incentive_statements_run_monthly,
    staff_target_set,
    statement_visible_to,
)
from analytics.services.members import (  # noqa: F401 - the package's public names
    sales_move_member,
)
from analytics.services.sales import (  # noqa: F401 - the package's public names
    CENT,
    EARLIEST_SALE,
    FUTURE_TOLERANCE,
    IMPORT_SYNC_LIMIT,
    MAX_LINES,
    MAX_QUANTITY,
    MAX_SALE_AMOUNT,
    LineInput,
    counter_sale_key,
    counter_sale_record,
    day_bounds,
    dirty_day_mark,
    sale_record,
    sale_record_once,
)
from analytics.services.surveys import (  # noqa: F401 - the package's public names
    DEFAULT_SURVEY_GAP_DAYS,
    SURVEY_DELAY,
    SURVEY_GAP_SETTING,
    SURVEY_RATE_SETTING,
    SURVEY_WINDOW,
    purchase_surveys_send,
)
from analytics.services.tokens import (  # noqa: F401 - the package's public names
    api_token_check,
    api_token_create,
    api_token_revoke,
    api_token_tenant,
)
from tenancy.dates import local_day  # noqa: F401 - the day of a sale, for analytics' readers
