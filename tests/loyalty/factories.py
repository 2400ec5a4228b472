from __future__ import annotations

from decimal import Decimal

import factory

from loyalty.models import Tier


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("code",)

    order = factory.Sequence(lambda n: n)
    code = factory.Sequence(lambda n: f"T{n}")
    name = factory.Sequence(lambda n: f"等级{n}")
    multiplier = Decimal("1.00")


def standard_tiers() -> list[Tier]:
    """普通 (entry), 银卡 from 1000 yuan, 金卡 from 5000 yuan, 钻石 from 20000 yuan (12 months)."""
    specs = [
        (0, "NORMAL", "普通会员", "0", "1.00"),
        (1, "SILVER", "银卡", "1000", "1.50"),
        (2, "GOLD", "金卡", "5000", "2.00"),
        (3, "DIAMOND", "钻石卡", "20000", "3.00"),
    ]
    return [
        TierFactory(order=o, code=c, name=n, min_spend=Decimal(s), multiplier=Decimal(m))
        for o, c, n, s, m in specs
    ]
