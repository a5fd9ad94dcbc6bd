"""Value conversions between the two platforms' JSON and the mapping's ``type`` coercions.

Coercions: string, decimal, integer, boolean, date, datetime. ``coerce`` raises ValueError on a
value it cannot convert; the caller names the field.
"""

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

COERCIONS = ("string", "decimal", "integer", "boolean", "date", "datetime")

_TEXT_TYPES = (
    "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
    "encryptedstring", "id", "reference",
)  # fmt: skip

# SF describe types -> our coercions. Types not listed (time, address, base64, ...) pass through.
SALESFORCE_TYPE_COERCIONS: dict[str, str] = {
    **dict.fromkeys(_TEXT_TYPES, "string"),
    **dict.fromkeys(("currency", "double", "percent"), "decimal"),
    **dict.fromkeys(("int", "long"), "integer"),
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}


def value_key(value: Any) -> str:
    """The text under which a value is compared: value-map keys, ids, hashed numbers.

    Numbers become plain decimal strings (1, 1.0 and Decimal("1.00") are all "1") and booleans
    "true"/"false", because YAML and the two APIs disagree about which of these are strings.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        try:
            number = _as_decimal(value)
        except ValueError:
            return str(value)
        return "0" if number == 0 else format(number.normalize(), "f")
    return str(value)


def _as_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, float):
        # repr is the shortest text that round-trips, so 0.3 becomes Decimal("0.3") rather than
        # the binary expansion 0.299999999999999988897769753748...
        value = repr(value)
    if isinstance(value, str):
        value = value.strip()
    if not isinstance(value, int | str | Decimal):
        raise ValueError("not a number")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def _json_number(number: Decimal) -> int | float:
    # JSON has no decimal type and the json module cannot write Decimal. An int is exact; a float
    # written with repr (as json does) gives back the shortest text, so 19.99 stays 19.99. Only
    # values beyond ~15 significant digits lose precision, which neither platform stores anyway.
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def _as_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        value = value.strip().lower()
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    raise ValueError("not a boolean")


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        # 3.11's fromisoformat reads both APIs' forms: "-07:00", "-0700", "Z", fractions.
        return datetime.fromisoformat(value.strip())
    raise ValueError("not a date")


def _as_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return format(_as_decimal(value), "f")
    raise ValueError("not a scalar")


def coerce(value: Any, kind: str, to_salesforce: bool) -> Any:
    if kind == "string":
        return _as_string(value)
    if kind == "decimal":
        return _json_number(_as_decimal(value))
    if kind == "integer":
        number = _as_decimal(value)
        if number != number.to_integral_value():
            raise ValueError("not a whole number")
        return int(number)
    if kind == "boolean":
        return _as_boolean(value)
    moment = _as_datetime(value)
    if kind == "date":
        # The calendar day as written: a QBO time is in the company's zone, the day its users see.
        return moment.date().isoformat()
    if moment.tzinfo is None:
        # Both APIs send offsets; a bare time is read as UTC rather than as this server's zone.
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    if to_salesforce:
        return moment.isoformat(timespec="milliseconds") + "+0000"
    return moment.isoformat(timespec="seconds") + "Z"  # QBO keeps whole seconds only
