from tests.factories import CustomerFactory
from tests.url_samples import register


def _member(store):
    # Members belong to the whole chain: every counter of the tenant serves them.
    return {"pk": CustomerFactory(home_store=store).pk}


def _tier(store):
    from loyalty.models import Tier

    tier = Tier.objects.order_by("-order").first()
    order = tier.order + 1 if tier else 0
    return {"pk": Tier.objects.create(order=order, code=f"T{order}", name=f"等级{order}").pk}


register("loyalty:member_points", _member, store_scoped=False)
register("loyalty:redeem", _member, store_scoped=False)
register("loyalty:adjust", _member, store_scoped=False)
register("loyalty:tier_buy", _member, store_scoped=False)
register("loyalty:tier_edit", _tier, store_scoped=False)


def _statement(store):
    import datetime

    from django.utils import timezone

    from loyalty.models import SettlementStatement

    statement, _created = SettlementStatement.objects.get_or_create(
        store=store,
        month=datetime.date(2026, 11, 1),
        defaults={"rate": 100, "generated_at": timezone.now()},
    )
    return {"pk": statement.pk}


def _store(store):
    return {"pk": store.pk}


register("loyalty:statement", _statement)
register("loyalty:statement_decide", _statement, ok_status=405)
register("loyalty:statement_regenerate", _statement, ok_status=405)
register("loyalty:cap_edit", _store, store_scoped=False)
register("loyalty:statements_generate", ok_status=405)
