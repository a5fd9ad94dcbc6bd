"""QuickBooks Online entity names as webhooks and the API spell them (reference §1.4)."""

WEBHOOK_ENTITIES = (
    "Account", "Bill", "BillPayment", "Budget", "Class", "CreditMemo", "Currency", "Customer",
    "Department", "Deposit", "Employee", "Estimate", "Invoice", "Item", "JournalCode",
    "JournalEntry", "Payment", "PaymentMethod", "Preferences", "Purchase", "PurchaseOrder",
    "RefundReceipt", "SalesReceipt", "TaxAgency", "Term", "TimeActivity", "Transfer", "Vendor",
    "VendorCredit",
)  # fmt: skip

# Name lists are deactivated rather than deleted, and queries hide inactive ones unless asked.
NAME_LIST_ENTITIES = frozenset(
    {"Account", "Class", "Customer", "Department", "Employee", "Item", "PaymentMethod",
     "TaxAgency", "Term", "Vendor"}
)  # fmt: skip

_BY_LOWER = {name.lower(): name for name in WEBHOOK_ENTITIES}


def canonical_entity(name: str) -> str | None:
    """'journalentry' or 'JournalEntry' -> 'JournalEntry'; None when it is not a QBO entity."""
    return _BY_LOWER.get(name.lower())


def resource_path(entity: str) -> str:
    """The API spells resources in lower case: /v3/company/{realm}/customer."""
    return entity.lower()
