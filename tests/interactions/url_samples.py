from tests.interactions.factories import ServiceCaseFactory
from tests.url_samples import register


def member_of(store):
    from tests.factories import CustomerFactory

    return {"member_pk": CustomerFactory(home_store=store).pk}


def case_of(store):
    return {"pk": ServiceCaseFactory(store=store).pk}


def attachment_of(store):
    from django.core.files.base import ContentFile

    from interactions.models import CaseAttachment

    attachment = CaseAttachment(
        case=ServiceCaseFactory(store=store), name="a.pdf", content_type="application/pdf", size=9
    )
    attachment.file.save("a.pdf", ContentFile(b"%PDF-1.4\n"), save=False)
    attachment.save()
    return {"pk": attachment.pk}


def category_of(store):
    from tests.interactions.factories import CaseCategoryFactory

    return {"pk": CaseCategoryFactory().pk}


# Members belong to the whole chain: store staff may log contacts with any member.
register("interactions:quick_member", member_of, store_scoped=False)
register("interactions:member_timeline", member_of, store_scoped=False)
register("interactions:case_detail", case_of)
register("interactions:case_transition", case_of, ok_status=405)
register("interactions:case_assign", case_of, ok_status=405)
register("interactions:case_comment", case_of, ok_status=405)
register("interactions:case_attach", case_of, ok_status=405)
register("interactions:attachment_download", attachment_of)
register("interactions:category_edit", category_of, store_scoped=False)


def lead_of(store):
    from tests.interactions.factories import LeadFactory

    return {"pk": LeadFactory(store=store).pk}


register("interactions:lead_detail", lead_of)
register("interactions:lead_follow_up", lead_of, ok_status=405)
register("interactions:lead_win", lead_of, ok_status=405)
register("interactions:lead_lose", lead_of, ok_status=405)


def survey_of(store):
    from interactions.services import survey_token
    from tests.interactions.factories import SurveyFactory

    return {"token": survey_token(SurveyFactory(store=store))}


# Public: answered without signing in; the matrix only checks that it has a sample.
register("interactions:survey_answer", survey_of, store_scoped=False)
register("interactions:member_profile", member_of, store_scoped=False)
register("interactions:member_referral", member_of, store_scoped=False, ok_status=405)
