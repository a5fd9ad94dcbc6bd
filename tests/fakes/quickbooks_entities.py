"""The QuickBooks entities the fake knows: kinds, defaults and the properties it accepts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

USD = {"value": "USD", "name": "United States Dollar"}
SYSTEM_KEYS = ("domain", "sparse", "Id", "SyncToken", "MetaData")
# Properties a client may send but never changes.
READ_ONLY = {
    "Id",
    "SyncToken",
    "MetaData",
    "domain",
    "sparse",
    "status",
    "Balance",
    "BalanceWithJobs",
    "FullyQualifiedName",
    "HomeBalance",
    "Level",
    "Job",
    "UnappliedAmt",
}
PERSON_NAMES = (
    "Title",
    "GivenName",
    "MiddleName",
    "FamilyName",
    "Suffix",
    "CompanyName",
    "PrintOnCheckName",
    "PrimaryPhone",
    "AlternatePhone",
    "Mobile",
    "Fax",
    "PrimaryEmailAddr",
    "WebAddr",
    "BillAddr",
    "Notes",
    "CurrencyRef",
    "Source",
    "V4IDPseudonym",
    "GSTIN",
    "GSTRegistrationType",
    "BusinessNumber",
)
TXN_COMMON = (
    "DocNumber",
    "TxnDate",
    "DepartmentRef",
    "CurrencyRef",
    "ExchangeRate",
    "PrivateNote",
    "LinkedTxn",
    "Line",
    "TxnTaxDetail",
    "CustomerRef",
    "ClassRef",
    "TxnSource",
    "TransactionLocationType",
    "ProjectRef",
    "TaxExemptionRef",
    "CustomField",
    "GlobalTaxCalculation",
    "HomeTotalAmt",
    "TotalAmt",
)
SALES_TXN = TXN_COMMON + (
    "CustomerMemo",
    "BillAddr",
    "ShipAddr",
    "FreeFormAddress",
    "ShipFromAddr",
    "SalesTermRef",
    "ShipMethodRef",
    "ShipDate",
    "TrackingNum",
    "ApplyTaxAfterDiscount",
    "PrintStatus",
    "EmailStatus",
    "BillEmail",
    "BillEmailCc",
    "BillEmailBcc",
    "DepositToAccountRef",
    "DeliveryInfo",
    "RecurDataRef",
    "Tag",
)


@dataclass(frozen=True)
class EntityKind:
    name: str
    namelist: bool = False  # deactivated, never deleted; queries hide inactive
    name_field: str | None = None  # made unique and suffixed " (deleted)" when inactive
    unique_group: str | None = None  # kinds sharing one namespace for name_field
    void: str | None = None  # "operation" (?operation=void) or "include"
    properties: frozenset[str] | None = None  # None: anything goes
    defaults: Callable[[dict], dict] | None = None

    @property
    def resource(self) -> str:
        return self.name.lower()


def _customer_defaults(rec: dict) -> dict:
    return {
        "Taxable": "DefaultTaxCodeRef" in rec,
        "Job": "ParentRef" in rec,
        "BillWithParent": False,
        "Balance": 0,
        "BalanceWithJobs": 0,
        "CurrencyRef": USD,
        "PreferredDeliveryMethod": "Print",
    }


def _vendor_defaults(rec: dict) -> dict:
    return {"Balance": 0, "Vendor1099": False, "CurrencyRef": USD}


def _item_defaults(rec: dict) -> dict:
    return {
        "Active": True,
        "Taxable": False,
        "UnitPrice": 0,
        "Type": "Service",
        "PurchaseCost": 0,
        "TrackQtyOnHand": False,
    }


def _invoice_defaults(rec: dict) -> dict:
    return {
        "Deposit": 0,
        "AllowIPNPayment": False,
        "AllowOnlinePayment": False,
        "AllowOnlineCreditCardPayment": False,
        "AllowOnlineACHPayment": False,
    }


def _sales_tail(rec: dict) -> dict:
    today = date.today().isoformat()
    return {
        "CustomField": [],
        "TxnDate": today,
        "CurrencyRef": USD,
        "LinkedTxn": [],
        "Line": [],
        "ApplyTaxAfterDiscount": False,
        "PrintStatus": "NotSet",
        "EmailStatus": "NotSet",
    }


def _payment_defaults(rec: dict) -> dict:
    return {"UnappliedAmt": 0, "ProcessPayment": False}


def _props(*groups: tuple[str, ...] | str) -> frozenset[str]:
    names: set[str] = set(SYSTEM_KEYS) | {"status"}
    for group in groups:
        names.update((group,) if isinstance(group, str) else group)
    return frozenset(names)


_KINDS = [
    EntityKind(
        "Customer",
        namelist=True,
        name_field="DisplayName",
        unique_group="names",
        defaults=_customer_defaults,
        properties=_props(
            PERSON_NAMES,
            "DisplayName",
            "FullyQualifiedName",
            "Active",
            "ShipAddr",
            "DefaultTaxCodeRef",
            "Taxable",
            "Job",
            "BillWithParent",
            "ParentRef",
            "Level",
            "SalesTermRef",
            "PaymentMethodRef",
            "Balance",
            "OpenBalanceDate",
            "BalanceWithJobs",
            "PreferredDeliveryMethod",
            "ResaleNum",
            "ARAccountRef",
            "TaxExemptionReasonId",
            "CustomerTypeRef",
            "PrimaryTaxIdentifier",
            "SecondaryTaxIdentifier",
            "IsProject",
            "ClientEntityId",
            "TaxRegimeRef",
            "CustomField",
        ),
    ),
    EntityKind(
        "Vendor",
        namelist=True,
        name_field="DisplayName",
        unique_group="names",
        defaults=_vendor_defaults,
        properties=_props(
            PERSON_NAMES,
            "DisplayName",
            "Active",
            "OtherAddr",
            "TaxIdentifier",
            "TermRef",
            "Balance",
            "AcctNum",
            "Vendor1099",
            "APAccountRef",
            "BillRate",
            "CostRate",
            "T4AEligible",
            "T5018Eligible",
            "HasTPAR",
            "TaxReportingBasis",
            "VendorPaymentBankDetail",
        ),
    ),
    EntityKind("Employee", namelist=True, name_field="DisplayName", unique_group="names"),
    EntityKind(
        "Item",
        namelist=True,
        name_field="Name",
        defaults=_item_defaults,
        properties=_props(
            "Name",
            "Sku",
            "Description",
            "Active",
            "SubItem",
            "ParentRef",
            "Level",
            "FullyQualifiedName",
            "Taxable",
            "SalesTaxIncluded",
            "UnitPrice",
            "Type",
            "IncomeAccountRef",
            "PurchaseDesc",
            "PurchaseTaxIncluded",
            "PurchaseCost",
            "ExpenseAccountRef",
            "AssetAccountRef",
            "TrackQtyOnHand",
            "QtyOnHand",
            "InvStartDate",
            "SalesTaxCodeRef",
            "PurchaseTaxCodeRef",
            "ReorderPoint",
            "PrefVendorRef",
            "ClassRef",
            "AbatementRate",
            "ReverseChargeRate",
            "ServiceType",
            "ItemCategoryType",
            "TaxClassificationRef",
            "Source",
        ),
    ),
    EntityKind("Account", namelist=True, name_field="Name"),
    EntityKind("Class", namelist=True, name_field="Name"),
    EntityKind("Department", namelist=True, name_field="Name"),
    EntityKind("Term", namelist=True, name_field="Name"),
    EntityKind("PaymentMethod", namelist=True, name_field="Name"),
    EntityKind("TaxCode", namelist=True, name_field="Name"),
    EntityKind(
        "Invoice",
        void="operation",
        defaults=lambda r: {**_invoice_defaults(r), **_sales_tail(r)},
        properties=_props(
            SALES_TXN,
            "DueDate",
            "Balance",
            "HomeBalance",
            "Deposit",
            "AllowIPNPayment",
            "AllowOnlinePayment",
            "AllowOnlineCreditCardPayment",
            "AllowOnlineACHPayment",
            "InvoiceLink",
            "EInvoiceStatus",
        ),
    ),
    EntityKind(
        "SalesReceipt",
        void="include",
        defaults=_sales_tail,
        properties=_props(
            SALES_TXN, "PaymentMethodRef", "PaymentRefNum", "CreditCardPayment", "Balance"
        ),
    ),
    EntityKind(
        "Payment",
        void="include",
        defaults=lambda r: {
            **_payment_defaults(r),
            "TxnDate": date.today().isoformat(),
            "CurrencyRef": USD,
            "Line": [],
        },
        properties=_props(
            "CustomerRef",
            "TxnDate",
            "CurrencyRef",
            "ExchangeRate",
            "DepositToAccountRef",
            "PaymentMethodRef",
            "PaymentRefNum",
            "TotalAmt",
            "UnappliedAmt",
            "ProcessPayment",
            "Line",
            "PrivateNote",
            "ARAccountRef",
            "CreditCardPayment",
            "TxnSource",
            "TransactionLocationType",
            "ProjectRef",
            "TaxExemptionRef",
            "TxnStatus",
        ),
    ),
    EntityKind("BillPayment", void="include"),
    EntityKind("CreditMemo"),
    EntityKind("RefundReceipt"),
    EntityKind("Estimate"),
    EntityKind("Bill"),
    EntityKind("Purchase"),
    EntityKind("PurchaseOrder"),
    EntityKind("JournalEntry"),
    EntityKind("Deposit"),
    EntityKind("Transfer"),
    EntityKind("VendorCredit"),
    EntityKind("TimeActivity"),
    EntityKind("CompanyInfo"),
]
KINDS: dict[str, EntityKind] = {k.name: k for k in _KINDS}
BY_RESOURCE: dict[str, EntityKind] = {k.resource: k for k in _KINDS}

# Reference properties that must point at an existing record, and the kind they point at.
CHECKED_REFS = {"CustomerRef": "Customer", "VendorRef": "Vendor", "ItemRef": "Item"}


def lookup(name: str) -> EntityKind | None:
    """Control-API spelling is forgiving ("customer" or "Customer")."""
    return KINDS.get(name) or BY_RESOURCE.get(name.lower())
