"""Batch work: first (historical) syncs, scheduled runs, the reconciler and the review list.

- runs.py: a batch run page by page from its checkpoint, with counts, cancel and progress
- backfill.py: one page of records through the real-time sync's match/map/write/link code
- backfill_to_quickbooks.py: the same from Salesforce to QuickBooks, paged by Salesforce Id
- review.py: records whose counterpart on the other side a person must pick
- reconcile.py: what no webhook announced, from QuickBooks CDC and a per-entity watermark
- schedule.py: the periodic thread that reconciles and resumes runs, one process at a time
"""
