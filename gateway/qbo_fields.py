"""What the mapping editor knows about QuickBooks fields: paths, types, limits, what is required.

Intuit publishes no describe call, so this catalogue is written down from the API reference
(reference/quickbooks.md) and the recorded payloads in shared/vectors. It covers the entities
people map to Salesforce; a path not listed here is still allowed (QuickBooks has many more),
the editor just cannot say its type. Kinds are the mapping's coercions (gateway.mapping.coerce)
plus ``id`` (the ``value`` of a reference such as ``CustomerRef.value``) and ``lines``.

``read_only`` fields are computed by QuickBooks and cannot be written. What QuickBooks requires
on create is gateway.mapping_check.REQUIRED_QUICKBOOKS_FIELDS. ``catalogue`` is the view the
completeness check reads (gateway.mapping_check.QuickBooksCatalogue).
"""

from __future__ import annotations

from dataclasses import dataclass

STRING, DECIMAL, INTEGER, BOOLEAN, DATE, DATETIME, ID, LINES = (
    "string", "decimal", "integer", "boolean", "date", "datetime", "id", "lines",
)  # fmt: skip


@dataclass(frozen=True)
class QboField:
    path: str
    kind: str
    length: int | None = None  # the most characters QuickBooks keeps
    read_only: bool = False


@dataclass(frozen=True)
class QuickBooksField:
    """What the completeness check knows of one field: its type (one of
    gateway.mapping.COERCIONS), for text its maximum length, and whether QuickBooks computes it."""

    type: str
    max_length: int | None = None
    read_only: bool = False  # computed by QuickBooks (Balance, TotalAmt): never written


def _f(
    path: str, kind: str = STRING, length: int | None = None, read_only: bool = False
) -> QboField:
    return QboField(path, kind, length, read_only)


def _address(prefix: str) -> list[QboField]:
    return [
        _f(f"{prefix}.Line1", STRING, 500),
        _f(f"{prefix}.Line2", STRING, 500),
        _f(f"{prefix}.City", STRING, 255),
        _f(f"{prefix}.CountrySubDivisionCode", STRING, 255),
        _f(f"{prefix}.PostalCode", STRING, 30),
        _f(f"{prefix}.Country", STRING, 255),
    ]


def _system() -> list[QboField]:
    return [
        _f("Id", ID, read_only=True),
        _f("SyncToken", STRING, read_only=True),
        _f("MetaData.CreateTime", DATETIME, read_only=True),
        _f("MetaData.LastUpdatedTime", DATETIME, read_only=True),
    ]


def _person() -> list[QboField]:
    return [
        _f("DisplayName", STRING, 500),
        _f("Title", STRING, 16),
        _f("GivenName", STRING, 100),
        _f("MiddleName", STRING, 100),
        _f("FamilyName", STRING, 100),
        _f("Suffix", STRING, 16),
        _f("CompanyName", STRING, 100),
        _f("PrintOnCheckName", STRING, 110),
        _f("FullyQualifiedName", STRING, 500, read_only=True),
        _f("Active", BOOLEAN),
        _f("PrimaryEmailAddr.Address", STRING, 100),
        _f("PrimaryPhone.FreeFormNumber", STRING, 30),
        _f("Mobile.FreeFormNumber", STRING, 30),
        _f("Fax.FreeFormNumber", STRING, 30),
        _f("WebAddr.URI", STRING, 1000),
        _f("Notes", STRING, 2000),
        _f("CurrencyRef.value", ID),
        *_address("BillAddr"),
        _f("Balance", DECIMAL, read_only=True),
    ]


def _transaction() -> list[QboField]:
    return [
        _f("DocNumber", STRING, 21),
        _f("TxnDate", DATE),
        _f("PrivateNote", STRING, 4000),
        _f("CustomerRef.value", ID),
        _f("CustomerRef.name", STRING, read_only=True),
        _f("CurrencyRef.value", ID),
        _f("ExchangeRate", DECIMAL),
        _f("DepartmentRef.value", ID),
        _f("ClassRef.value", ID),
        _f("TotalAmt", DECIMAL, read_only=True),
        _f("Line", LINES),
    ]


def _sales() -> list[QboField]:
    return [
        *_transaction(),
        _f("CustomerMemo.value", STRING, 1000),
        _f("BillEmail.Address", STRING, 100),
        *_address("BillAddr"),
        *_address("ShipAddr"),
        _f("ShipDate", DATE),
        _f("TrackingNum", STRING, 31),
        _f("SalesTermRef.value", ID),
        _f("PrintStatus", STRING),
        _f("EmailStatus", STRING),
    ]


# The line detail fields a `lines:` mapping reads (one detail type per mapping).
SALES_LINE_FIELDS: tuple[QboField, ...] = (
    _f("Id", ID, read_only=True),
    _f("LineNum", INTEGER, read_only=True),
    _f("Description", STRING, 4000),
    _f("Amount", DECIMAL),
    _f("SalesItemLineDetail.ItemRef.value", ID),
    _f("SalesItemLineDetail.ItemRef.name", STRING, read_only=True),
    _f("SalesItemLineDetail.Qty", DECIMAL),
    _f("SalesItemLineDetail.UnitPrice", DECIMAL),
    _f("SalesItemLineDetail.ServiceDate", DATE),
    _f("SalesItemLineDetail.TaxCodeRef.value", ID),
    _f("SalesItemLineDetail.ClassRef.value", ID),
)

CATALOGUE: dict[str, tuple[QboField, ...]] = {
    "Customer": (
        *_system(),
        *_person(),
        *_address("ShipAddr"),
        _f("Taxable", BOOLEAN),
        _f("Job", BOOLEAN),
        _f("ParentRef.value", ID),
        _f("BalanceWithJobs", DECIMAL, read_only=True),
        _f("CustomerTypeRef.value", ID),
        _f("SalesTermRef.value", ID),
        _f("PaymentMethodRef.value", ID),
        _f("PreferredDeliveryMethod", STRING),
        _f("ResaleNum", STRING, 16),
    ),
    "Vendor": (
        *_system(),
        *_person(),
        _f("AcctNum", STRING, 100),
        _f("Vendor1099", BOOLEAN),
        _f("TermRef.value", ID),
    ),
    "Employee": (
        *_system(),
        _f("GivenName", STRING, 100),
        _f("FamilyName", STRING, 100),
        _f("DisplayName", STRING, 500),
        _f("PrimaryEmailAddr.Address", STRING, 100),
        _f("PrimaryPhone.FreeFormNumber", STRING, 30),
        _f("EmployeeNumber", STRING, 100),
        _f("HiredDate", DATE),
        _f("Active", BOOLEAN),
    ),
    "Item": (
        *_system(),
        _f("Name", STRING, 100),
        _f("Sku", STRING, 100),
        _f("Description", STRING, 4000),
        _f("Active", BOOLEAN),
        _f("Type", STRING),
        _f("UnitPrice", DECIMAL),
        _f("PurchaseCost", DECIMAL),
        _f("PurchaseDesc", STRING, 4000),
        _f("Taxable", BOOLEAN),
        _f("TrackQtyOnHand", BOOLEAN),
        _f("QtyOnHand", DECIMAL),
        _f("IncomeAccountRef.value", ID),
        _f("ExpenseAccountRef.value", ID),
        _f("FullyQualifiedName", STRING, 500, read_only=True),
    ),
    "Invoice": (
        *_system(),
        *_sales(),
        _f("DueDate", DATE),
        _f("Balance", DECIMAL, read_only=True),
        _f("Deposit", DECIMAL),
    ),
    "Estimate": (
        *_system(),
        *_sales(),
        _f("ExpirationDate", DATE),
        _f("TxnStatus", STRING),
    ),
    "SalesReceipt": (
        *_system(),
        *_sales(),
        _f("PaymentMethodRef.value", ID),
        _f("PaymentRefNum", STRING, 21),
        _f("DepositToAccountRef.value", ID),
    ),
    "CreditMemo": (
        *_system(),
        *_sales(),
        _f("RemainingCredit", DECIMAL, read_only=True),
    ),
    "Payment": (
        *_system(),
        _f("TxnDate", DATE),
        _f("CustomerRef.value", ID),
        _f("TotalAmt", DECIMAL),
        _f("PaymentRefNum", STRING, 21),
        _f("PaymentMethodRef.value", ID),
        _f("DepositToAccountRef.value", ID),
        _f("PrivateNote", STRING, 4000),
        _f("UnappliedAmt", DECIMAL, read_only=True),
        _f("CurrencyRef.value", ID),
    ),
}

# Entities whose records carry line items (the `lines:` part of a mapping reads them).
LINE_ENTITIES = frozenset(
    name for name, fields in CATALOGUE.items() if any(f.kind == LINES for f in fields)
)

# The field a person recognises a record by, for the preview's search box.
NAME_FIELDS = {
    "Customer": "DisplayName",
    "Vendor": "DisplayName",
    "Employee": "DisplayName",
    "Item": "Name",
    "Payment": "PaymentRefNum",
}
DEFAULT_NAME_FIELD = "DocNumber"


def supported_entities() -> list[str]:
    return sorted(CATALOGUE)


def fields_of(entity: str, lines: bool = False) -> tuple[QboField, ...]:
    """The catalogue of an entity's fields (or of its lines); empty for one not catalogued."""
    if lines:
        return SALES_LINE_FIELDS if entity in LINE_ENTITIES else ()
    return CATALOGUE.get(entity, ())


def find(entity: str, path: str, lines: bool = False) -> QboField | None:
    """The catalogued field at ``path``; an array index in the path (Line.0.Amount) is ignored."""
    wanted = ".".join(part for part in path.split(".") if not part.isdigit())
    return next((f for f in fields_of(entity, lines) if f.path == wanted), None)


def catalogue(entity: str, path: str) -> QuickBooksField | None:
    """The completeness check's view: ``entity`` is "Invoice", or "Invoice.Line" for a line
    field's path (SalesItemLineDetail.Qty). A record id reads as text; None when not known."""
    lines = entity.endswith(".Line")
    found = find(entity.removesuffix(".Line"), path, lines)
    if found is None or found.kind == LINES:
        return None
    kind = STRING if found.kind == ID else found.kind
    return QuickBooksField(kind, found.length if kind == STRING else None, found.read_only)


def name_field(entity: str) -> str:
    return NAME_FIELDS.get(entity, DEFAULT_NAME_FIELD)
