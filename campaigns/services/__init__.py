"""Campaign rules: audiences and exclusions, coupons, the outbox and its dispatcher, birthdays.

Every write goes through these functions. The guarantees they keep:
- A coupon is used at most once, and an offer never beyond its per-member and total limits,
  because every redemption locks the coupon and then its offer row.
- A campaign run exists once per (campaign, occurrence) and an outbox row once per key, so a
  repeated run, a second scheduler or a retried task never queues a second message.
- Sending happens outside transactions, after one statement has claimed the round's rows
  (queued -> sending), and one statement records the round's answers; a row left in
  "sending" by a crash is marked unknown, never sent again.
- Birthday greetings: the (member, year) claim row commits before the message is sent."""

from campaigns.services.birthdays import (  # noqa: F401 - the package's public names
    birthday_batches,
    birthday_days,
    birthday_due_ids,
    birthday_send_batch,
)
from campaigns.services.common import (  # noqa: F401 - the package's public names
    BATCH,
    CAP_WINDOW,
    CENT,
    CODE_ALPHABET,
    CODE_LENGTH,
    DISPATCH_SCAN,
    LIVE_STATUSES,
    MAX_ATTEMPTS,
    PLACEHOLDERS,
    QUIET_CHANNELS,
    RETRY_BASE,
    STUCK_AFTER,
    CouponError,
    campaign_settings,
    campaign_settings_save,
    logger,
    member_message,
    message_preview,
    message_render,
    quiet_hours_end,
    template_check,
)
from campaigns.services.coupons import (  # noqa: F401 - the package's public names
    coupon_discount,
    coupon_issue_by_hand,
    coupon_offer_save,
    coupon_redeem,
    coupon_void,
    coupons_available,
    coupons_issue,
    offer_check,
)
from campaigns.services.members import (  # noqa: F401 - the package's public names
    campaigns_merge,
    member_messages_erase,
    member_personal_data,
    on_customer_merged,
    on_member_erased,
    on_personal_data_requested,
)
from campaigns.services.outbox import (  # noqa: F401 - the package's public names
    deliveries_dispatch,
    deliveries_due_batches,
    delivery_send,
    message_queue,
    points_expiry_notices_queue,
    send_via_outbox,
)
from campaigns.services.runs import (  # noqa: F401 - the package's public names
    AudienceCounts,
    audience_counts,
    campaign_audience_counts,
    campaign_cancel,
    campaign_check,
    campaign_run,
    campaign_run_due,
    campaign_save,
    campaign_schedule,
    campaigns_due,
)
from campaigns.services.unsubscribe import (  # noqa: F401 - the package's public names
    UnsubscribeRefused,
    email_unsubscribe,
    is_unsubscribe_reply,
    marketing_text,
    member_from_unsubscribe_token,
    reply_signature,
    reply_signature_valid,
    sms_length,
    sms_reply_receive,
    unsubscribe_text_check,
    unsubscribe_token,
    unsubscribe_url,
)
