"""Every write of the interactions app: contact log, service cases and their escalation."""

from interactions.services.anniversaries import (  # noqa: F401 - the package's public names
    anniversaries_greet,
    interactions_merge,
)
from interactions.services.cases import (  # noqa: F401 - the package's public names
    ATTACHMENT_MAX_BYTES,
    ATTACHMENT_TYPES,
    case_assign,
    case_attachment_add,
    case_comment_add,
    case_open,
    case_transition,
    case_url,
    cases_escalate_overdue,
    hq_escalation_hours,
    hq_staff,
    store_managers,
)
from interactions.services.contacts import (  # noqa: F401 - the package's public names
    case_category_save,
    interaction_record,
)
from interactions.services.leads import (  # noqa: F401 - the package's public names
    REMINDER_HOUR,
    lead_create,
    lead_follow_up,
    lead_lose,
    lead_win,
    leads_remind_due,
)
from interactions.services.members import (  # noqa: F401 - the package's public names
    PROFILE_PERSONAL_FIELDS,
    member_personal_data,
    member_personal_data_erase,
)
from interactions.services.profiles import (  # noqa: F401 - the package's public names
    PROFILE_FIELDS,
    member_name_keys_rebuild,
    member_name_keys_sync,
    member_name_keys_sync_many,
    member_profile_update,
)
from interactions.services.referrals import (  # noqa: F401 - the package's public names
    behaviour_award,
    referral_first_sale,
    referral_first_sale_refunded,
    referral_record,
)
from interactions.services.surveys import (  # noqa: F401 - the package's public names
    SURVEY_LINK_MAX_DAYS,
    SURVEY_SALT,
    SurveyRefused,
    low_score_category,
    survey_after_case,
    survey_answer,
    survey_from_token,
    survey_path,
    survey_request,
    survey_send,
    survey_token,
)
