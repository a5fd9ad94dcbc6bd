"""The org's objects and fields, their describe output, and field value checks."""

from __future__ import annotations

import copy
import re
import string
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

TEXT_TYPES = {"string", "textarea", "phone", "url", "email", "picklist", "id", "reference"}
NUMBER_TYPES = {"currency", "double", "percent", "int"}
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
FIELD_TYPES = TEXT_TYPES | NUMBER_TYPES | {"boolean", "date", "datetime"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SfError(Exception):
    """One Salesforce error: a REST error array item or a per-record collection error."""

    def __init__(
        self, error_code: str, message: str, fields: list[str] | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.error_code, self.message, self.fields, self.status = (
            error_code,
            message,
            fields or [],
            status,
        )

    def rest(self) -> dict:
        return {"message": self.message, "errorCode": self.error_code, "fields": self.fields}

    def record(self) -> dict:
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields}


@dataclass
class Field:
    name: str
    type: str
    label: str = ""
    length: int = 0
    required: bool = False  # must have a value on create (not nillable, no default)
    externalId: bool = False
    unique: bool = False
    idLookup: bool = False
    createable: bool = True
    updateable: bool = True
    referenceTo: list[str] = field(default_factory=list)
    relationshipName: str | None = None
    picklistValues: list[str] = field(default_factory=list)
    default: Any = None

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def describe(self) -> dict:
        nillable = not self.required and self.type != "boolean" and self.createable
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "length": self.length,
            "custom": self.custom,
            "externalId": self.externalId,
            "idLookup": self.idLookup or self.externalId,
            "unique": self.unique,
            "nillable": nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.default is not None or not self.createable,
            "calculated": False,
            "caseSensitive": False,
            "referenceTo": list(self.referenceTo),
            "relationshipName": self.relationshipName,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "value": v}
                for v in self.picklistValues
            ],
            "soapType": SOAP_TYPES.get(self.type, "xsd:string"),
        }

    def check(self, value: Any) -> Any:
        """The stored form of a value written to this field, or an SfError."""
        if value is None:
            return False if self.type == "boolean" else None
        kind = self.type
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _parse_error("boolean", value)
            return value
        if kind in NUMBER_TYPES:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _parse_error("double", value)
            return int(value) if kind == "int" else value
        if kind == "date":
            if not isinstance(value, str) or not _is_date(value):
                raise _parse_error("date", value)
            return value
        if kind == "datetime":
            if not isinstance(value, str) or _parse_datetime(value) is None:
                raise _parse_error("datetime", value)
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise _parse_error("String", value)
        if self.length and len(value) > self.length:
            raise SfError(
                "STRING_TOO_LONG",
                f"{self.label or self.name}: data value too large: "
                f"{value[:50]} (max length={self.length})",
                [self.name],
            )
        if kind == "email" and value and not EMAIL_RE.match(value):
            raise SfError(
                "INVALID_EMAIL_ADDRESS",
                f"{self.label or self.name}: invalid email address: {value}",
                [self.name],
            )
        return value


def _parse_error(java_type: str, value: Any) -> SfError:
    kind = "VALUE_STRING" if isinstance(value, str) else "VALUE_" + type(value).__name__.upper()
    return SfError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {java_type} from {kind} "
        f"value {value} or request may be missing a required field",
    )


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _parse_datetime(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class SObjectType:
    name: str
    label: str
    key_prefix: str
    fields: dict[str, Field]

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def field(self, name: str) -> Field | None:
        """Field names are case-insensitive in REST bodies and SOQL."""
        found = self.fields.get(name)
        if found is None:
            lowered = name.lower()
            found = next((f for n, f in self.fields.items() if n.lower() == lowered), None)
        return found

    def relationship(self, name: str) -> Field | None:
        lowered = name.lower()
        return next(
            (
                f
                for f in self.fields.values()
                if f.relationshipName and f.relationshipName.lower() == lowered
            ),
            None,
        )

    def urls(self, version: str) -> dict:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}

    def summary(self, version: str) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label + "s",
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict:
        return {
            **self.summary(version),
            "childRelationships": [],
            "fields": [f.describe() for f in self.fields.values()],
        }


def _system_fields() -> list[Field]:
    ro = {"createable": False, "updateable": False}
    user = {"referenceTo": ["User"], "length": 18, **ro}
    return [
        Field("Id", "id", "Record ID", 18, idLookup=True, **ro),
        Field("IsDeleted", "boolean", "Deleted", **ro),
        Field("CreatedDate", "datetime", "Created Date", **ro),
        Field("CreatedById", "reference", "Created By ID", relationshipName="CreatedBy", **user),
        Field("LastModifiedDate", "datetime", "Last Modified Date", **ro),
        Field(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            relationshipName="LastModifiedBy",
            **user,
        ),
        Field("SystemModstamp", "datetime", "System Modstamp", **ro),
    ]


def _qbo_id() -> Field:
    return Field("QBO_Id__c", "string", "QBO Id", 255, externalId=True, unique=True)


def _account_ref() -> Field:
    return Field(
        "AccountId",
        "reference",
        "Account ID",
        18,
        referenceTo=["Account"],
        relationshipName="Account",
    )


def _address(prefix: str) -> list[Field]:
    return [
        Field(f"{prefix}Street", "textarea", f"{prefix} Street", 255),
        Field(f"{prefix}City", "string", f"{prefix} City", 40),
        Field(f"{prefix}State", "string", f"{prefix} State/Province", 80),
        Field(f"{prefix}PostalCode", "string", f"{prefix} Zip/Postal Code", 20),
        Field(f"{prefix}Country", "string", f"{prefix} Country", 80),
    ]


def _object(name: str, label: str, prefix: str, fields: list[Field]) -> SObjectType:
    return SObjectType(name, label, prefix, {f.name: f for f in [*_system_fields(), *fields]})


ACCOUNT_TYPES = [
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
]
STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]

_DEFAULT_OBJECTS = [
    _object(
        "Account",
        "Account",
        "001",
        [
            Field("Name", "string", "Account Name", 255, required=True),
            Field("AccountNumber", "string", "Account Number", 40),
            Field("Phone", "phone", "Account Phone", 40),
            Field("Fax", "phone", "Account Fax", 40),
            Field("Website", "url", "Website", 255),
            Field("Type", "picklist", "Account Type", 255, picklistValues=ACCOUNT_TYPES),
            Field("Industry", "picklist", "Industry", 255),
            Field("Description", "textarea", "Account Description", 32000),
            *_address("Billing"),
            *_address("Shipping"),
            _qbo_id(),
            Field("QBO_Deleted__c", "boolean", "QBO Deleted", default=False),
            Field("QBO_Balance__c", "currency", "QBO Balance"),
            Field("Email__c", "email", "Email", 80),
        ],
    ),
    _object(
        "Contact",
        "Contact",
        "003",
        [
            Field("FirstName", "string", "First Name", 40),
            Field("LastName", "string", "Last Name", 80, required=True),
            Field("Name", "string", "Full Name", 121, createable=False, updateable=False),
            Field("Email", "email", "Email", 80, idLookup=True),
            Field("Phone", "phone", "Business Phone", 40),
            _account_ref(),
            _qbo_id(),
        ],
    ),
    _object(
        "Opportunity",
        "Opportunity",
        "006",
        [
            Field("Name", "string", "Name", 120, required=True),
            Field("StageName", "picklist", "Stage", 255, required=True, picklistValues=STAGES),
            Field("CloseDate", "date", "Close Date", required=True),
            Field("Amount", "currency", "Amount"),
            _account_ref(),
            Field("Description", "textarea", "Description", 32000),
            _qbo_id(),
            Field("QBO_Deleted__c", "boolean", "QBO Deleted", default=False),
        ],
    ),
    _object(
        "OpportunityLineItem",
        "Opportunity Product",
        "00k",
        [
            # Master-detail to the Opportunity. Salesforce also wants a PricebookEntry for the
            # product; the fake accepts Product2Id alone (which Salesforce resolves through the
            # Opportunity's price book).
            Field(
                "OpportunityId",
                "reference",
                "Opportunity ID",
                18,
                required=True,
                referenceTo=["Opportunity"],
                relationshipName="Opportunity",
            ),
            Field(
                "Product2Id",
                "reference",
                "Product ID",
                18,
                required=True,
                referenceTo=["Product2"],
                relationshipName="Product2",
            ),
            Field("Quantity", "double", "Quantity", required=True),
            Field("UnitPrice", "currency", "Sales Price"),
            Field("Description", "textarea", "Line Description", 255),
            _qbo_id(),
        ],
    ),
    _object(
        "Product2",
        "Product",
        "01t",
        [
            Field("Name", "string", "Product Name", 255, required=True),
            Field("ProductCode", "string", "Product Code", 255),
            Field("Description", "textarea", "Product Description", 4000),
            Field("IsActive", "boolean", "Active", default=False),
            _qbo_id(),
        ],
    ),
]


def custom_object(name: str, number: int) -> SObjectType:
    """A custom object, as a person would add one in Setup: a Name field and the system ones."""
    prefix = "a0" + string.ascii_uppercase[number % 26]
    label = name.removesuffix("__c").replace("_", " ")
    return _object(name, label, prefix, [Field("Name", "string", f"{label} Name", 80)])


def default_objects() -> dict[str, SObjectType]:
    return {o.name: copy.deepcopy(o) for o in _DEFAULT_OBJECTS}


def new_field(spec: Any) -> Field:
    """A field from the control API: {"name", "type", "label", "length", "externalId", ...}."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError('a field is {"name": "X__c", "type": "string", ...}')
    kind = spec.get("type", "string")
    if kind not in FIELD_TYPES:
        raise ValueError(f"type must be one of {', '.join(sorted(FIELD_TYPES))}")
    allowed = {
        "name",
        "type",
        "label",
        "length",
        "required",
        "externalId",
        "unique",
        "idLookup",
        "referenceTo",
        "relationshipName",
        "picklistValues",
        "default",
    }
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"unknown field properties: {', '.join(sorted(unknown))}")
    length = spec.get("length", 255 if kind in TEXT_TYPES - {"textarea"} else 0)
    defaults = {"default": False} if kind == "boolean" else {}
    return Field(**{**defaults, **spec, "type": kind, "length": length})
