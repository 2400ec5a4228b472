"""The customers app's contract with the apps above it (interactions, loyalty, campaigns,
analytics): every event it sends and every extension point it offers, in one place.

customers never imports those apps. They connect here in their AppConfig.ready(); the
contract test (tests/test_contracts.py) fails when a seam below has no production
registration or no production caller.

Events (Django signals, sent with `sender=Customer`):
- `member_merged(source, target)`: inside `customer_merge`'s transaction, before the source is
  marked merged. Receivers move their own rows from source to target; an exception rolls the
  whole merge back.
- `member_erased(customer)`: inside `customer_erase`'s transaction, after the member row is
  anonymised. Receivers blank the personal fields they keep about the member.
- `members_bulk_written(member_ids)`: inside the transaction of a bulk write that bypasses
  `Customer.save()` (member import): receivers fill in what their `post_save` receivers would
  have (profiles, search keys), set-based, for exactly these ids.
- `personal_data_requested(customer)`: while answering a data-subject request. Each receiver
  returns `(section_title, {field: value})` with every personal field its app holds.
- `member_import_checking(values)`: while a member import checks its file (before the preview
  and again at the confirm), once per file, for the columns owned by apps above (loyalty:
  会员等级, 积分): `values` = {row number: {"customer_id": id or None, key: text, ...}}. Each
  receiver returns {row number: {key: message}} for the values it refuses. With no receiver
  the columns are shown as "not imported".
- `members_imported(values, staff)`: inside the import's write transaction, after the members
  are written: `values` = {customer id: {key: text, ...}}. Receivers write their own rows; an
  exception rolls the whole import back.

Extension points:
- `register_activity(key=..., members_active_since=...)` (customers.activity): a source of
  member activity (visits, contacts) the retention policy counts besides purchases.
- `register_panel(...)` (customers.profile): a section of the member profile page.
- `register_history(prefix=..., render=...)` (customers.history): how the member page's history
  of changes names the audit actions an app above writes about a member (rendered at read
  time in the reader's language, from the action key and its parameters).
"""

from __future__ import annotations

import django.dispatch

from customers.activity import register_activity
from customers.history import register_history
from customers.profile import register_panel

member_merged = django.dispatch.Signal()
member_erased = django.dispatch.Signal()
members_bulk_written = django.dispatch.Signal()
personal_data_requested = django.dispatch.Signal()
member_import_checking = django.dispatch.Signal()
members_imported = django.dispatch.Signal()

# Every event of this contract, for the contract test: name -> signal.
EVENTS = {
    "member_merged": member_merged,
    "member_erased": member_erased,
    "members_bulk_written": members_bulk_written,
    "personal_data_requested": personal_data_requested,
    "member_import_checking": member_import_checking,
    "members_imported": members_imported,
}

__all__ = ["EVENTS", "register_activity", "register_history", "register_panel", *EVENTS]
