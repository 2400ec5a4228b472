"""campaigns' stored system messages, rendered in the reader's language (tenancy.messages).

Imported from CampaignsConfig.ready().
"""

from django.utils.translation import gettext_lazy as _

from tenancy.messages import register_messages

register_messages(
    {
        # Ledger reason of birthday points before keys; now the source key names the gift.
        "campaigns.birthday_gift": _("Birthday gift %(year)s"),
    }
)
