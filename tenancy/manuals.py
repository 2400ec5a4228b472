"""The staff manuals: Markdown files in tenancy/help/<language>/<manual>.md, one per role.

Rendered with Python-Markdown (`attr_list` gives each heading its explicit, stable id:
`## 查找会员 {#member-lookup}`; `toc` lists them), then sanitised with nh3, so a manual can
never carry a script or an event handler into a page. The rendering is cached per process:
the files only change with a deploy.

Every page's help link comes from `help_for(view_name, role)`: the page's section anchor from
SECTIONS, looked up in the reader's own manual first and then in the manuals it builds on
(READING_ORDER): a store manager's counter pages are explained in the clerk's manual.
tests/tenancy/test_help.py fails when a page has no section, or a section's anchor is
missing from a manual in either language.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import markdown
import nh3
from django.utils.translation import get_language

from tenancy.models import Role

HELP_DIR = Path(__file__).resolve().parent / "help"
LANGUAGES = ("zh-hans", "en")
DEFAULT_LANGUAGE = "zh-hans"

# One manual per role, named after the role.
MANUALS = {
    Role.CLERK: "clerk",
    Role.STORE_MANAGER: "manager",
    Role.HQ_STAFF: "hq-staff",
    Role.HQ_ADMIN: "hq-admin",
}

# Where a reader's help link looks, in order: each role's manual covers what is new for that
# role and builds on the ones before it.
READING_ORDER = {
    Role.CLERK: ("clerk",),
    Role.STORE_MANAGER: ("manager", "clerk"),
    Role.HQ_STAFF: ("hq-staff", "manager", "clerk"),
    Role.HQ_ADMIN: ("hq-admin", "hq-staff", "manager", "clerk"),
}

# URL name (request.resolver_match.view_name) -> section anchor. Every page with a template
# has one; POST-only actions, downloads and JSON answer no page and need none.
SECTIONS = {
    # Everyone
    "home": "start",
    "inbox": "inbox",
    "help": "start",
    "onboarding": "onboarding",
    "onboarding_team": "onboarding-team",
    "stores:store_list": "stores",
    "stores:store_detail": "stores",
    # Counter: members, points, sales, service
    "customers:lookup": "member-lookup",
    "customers:enrol": "member-enrol",
    "customers:profile": "member-profile",
    "customers:edit": "member-profile",
    "interactions:member_timeline": "member-profile",
    "interactions:member_profile": "member-profile",
    "interactions:quick": "counter-log",
    "interactions:quick_member": "counter-log",
    "interactions:case_list": "cases",
    "interactions:case_create": "cases",
    "interactions:case_detail": "cases",
    "interactions:lead_today": "leads",
    "interactions:lead_create": "leads",
    "interactions:lead_detail": "leads",
    "loyalty:counter": "points-redeem",
    "loyalty:member_points": "points-redeem",
    "loyalty:redeem": "points-redeem",
    "loyalty:tier_buy": "tier-buy",
    "analytics:sale_list": "record-sale",
    "analytics:counter_sale": "record-sale",
    "analytics:sale_detail": "record-sale",
    # Store managers
    "stores:application_list": "store-code-applications",
    "stores:application_create": "store-code-applications",
    "stores:application_detail": "store-code-applications",
    "stores:application_edit": "store-code-applications",
    "stores:code_change_create": "store-code-applications",
    "customers:list": "member-list",
    "interactions:lead_conversion": "lead-conversion",
    "interactions:survey_results": "surveys",
    "loyalty:adjust": "points-adjust",
    "campaigns:campaign_list": "campaigns",
    "campaigns:campaign_create": "campaigns",
    "campaigns:campaign_detail": "campaigns",
    "campaigns:campaign_edit": "campaigns",
    "campaigns:outbox": "campaigns",
    "analytics:dashboard": "dashboards",
    "analytics:store_dashboard": "dashboards",
    "analytics:import_upload": "sale-imports",
    "analytics:import_detail": "sale-imports",
    # HQ staff
    "stores:store_import": "store-import",
    "stores:review_queue": "store-review",
    "customers:tags": "member-tags",
    "customers:duplicates": "member-duplicates",
    "customers:merge": "member-duplicates",
    "customers:segments": "segments",
    "customers:segment_new": "segments",
    "customers:segment_edit": "segments",
    "customers:import": "member-import",
    "customers:import_job": "member-import",
    "interactions:category_list": "case-categories",
    "campaigns:offer_list": "coupons",
    "campaigns:offer_create": "coupons",
    "campaigns:offer_detail": "coupons",
    "campaigns:offer_edit": "coupons",
    "catalog:product_list": "products",
    "catalog:product_create": "products",
    "catalog:product_import": "products",
    "catalog:product_edit": "products",
    # HQ administrators
    "audit_list": "audit-log",
    "staff_list": "staff",
    "staff_create": "staff",
    "staff_edit": "staff",
    "tenant_settings": "tenant-settings",
    "working_calendar": "working-calendar",
    "stores:setup": "store-setup",
    "stores:region_create": "store-setup",
    "stores:store_type_create": "store-setup",
    "stores:setup_edit": "store-setup",
    "interactions:category_edit": "case-categories",
    "loyalty:settings": "loyalty-rules",
    "loyalty:liability": "points-liability",
    "loyalty:statements": "points-settlement",
    "loyalty:statement": "points-settlement",
    "loyalty:caps": "points-caps",
    "loyalty:cap_edit": "points-caps",
    "analytics:rule_list": "incentive-rules",
    "analytics:performance_me": "my-performance",
    "analytics:performance_store": "staff-performance",
    "analytics:target_list": "staff-performance",
    "analytics:statement_list": "incentives",
    "analytics:statement_detail": "incentives",
    "analytics:statement_export": "incentives",
    "customers:privacy_settings": "retention",
    "customers:retention": "retention",
    "customers:request_list": "data-requests",
    "customers:request_create": "data-requests",
    "customers:request_detail": "data-requests",
    "loyalty:tier_create": "loyalty-rules",
    "loyalty:tier_edit": "loyalty-rules",
    "campaigns:settings": "messaging-rules",
    "catalog:settings": "catalogue-rules",
    "analytics:token_list": "pos-tokens",
}

_ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "hr", "kbd", "li", "ol",
    "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"*": {"id"}, "a": {"href", "title"}, "td": {"align"}, "th": {"align"}}


@dataclass(frozen=True)
class Manual:
    name: str
    language: str
    title: str
    html: str  # sanitised
    toc: tuple[tuple[int, str, str], ...]  # (level, anchor, title)

    @property
    def anchors(self) -> frozenset[str]:
        return frozenset(anchor for _level, anchor, _title in self.toc)


def language_of(code: str | None) -> str:
    """The manual language for a Django language code (zh-hans when there is none)."""
    code = (code or "").lower()
    return "en" if code.startswith("en") else DEFAULT_LANGUAGE


def manual_path(name: str, language: str) -> Path:
    if name not in MANUALS.values() or language not in LANGUAGES:
        raise KeyError(f"no manual {name!r} in {language!r}")
    return HELP_DIR / language / f"{name}.md"


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def render_markdown(text: str) -> tuple[str, tuple[tuple[int, str, str], ...]]:
    """Sanitised HTML and the table of contents (level, anchor, title) of Markdown text."""
    md = markdown.Markdown(extensions=["attr_list", "tables", "toc"])
    html = md.convert(text)
    toc: list[tuple[int, str, str]] = []

    def walk(tokens):
        for token in tokens:
            toc.append((token["level"], token["id"], token["name"]))
            walk(token["children"])

    walk(md.toc_tokens)
    return sanitise(html), tuple(toc)


@lru_cache(maxsize=len(MANUALS) * len(LANGUAGES))
def load(name: str, language: str) -> Manual:
    html, toc = render_markdown(manual_path(name, language).read_text(encoding="utf-8"))
    title = next((title for level, _anchor, title in toc if level == 1), name)
    return Manual(name=name, language=language, title=title, html=html, toc=toc)


def manual_for_role(role: str | None) -> str:
    return MANUALS.get(role, "clerk")


def help_for(view_name: str | None, role: str | None, language: str | None = None):
    """(manual name, anchor or "") of the help for a page, as the reader's role reads it."""
    language = language_of(language or get_language())
    anchor = SECTIONS.get(view_name or "")
    order = READING_ORDER.get(role, ("clerk",))
    if anchor:
        for name in order:
            if anchor in load(name, language).anchors:
                return name, anchor
    return order[0], ""
