"""Batch work: first (historical) syncs, scheduled runs, the reconciler and the review list.

- runs.py: a batch run page by page from its checkpoint, with counts, cancel and progress
- backfill.py: one page of records through the real-time sync's match/map/write/link code
- backfill_to_quickbooks.py: the same from Salesforce to QuickBooks, paged by Salesforce Id
- review.py: records whose counterpart on the other side a person must pick
- reconcile.py: what no webhook or callout announced, per company from both sides:
  reconcile_quickbooks.py (CDC) and reconcile_salesforce.py (SystemModstamp), each from a
  per-object watermark (watermarks.py)
- schedule.py: the periodic thread that reconciles and resumes runs, one process at a time
"""
