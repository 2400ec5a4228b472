"""Demo contact log, case categories and cases (some overdue) for the demo stores."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from django.core.files.base import ContentFile
from django.utils import timezone

from customers.models import Customer
from interactions.models import (
    AnniversaryGreeting,
    Behaviour,
    BehaviourAward,
    CaseAttachment,
    CaseCategory,
    CaseComment,
    CaseKind,
    CaseStatus,
    Channel,
    Interaction,
    Lead,
    LeadFollowUp,
    LeadStatus,
    MemberProfile,
    Referral,
    ServiceCase,
    Survey,
    SurveyKind,
    SurveyResponse,
)
from interactions.services import member_name_keys_rebuild
from stores.models import Store
from tenancy.models import Role, StaffMember, Tenant

CATEGORIES = [
    ("商品质量投诉", CaseKind.COMPLAINT, 24),
    ("服务态度投诉", CaseKind.COMPLAINT, 24),
    ("意见建议", CaseKind.FEEDBACK, 72),
    ("维修", CaseKind.REPAIR, 120),
    ("换货", CaseKind.EXCHANGE, 48),
    ("特殊订货", CaseKind.SPECIAL_ORDER, 168),
]
NOTES = [
    "询问新款到货时间",
    "试穿两件，说下周再来",
    "微信咨询会员积分",
    "电话回访，对上次购物满意",
    "想要大一码，已登记",
]
# A one-pixel PNG so the demo case has an attachment that opens.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
    categories = [
        CaseCategory.objects.get_or_create(name=name, defaults={"kind": kind, "sla_hours": hours})[
            0
        ]
        for name, kind, hours in CATEGORIES
    ]
    member_name_keys_rebuild()
    if Interaction.objects.exists():
        return
    rng = random.Random(f"{tenant.slug}-interactions")
    members = list(Customer.objects.order_by("pk")[: 10 if quick else 60])
    stores = list(Store.objects.order_by("code"))
    clerk = StaffMember.objects.filter(role=Role.CLERK).order_by("pk").first()
    if not members or not stores:
        return
    now = timezone.now()
    Interaction.objects.bulk_create(
        [
            Interaction(
                member=member,
                store=member.home_store,
                staff=clerk,
                channel=rng.choice(Channel.values),
                text=rng.choice(NOTES),
                occurred_at=now - datetime.timedelta(hours=rng.randint(1, 24 * 60)),
            )
            for member in members
            for _ in range(2)
        ]
    )
    cases = []
    for index, member in enumerate(members[: 4 if quick else 20]):
        category = categories[index % len(categories)]
        opened = now - datetime.timedelta(hours=rng.randint(2, 24 * 10))
        status = [CaseStatus.NEW, CaseStatus.IN_PROGRESS, CaseStatus.WAITING, CaseStatus.RESOLVED][
            index % 4
        ]
        case = ServiceCase.objects.create(
            member=member,
            store=member.home_store,
            category=category,
            subject=f"{category.name}：{member.name}",
            description="顾客到店反映问题，已登记。",
            status=status,
            assignee=clerk if member.home_store_id == stores[0].pk else None,
            opened_by=clerk,
            due_at=opened + datetime.timedelta(hours=category.sla_hours),
            resolved_at=now if status == CaseStatus.RESOLVED else None,
        )
        ServiceCase.objects.filter(pk=case.pk).update(created_at=opened)
        cases.append(case)
    CaseComment.objects.create(case=cases[0], author=clerk, text="已联系顾客，约定周六到店处理。")
    attachment = CaseAttachment(
        case=cases[0], name="receipt.png", content_type="image/png", size=len(PIXEL_PNG)
    )
    attachment.file.save("receipt.png", ContentFile(PIXEL_PNG), save=False)
    attachment.save()
    today = timezone.localtime(now, tenant.zone).date()
    products = ["羊绒大衣", "真皮手袋", "运动鞋", "羊毛围巾", "男士西装"]
    for index, member in enumerate(members[: 5 if quick else 30]):
        status = [LeadStatus.OPEN, LeadStatus.OPEN, LeadStatus.WON, LeadStatus.LOST][index % 4]
        lead = Lead.objects.create(
            member=member,
            store=member.home_store,
            owner=clerk,
            product=products[index % len(products)],
            budget=Decimal(rng.choice([800, 1500, 3000, 6000])),
            next_step="到货后电话通知" if status == LeadStatus.OPEN else "",
            follow_up_on=today + datetime.timedelta(days=index % 3 - 1),
            status=status,
            sale_reference=f"S{tenant.pk:02d}{index:06d}" if status == LeadStatus.WON else "",
            lost_reason="价格超出预算" if status == LeadStatus.LOST else "",
            closed_at=now if status != LeadStatus.OPEN else None,
        )
        LeadFollowUp.objects.create(lead=lead, staff=clerk, note="已微信发送新款图片。")
    for index, case in enumerate(cases):
        survey = Survey.objects.create(
            member=case.member,
            store=case.store,
            kind=SurveyKind.CSAT if index % 2 == 0 else SurveyKind.NPS,
            case=case,
            expires_at=now + datetime.timedelta(days=14),
        )
        if index % 3 != 2:
            SurveyResponse.objects.create(
                survey=survey,
                score=[5, 9, 4, 10][index % 4],
                comment="处理及时，谢谢。",
            )
    for member, (wechat, job, likes) in zip(
        members[:3],
        [
            ("wx_lin88", "教师", "瑜伽, 茶"),
            ("zhou-design", "设计师", "旅行, 摄影"),
            ("", "医生", "跑步"),
        ],
        strict=False,
    ):
        MemberProfile.objects.filter(member=member).update(
            wechat_id=wechat, occupation=job, interests=likes, price_sensitivity="medium"
        )
    Referral.objects.create(referred=members[1], referrer=members[0], recorded_by=clerk)
    Referral.objects.create(
        referred=members[2],
        referrer=members[0],
        recorded_by=clerk,
        first_sale_at=now,
        first_sale_reference=f"S{tenant.pk:02d}000001",
    )
    BehaviourAward.objects.create(member=members[0], behaviour=Behaviour.PROFILE_COMPLETED)
    AnniversaryGreeting.objects.create(member=members[0], year=today.year - 1, sent_at=now)
