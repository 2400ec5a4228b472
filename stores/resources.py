"""django-import-export resources for the store registry (export to CSV/XLSX, import).

Columns (also the import format, see docs/stores.md): code, name, region, store_type,
status, address, phone, opened_on, next_review_on.
"""

from __future__ import annotations

import datetime

from import_export import fields, resources, widgets

from stores.models import Region, Store, StoreCodeHistory, StoreStatus, StoreType
from tenancy.messages import message
from tenancy.tabular import Column, escape_cell

# The columns of a store file: the English key (the export's header), then the Chinese
# headers people write (tenancy.tabular.map_headers).
STORE_COLUMNS = (
    Column("code", "code", ("门店编码", "编码", "门店代码")),
    Column("name", "name", ("门店名称", "名称", "店名")),
    Column("region", "region", ("区域", "区域编码", "地区")),
    Column("store_type", "store_type", ("门店类型", "类型", "经营类型")),
    Column("status", "status", ("状态", "门店状态")),
    Column("address", "address", ("地址", "门店地址")),
    Column("phone", "phone", ("电话", "门店电话", "联系电话")),
    Column("opened_on", "opened_on", ("开业日期", "开店日期")),
    Column("next_review_on", "next_review_on", ("下次复核日期", "复核日期")),
)
ROW_NUMBER = "_row"  # the row number as Excel shows it, carried for the problems

# Status as written in a file: the stored value, or its Chinese or English label.
STATUS_BY_TEXT = {
    **{value: value for value in StoreStatus.values},
    "筹备": StoreStatus.PREPARING,
    "营业": StoreStatus.OPEN,
    "停业": StoreStatus.SUSPENDED,
    "闭店": StoreStatus.CLOSED,
}


class StatusWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip()
        return STATUS_BY_TEXT.get(text, StoreStatus.OPEN) if text else StoreStatus.OPEN

    def render(self, value, obj=None, **kwargs):
        return value or ""


class DateWidget(widgets.DateWidget):
    """Dates as YYYY-MM-DD; spreadsheets hand back datetimes for date cells."""

    def __init__(self):
        super().__init__(format="%Y-%m-%d")

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime.datetime):
            return value.date()
        return super().clean(value, row, **kwargs)


class StoreResource(resources.ModelResource):
    """The registry as HQ exports it."""

    code = fields.Field(attribute="code", column_name="code")
    name = fields.Field(attribute="name", column_name="name")
    region = fields.Field(
        attribute="region", column_name="region", widget=widgets.ForeignKeyWidget(Region, "code")
    )
    store_type = fields.Field(
        attribute="store_type",
        column_name="store_type",
        widget=widgets.ForeignKeyWidget(StoreType, "code"),
    )
    status = fields.Field(attribute="status", column_name="status", widget=StatusWidget())
    address = fields.Field(attribute="address", column_name="address")
    phone = fields.Field(attribute="phone", column_name="phone")
    opened_on = fields.Field(attribute="opened_on", column_name="opened_on", widget=DateWidget())
    next_review_on = fields.Field(
        attribute="next_review_on", column_name="next_review_on", widget=DateWidget()
    )

    class Meta:
        model = Store
        fields = (
            "code",
            "name",
            "region",
            "store_type",
            "status",
            "address",
            "phone",
            "opened_on",
            "next_review_on",
        )
        export_order = fields
        import_id_fields = ("code",)

    def export_field(self, field, instance, **kwargs):
        return escape_cell(super().export_field(field, instance, **kwargs))


class StoreImportResource(StoreResource):
    """Creates the stores of a file that services.stores_import has validated as a whole.

    Every imported code is recorded in the code history, like an issued one.
    """

    def __init__(self, *, next_review_on: datetime.date | None = None, **kwargs):
        super().__init__(**kwargs)
        self.next_review_on = next_review_on

    def before_save_instance(self, instance, row, **kwargs):
        if instance.pk is not None:
            # Validation refuses existing codes; reaching here would overwrite a store.
            raise ValueError(f"store {instance.code} already exists")
        if instance.next_review_on is None and instance.status != StoreStatus.CLOSED:
            instance.next_review_on = self.next_review_on

    def after_save_instance(self, instance, row, **kwargs):
        StoreCodeHistory.objects.create(
            store=instance,
            code=instance.code,
            reason_message=message("stores.code_reason.imported"),
        )
