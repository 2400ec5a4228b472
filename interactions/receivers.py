"""Signal receivers of the interactions app, connected in InteractionsConfig.ready()."""

from __future__ import annotations

from interactions import services


def survey_on_case_resolved(sender, *, case, **kwargs) -> None:
    """A resolved case asks its member how it went (sampled; see survey_after_case)."""
    services.survey_after_case(case=case)


def member_saved(sender, *, instance, raw=False, **kwargs) -> None:
    """Keep the pinyin search keys of a member's name current on every save."""
    if raw:
        return  # loading fixtures: no derived rows
    services.member_name_keys_sync(member=instance)


def members_bulk_written(sender, *, member_ids, **kwargs) -> None:
    """An import wrote members without save(): their search keys and anniversaries too."""
    services.member_name_keys_sync_many(member_ids=list(member_ids))


def member_merged(sender, *, source, target, **kwargs) -> None:
    services.interactions_merge(source=source, target=target)


def member_erased(sender, *, customer, **kwargs) -> None:
    services.member_personal_data_erase(member=customer)


def personal_data_requested(sender, *, customer, **kwargs) -> tuple[str, dict]:
    return "interactions", services.member_personal_data(member=customer)


def profile_panel_context(request, customer) -> dict:
    """The member profile's "contacts and cases" section: the five newest entries."""
    from interactions.selectors import member_open_cases, member_timeline

    return {
        "open_cases": member_open_cases(customer, staff=request.staff),
        "timeline": member_timeline(customer, limit=5),
        "member": customer,
    }
