"""stores' stored system messages (inbox items), rendered in the reader's language.

Keys and templates for tenancy.messages; imported from StoresConfig.ready().
"""

from django.utils.translation import gettext_lazy as _

from tenancy.messages import register_messages

register_messages(
    {
        "stores.application_submitted.title": _("Store code application to review: %(name)s"),
        "stores.application_approved.title": _(
            "Store code application approved: %(code)s %(name)s"
        ),
        "stores.code_changed.title": _("Store code changed: %(old)s → %(new)s (%(name)s)"),
        "stores.application_returned.title": _("Store code application returned: %(name)s"),
        "stores.reviews_due.title": _("%(count)d stores are due for their periodic re-review"),
        # StoreCodeHistory.reason_message: how a code was issued.
        "stores.code_reason.approved": _("Approved application #%(id)s"),
        "stores.code_reason.changed": _("Code change, application #%(id)s"),
        "stores.code_reason.imported": _("Imported"),
        "stores.store_review_due.title": _(
            "Your store %(code)s %(name)s is due for its periodic re-review"
        ),
    }
)
