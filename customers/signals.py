"""Signals other apps listen to, so customers never has to import them."""

import django.dispatch

# Sent by services.customer_merge inside its transaction, before the source member is marked
# merged: kwargs `source` (the duplicate going away) and `target` (the member who stays).
# Receivers move their own rows (points ledger, coupons, sales) from source to target; an
# exception in a receiver rolls the whole merge back.
customer_merged = django.dispatch.Signal()
