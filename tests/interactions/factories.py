from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from interactions.models import (
    CaseCategory,
    CaseKind,
    Channel,
    Interaction,
    Lead,
    ServiceCase,
    Survey,
    SurveyKind,
)
from tests.factories import CustomerFactory, StoreFactory


class CaseCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseCategory
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"类别{n}")
    kind = CaseKind.COMPLAINT
    sla_hours = 24


class ServiceCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceCase

    store = factory.SubFactory(StoreFactory)
    member = factory.SubFactory(CustomerFactory, home_store=factory.SelfAttribute("..store"))
    category = factory.SubFactory(CaseCategoryFactory)
    subject = factory.Sequence(lambda n: f"工单{n}")
    due_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(hours=24))


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    store = factory.SubFactory(StoreFactory)
    member = factory.SubFactory(CustomerFactory, home_store=factory.SelfAttribute("..store"))
    channel = Channel.VISIT
    text = "到店咨询"


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    store = factory.SubFactory(StoreFactory)
    member = factory.SubFactory(CustomerFactory, home_store=factory.SelfAttribute("..store"))
    product = "羊绒大衣"


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Survey

    store = factory.SubFactory(StoreFactory)
    member = factory.SubFactory(CustomerFactory, home_store=factory.SelfAttribute("..store"))
    kind = SurveyKind.CSAT
    expires_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=14))
