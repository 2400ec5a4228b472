"""interactions' stored system messages (inbox items), rendered in the reader's language.

Keys and templates for tenancy.messages; imported from InteractionsConfig.ready().
"""

from django.utils.translation import gettext_lazy as _

from tenancy.messages import register_messages

register_messages(
    {
        "case.assigned.title": _("Case #%(number)s was assigned to you: %(subject)s"),
        "case.assigned.body": _("Due %(due)s"),
        "case.comment.title": _("New comment on case #%(number)s"),
        "case.overdue.title": _("Case #%(number)s is overdue: %(subject)s"),
        "case.escalated.title": _(
            "Case #%(number)s is overdue and was escalated to HQ: %(subject)s"
        ),
        "case.overdue.body": _("Store %(store)s, due %(due)s"),
        "lead.follow_up_due.title": _("%(count)s follow-ups are due"),
        "survey.low_score.title": _("Low satisfaction score %(score)s from %(name)s"),
    }
)
