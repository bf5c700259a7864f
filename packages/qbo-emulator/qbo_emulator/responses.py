"""Response bodies exactly as QBO shapes them: faults (JSON, the lower-case 401, XML, HTML)
and the ``intuit_tid`` transaction ids every response carries."""

from __future__ import annotations

import json
import random
import threading
import time

from . import timefmt

JSON_OK = "application/json;charset=utf-8"
JSON_ERR = "application/json"
XML = "application/xml"
HTML = "text/html"
OAUTH_JSON = "application/json;charset=UTF-8"

_tid_lock = threading.Lock()
_tid_rng = random.Random(0x9B0)


def new_tid() -> str:
    """An Intuit transaction id like ``1-5f7330b9-9f11688332ad4e56554ea9c8``."""
    with _tid_lock:
        tail = _tid_rng.getrandbits(96)
    return f"1-{int(time.time()):08x}-{tail:024x}"


class ApiError(Exception):
    """A QBO fault: raised anywhere, rendered by the HTTP front."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: str,
        *,
        element: str | None = None,
        fault_type: str = "ValidationFault",
        with_time: bool = True,
    ):
        super().__init__(f"{code} {message}: {detail}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.fault_type = fault_type
        self.with_time = with_time

    def fault(self) -> dict:
        err = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element is not None:
            err["element"] = self.element
        return {"Error": [err], "type": self.fault_type}

    def body(self, now: float) -> bytes:
        doc: dict = {"Fault": self.fault()}
        if self.with_time:
            doc["time"] = timefmt.fmt_ms(now)
        return json.dumps(doc, separators=(",", ":")).encode()


def query_parse_error(detail: str) -> ApiError:
    return ApiError(400, "4000", "Error parsing query", f"QueryParserError: {detail}")


def query_validation_error(detail: str) -> ApiError:
    return ApiError(400, "4001", "Invalid query", f"QueryValidationError: {detail}")


def object_not_found(element: str = "") -> ApiError:
    return ApiError(
        400,
        "610",
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees.",
        element=element,
    )


def unsupported_operation(path: str) -> ApiError:
    return ApiError(
        400,
        "500",
        "Unsupported Operation",
        f"Operation Could not find resource for relative : {path} of full path: "
        f"https://c50.qbo.intuit.com/qbo50{path} is not supported.",
    )


def invalid_id(value: str) -> ApiError:
    return ApiError(
        400,
        "2030",
        "Invalid ID",
        f"Id should be a valid number. Supplied value:{value}",
        element="Id",
        with_time=False,
    )


def system_fault() -> ApiError:
    return ApiError(
        500,
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving your "
        "data. Please wait a few minutes and try again. If the problem persists, contact "
        "customer support.",
        fault_type="SystemFault",
    )


def auth_failed_401(detail: str, now: float) -> bytes:
    """The lower-case serialized envelope QBO sends for an expired or invalid token."""
    return _serialized_fault(
        "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        detail,
        "3200",
        "AUTHENTICATION",
        now,
    )


def authorization_failed_403(now: float) -> bytes:
    """A valid token used for a company it does not grant (node-quickbooks #154)."""
    return _serialized_fault(
        "message=AuthorizationFailed; errorCode=003100; statusCode=403",
        None,
        "3100",
        "SERVICE",
        now,
    )


def _serialized_fault(
    message: str, detail: str | None, code: str, fault_type: str, now: float
) -> bytes:
    doc = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [{"message": message, "detail": detail, "code": code, "element": None}],
            "type": fault_type,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(now * 1000),
        "status": None,
        "cdcresponse": [],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


WWW_AUTHENTICATE = 'Bearer realm="Intuit", error="invalid_token"'


def xml_fault(fault_type: str, code: str, message: str, detail: str, now: float) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{timefmt.fmt_ms(now)}">'
        f'<Fault type="{fault_type}"><Error code="{code}"><Message>{message}</Message>'
        f"<Detail>{detail}</Detail></Error></Fault></IntuitResponse>"
    ).encode()


def throttled_429(now: float) -> bytes:
    return xml_fault(
        "SERVICE",
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.  Try again later",
        now,
    )


def gateway_timeout_504(now: float) -> bytes:
    return xml_fault(
        "SERVICE",
        "6002",
        "message=GatewayTimeout; errorCode=006002; statusCode=504",
        "The server did not receive a timely response. Try again later",
        now,
    )


def wrong_realm_401(now: float) -> bytes:
    return xml_fault(
        "AuthenticationFault",
        "100",
        "General Authentication Error",
        "SRV-110-Authentication Failure , statusCode: 401",
        now,
    )


SERVICE_UNAVAILABLE_503 = (
    b"<html>\r\n<head><title>503 Service Unavailable</title></head>\r\n"
    b"<body><center><h1>503 Service Unavailable</h1></center>\r\n"
    b"<hr><center>Service Unavailable: Back-end server is at capacity</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
BAD_GATEWAY_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
