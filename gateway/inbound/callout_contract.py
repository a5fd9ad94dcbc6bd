"""The Salesforce callout: what the package's Apex Queueable sends and the gateway accepts.

One description, read by the callout edge, by the fake Salesforce that stands in for the Apex
in tests, and by the offline check of the Apex source (tests/test_salesforce_package.py), so
the three cannot drift apart. design.md §4 is the prose version.
"""

from __future__ import annotations

import hashlib
import hmac

PATH = "/callouts/salesforce"
TIMESTAMP_HEADER = "X-Gateway-Timestamp"  # unix seconds, as text
SIGNATURE_HEADER = "X-Gateway-Signature"  # "sha256=" + lowercase hex
SIGNATURE_PREFIX = "sha256="
MAX_SKEW_SECONDS = 300  # either way: a timestamp 10 minutes in the future is refused too
MAX_RECORDS = 200  # per call; the Queueable splits larger sets
OPERATIONS = ("upsert", "delete", "undelete")

# Body keys: name -> required?
BODY_KEYS = {
    "orgId": True,
    "companyId": False,  # absent: the default company
    "object": True,  # the Salesforce object, e.g. Opportunity
    "type": False,  # the QuickBooks type, picks among mappings sharing the object
    "operation": True,
    "records": True,
}
RECORD_KEYS = {"id": True, "modstamp": True}  # modstamp = the record's SystemModstamp


def signed_bytes(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"." + body


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), signed_bytes(timestamp, body), hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()
