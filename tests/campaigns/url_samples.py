from campaigns.models import Campaign, CampaignStore
from tests.campaigns.factories import CampaignFactory, CouponFactory, CouponOfferFactory
from tests.factories import CustomerFactory
from tests.url_samples import register


def campaign(store) -> dict:
    # A campaign for this store only: a store manager of another store must get 404.
    found = Campaign.objects.filter(
        pk__in=CampaignStore.objects.filter(store=store).values("campaign_id")
    ).first()
    return {"pk": (found or CampaignFactory(stores=[store])).pk}


def offer(store) -> dict:
    return {"pk": CouponOfferFactory().pk}


def coupon(store) -> dict:
    return {"pk": CouponFactory(member=CustomerFactory(home_store=store)).pk}


register("campaigns:campaign_detail", campaign)
register("campaigns:campaign_edit", campaign)
register("campaigns:campaign_schedule", campaign, ok_status=405)
register("campaigns:campaign_cancel", campaign, ok_status=405)
# Coupon offers are HQ's and belong to the whole chain.
register("campaigns:offer_detail", offer, store_scoped=False)
register("campaigns:offer_edit", offer, store_scoped=False)
register("campaigns:offer_issue", offer, store_scoped=False, ok_status=405)
register("campaigns:coupon_void", coupon, store_scoped=False, ok_status=405)


def unsubscribe_link(store) -> dict:
    from campaigns.services import unsubscribe_token

    return {"token": unsubscribe_token(CustomerFactory(home_store=store))}


# Public: the member's e-mail link and the provider's reply callback (POST only, signed).
register("campaigns:unsubscribe", unsubscribe_link, store_scoped=False)
register(
    "campaigns:sms_reply_webhook",
    lambda store: {"tenant_slug": "alpha", "provider": "generic"},
    store_scoped=False,
    ok_status=405,
)
