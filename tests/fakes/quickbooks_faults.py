"""Intuit's error envelopes: the JSON Fault, its lowercase variant and the XML one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

from flask import Response

from .control import json_response

PACIFIC = timezone(timedelta(hours=-7))  # Intuit stamps times in US Pacific


def qbo_time(ms: bool = True) -> str:
    """Timestamps like "2020-01-15T06:25:44.543-08:00" (MetaData uses whole seconds)."""
    now = datetime.now(PACIFIC)
    return now.isoformat(timespec="milliseconds" if ms else "seconds")


class QboError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: str = "",
        type_: str = "ValidationFault",
        element: str = "",
    ) -> None:
        super().__init__(f"{code} {message}")
        self.status, self.code, self.message = status, code, message
        self.detail, self.type, self.element = detail or message, type_, element

    def error(self) -> dict:
        return {
            "Message": self.message,
            "Detail": self.detail,
            "code": self.code,
            "element": self.element,
        }

    def fault(self) -> dict:
        return {"Error": [self.error()], "type": self.type}


def not_found(entity: str, id_: str) -> QboError:
    return QboError(
        400,
        "610",
        "Object Not Found",
        f"Object Not Found : Something you're trying to use has been made inactive. "
        f"Check the fields with accounts, customers, items, vendors or employees. "
        f"({entity} {id_})",
    )


def stale(current: str) -> QboError:
    return QboError(
        400,
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and Intuit Fake were working on this at the same "
        f"time. Intuit Fake finished before you did, so your work was not saved. "
        f"(current SyncToken {current})",
    )


def duplicate_name(name: str) -> QboError:
    return QboError(
        400,
        "6240",
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another customer, vendor or employee "
        f"is already using this name ({name}). Please use a different name.",
    )


def required(field: str) -> QboError:
    return QboError(
        400,
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {field} is missing in the request",
        element=field,
    )


def bad_request(detail: str, code: str = "2010") -> QboError:
    return QboError(400, code, "Request has invalid or unsupported property", detail)


def throttled() -> QboError:
    return QboError(
        429,
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached. Try again later",
        type_="SERVICE",
    )


def authentication(detail: str = "Token expired") -> QboError:
    return QboError(
        401,
        "3200",
        "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        detail,
        type_="AUTHENTICATION",
    )


# What an injected fault of a given HTTP status looks like.
BY_STATUS = {
    200: lambda: QboError(
        200,
        "6190",
        "Invalid Company Status",
        "Subscription period has ended or canceled or there was a billing "
        "problem : You can't add data to QuickBooks Online Plus because your "
        "trial or subscription period ended.",
    ),
    400: lambda: QboError(
        400,
        "6000",
        "A business validation error has occurred while processing your request",
        "Business Validation Error: injected fault",
    ),
    401: authentication,
    403: lambda: QboError(
        403,
        "3100",
        "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        "",
        type_="AuthorizationFault",
    ),
    404: lambda: QboError(
        404,
        "610",
        "Object Not Found",
        "Object Not Found",
    ),
    429: throttled,
    500: lambda: QboError(
        500,
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: injected fault",
        type_="SystemFault",
    ),
    503: lambda: QboError(
        503,
        "3003",
        "message=ServiceUnavailable; errorCode=003003; statusCode=503",
        "The service is unavailable. Try again later",
        type_="SERVICE",
    ),
}


def for_status(status: int) -> QboError:
    factory = BY_STATUS.get(status) or BY_STATUS[500 if status >= 500 else 400]
    err = factory()
    err.status = status
    return err


def fault_response(err: QboError, style: str = "fault", http_status: int | None = None) -> Response:
    status = err.status if http_status is None else http_status
    if style == "xml":
        e = err.error()
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{qbo_time()}">'
            f'<Fault type="{escape(err.type)}"><Error code="{escape(err.code)}">'
            f"<Message>{escape(e['Message'])}</Message><Detail>{escape(e['Detail'])}</Detail>"
            "</Error></Fault></IntuitResponse>"
        )
        return Response(body, status=status, mimetype="text/xml")
    if style == "lowercase":
        lower = {
            "message": err.message,
            "detail": err.detail,
            "code": err.code,
            "element": err.element or None,
        }
        payload = {
            "fault": {"error": [lower], "type": err.type},
            "time": int(datetime.now().timestamp() * 1000),
        }
        return json_response(payload, status)
    return json_response({"Fault": err.fault(), "time": qbo_time()}, status)
