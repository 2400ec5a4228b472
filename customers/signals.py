"""Signals other apps listen to, so customers never has to import them."""

import django.dispatch

# Sent by services.customer_merge inside its transaction, before the source member is marked
# merged: kwargs `source` (the duplicate going away) and `target` (the member who stays).
# Receivers move their own rows (points ledger, coupons, sales) from source to target; an
# exception in a receiver rolls the whole merge back.
customer_merged = django.dispatch.Signal()

# Member import columns owned by apps above customers (loyalty: 会员等级, 积分). customers
# reads them from the file and hands them over by these two signals; with no receiver
# connected the columns are shown as "not imported" instead of being dropped silently.
#
# Sent by customers.importing while checking a file (before the preview and again at the
# confirm), once for the whole file: kwargs `values` = {row number: {"customer_id": id or None
# for a new member, key: text, ...}} for every row that fills in one of these columns. Each
# receiver returns {row number: {key: message}} for the values it refuses.
member_import_checking = django.dispatch.Signal()
# Sent inside the import's write transaction, after the members are written: kwargs `values`
# = {customer id: {key: text, ...}} and `staff` (who uploaded the file). Receivers write their
# own rows; an exception rolls the whole import back.
members_imported = django.dispatch.Signal()
