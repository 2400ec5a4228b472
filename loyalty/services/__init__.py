"""Every points and tier write. Called by loyalty's pages, analytics' sale recording and jobs.

Locking: every write to a member's points first locks that member's PointsAccount row
(`_lock_account`). Lots and entries of one account are only ever written under that lock,
so the balance, the lots and the ledger move together. Work on several accounts (a merge,
the nightly expiry) locks them in primary-key order, so two such transactions cannot
deadlock on each other."""

from loyalty.services.adjustments import (  # noqa: F401 - the package's public names
    adjust_allowed_for,
    adjust_budget_for,
    adjust_limit_for,
    adjust_used_this_month,
    on_customer_merged,
    points_adjust,
    points_merge,
)
from loyalty.services.configuration import (  # noqa: F401 - the package's public names
    points_rule_save,
    tier_save,
)
from loyalty.services.issuance import (  # noqa: F401 - the package's public names
    points_issue_within_cap,
    store_caps_overview,
    store_points_cap_set,
)
from loyalty.services.ledger import (  # noqa: F401 - the package's public names
    behaviour_reward,
    points_award,
    points_award_reverse,
    points_earn_for_sale,
    points_redeem,
    points_reverse_for_refund,
    referral_reward,
    referral_reward_reverse,
)
from loyalty.services.members import (  # noqa: F401 - the package's public names
    member_personal_data,
    on_personal_data_requested,
)
from loyalty.services.nightly import (  # noqa: F401 - the package's public names
    loyalty_nightly,
    points_expire_due,
    points_notify_expiring,
    points_release_pending,
)
from loyalty.services.rules import (  # noqa: F401 - the package's public names
    UPDATE_BATCH,
    ZERO,
    PointsError,
    _add_lot,
    _lock_account,
    expiry_for,
    points_excluded_categories,
    points_for_value,
    points_rule,
    points_value,
)
from loyalty.services.settlement import (  # noqa: F401 - the package's public names
    liability_export,
    liability_report,
    settlement_generate,
    settlement_generate_last_month,
    statement_decide,
    statement_export,
)
from loyalty.services.tier_purchase import (  # noqa: F401 - the package's public names
    TIER_PURCHASE_ROLES,
    tier_buy_with_points,
    tier_for_sale,
)
from loyalty.services.tier_review import (  # noqa: F401 - the package's public names
    RULE_FIELDS,
    TierPreview,
    proposed_tiers,
    rules_changed,
    rules_signature,
    tier_rules_change,
    tiers_evaluate,
    tiers_preview,
)
from loyalty.services.tiers import (  # noqa: F401 - the package's public names
    Totals,
    account_totals,
    retention_threshold,
)
