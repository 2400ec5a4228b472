"""Member files: the columns an import understands, and the export resource.

Files are read by tenancy.tabular (encodings, separators, xlsx); rows are checked as a
whole before anything is written, see customers.importing. Export cells are escaped
against formula injection.
"""

from __future__ import annotations

import tablib
from django.utils.translation import gettext_lazy
from import_export import fields, resources
from import_export.formats.base_formats import CSV, XLSX

from customers.lunar import lunar_code
from customers.models import Customer, Gender
from tenancy.tabular import Column, escape_row

FORMATS = {"csv": CSV, "xlsx": XLSX}

# The columns of a member file: canonical header (as the template writes it), then the
# aliases people use, most specific first (see tenancy.tabular.map_headers). The English
# keys are the export's headers, so an export can be imported again.
MEMBER_COLUMNS = (
    Column(
        "phone",
        "手机号",
        ("mobile", "手机", "手机号码", "联系电话", "电话"),
        gettext_lazy("Required. Mainland China mobile number; members are matched by it."),
        "13800138000",
    ),
    Column("name", "姓名", ("会员姓名", "会员名称"), gettext_lazy("Required."), "王芳"),
    Column("gender", "性别", (), gettext_lazy("男, 女 or empty."), "女"),
    Column(
        "birthday",
        "生日",
        ("birthday", "出生日期", "生日日期"),
        gettext_lazy("1990-01-02, 1990/1/2, 19900102, 1990年1月2日 or 1月2日 (year unknown)."),
        "1990-01-02",
    ),
    Column("birth_year", "出生年", ("出生年份",), gettext_lazy("Instead of 生日.")),
    Column("birth_month", "出生月", ("出生月份",), gettext_lazy("Instead of 生日.")),
    Column("birth_day", "出生日", (), gettext_lazy("Instead of 生日.")),
    Column(
        "lunar_birthday",
        "农历生日",
        ("lunar_birthday", "阴历生日", "农历"),
        gettext_lazy(
            "Instead of 生日, a lunar birthday: 05-08 or 五月初八; a leap month as 闰04-15 or "
            "闰四月十五; a lunar birth year as 1990-05-08 (or in 出生年)."
        ),
        "",
    ),
    Column(
        "card_number",
        "会员卡号",
        ("卡号", "会员卡"),
        gettext_lazy("Optional. Kept when given; a new number is issued when empty."),
        "",
    ),
    Column(
        "home_store",
        "门店编码",
        ("门店", "所属门店", "开卡门店"),
        gettext_lazy("Store code; empty: the default store chosen on the import page."),
        "BJ-ZY-001",
    ),
    Column(
        "marketing_consent",
        "营销同意",
        ("同意营销", "是否同意营销"),
        gettext_lazy("是 or 否; empty leaves it unchanged."),
        "是",
    ),
    Column("notes", "备注", (), gettext_lazy("Optional."), ""),
    Column(
        "enrolled_at",
        "入会日期",
        ("注册时间", "入会时间", "注册日期", "开卡日期", "开卡时间"),
        gettext_lazy("Optional. When a new member joined in the old system; a date."),
        "2020-05-01",
    ),
    # Written by loyalty through customers.hooks (see EXTENSION_KEYS).
    Column(
        "tier",
        "会员等级",
        ("等级", "会员级别", "卡类型"),
        gettext_lazy("Optional. The name of one of your tiers, e.g. 金卡."),
        "",
    ),
    Column(
        "opening_points",
        "积分",
        ("当前积分", "剩余积分", "可用积分", "期初积分"),
        gettext_lazy(
            "Optional. The points balance brought over from the old system, credited once "
            "per member."
        ),
        "",
    ),
)
# Columns another app writes (customers.hooks.members_imported); without a receiver they
# are not imported, and the preview says so.
EXTENSION_KEYS = ("tier", "opening_points")
COLUMN_LABELS = {column.key: column.label for column in MEMBER_COLUMNS}
GENDER_ALIASES = {
    "": Gender.UNKNOWN,
    "unknown": Gender.UNKNOWN,
    "未知": Gender.UNKNOWN,
    "female": Gender.FEMALE,
    "f": Gender.FEMALE,
    "女": Gender.FEMALE,
    "male": Gender.MALE,
    "m": Gender.MALE,
    "男": Gender.MALE,
}
YES = {"1", "true", "yes", "y", "是", "同意"}
NO = {"0", "false", "no", "n", "否", "不同意"}


def escape_dataset(dataset: tablib.Dataset) -> tablib.Dataset:
    escaped = tablib.Dataset(headers=dataset.headers)
    for row in dataset:
        escaped.append(escape_row(row))
    return escaped


class CustomerExportResource(resources.ModelResource):
    """Columns of a member export; headers match what the import accepts."""

    home_store = fields.Field(attribute="home_store__code", column_name="home_store")
    tags = fields.Field(column_name="tags")

    class Meta:
        model = Customer
        fields = (
            "card_number",
            "phone",
            "name",
            "gender",
            "birth_year",
            "birth_month",
            "birth_day",
            "lunar_birthday",
            "home_store",
            "marketing_consent",
            "consent_at",
            "consent_channel",
            "tier_name",
            "purchase_count",
            "total_spent",
            "last_purchase_at",
            "notes",
            "tags",
        )
        export_order = fields

    lunar_birthday = fields.Field(column_name="lunar_birthday")

    def dehydrate_lunar_birthday(self, customer: Customer) -> str:
        """闰04-15: the form the import reads back."""
        return lunar_code(
            customer.lunar_birth_month, customer.lunar_birth_day, customer.lunar_birth_leap
        )

    def dehydrate_tags(self, customer: Customer) -> str:
        return ",".join(tag.name for tag in customer.tags.all())
