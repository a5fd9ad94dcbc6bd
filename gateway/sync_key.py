"""The sync key: which (direction, company, object) a pending event waits to be drained under.

One job drains every pending event of one key (coalescing), and the key names its lock and
its "job scheduled" flag, so it is built and read here only.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where the change came from, so which way it flows.
FROM_QUICKBOOKS = "qbo"  # a QuickBooks entity changed: write to Salesforce
FROM_SALESFORCE = "sf"  # a Salesforce object changed: write to QuickBooks
SOURCES = (FROM_QUICKBOOKS, FROM_SALESFORCE)


@dataclass(frozen=True)
class SyncKey:
    source: str
    company_id: int
    object_name: str  # QuickBooks entity (from QuickBooks) or Salesforce object (from Salesforce)

    def __str__(self) -> str:
        return f"{self.source}:{self.company_id}:{self.object_name}"

    @property
    def lock_name(self) -> str:
        return f"sync:{self}"

    @classmethod
    def parse(cls, text: str) -> SyncKey:
        source, _, rest = text.partition(":")
        company, _, object_name = rest.partition(":")
        if source not in SOURCES or not company.isdigit() or not object_name:
            raise ValueError(f"not a sync key: {text!r}")
        return cls(source, int(company), object_name)
