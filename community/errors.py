"""Every error becomes a clear message: JSON under /api, a themed page elsewhere, never a trace."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("community.errors")

TITLES = {
    400: "That request could not be understood",
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    409: "Conflict",
    410: "This page is gone",
    413: "Too large",
    429: "Slow down",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


# The stable `code` of every JSON error (the API's own refusals carry their own codes).
CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}
# Messages a person can act on, instead of the validator's own wording.
FIELD_MESSAGES = {"email": "Enter a valid e-mail address."}


def error_code(status: int) -> str:
    return CODES.get(status, "error")


class ApiError(msgspec.Struct, omit_defaults=True):
    """The one shape of every JSON error: the API's refusals and the framework's alike."""

    status_code: int
    code: str
    detail: str
    field: str | None = None


def error_spec(status: int, description: str, detail: str, code: str = "") -> ResponseSpec:
    """An error response for the OpenAPI schema, with an example in the one shape."""
    example = {"status_code": status, "code": code or error_code(status), "detail": detail}
    return ResponseSpec(
        data_container=ApiError, description=description, examples=[Example(value=example)]
    )


TOO_LARGE = error_spec(
    413, "The body is larger than this endpoint takes", "Request Entity Too Large"
)
NOT_JSON = error_spec(415, "The body must be sent as application/json", "Send JSON.")
SIGN_IN = error_spec(401, "Not signed in, or the door token has expired", "Please sign in.")
WRONG_ROLE = error_spec(403, "The account's role may not do this", "Not allowed.")
UNAVAILABLE = error_spec(
    503, "Our side failed for a moment; nothing was changed (see Retry-After)", "Please try again."
)


def wants_json(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/webhooks/", "/door/api/")):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _messages(exc: HTTPException) -> list[str]:
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        out = []
        for item in exc.extra:
            if isinstance(item, dict):
                key = item.get("key") or item.get("source") or "input"
                out.append(f"{key}: {item.get('message', 'is not valid')}")
        return out or [exc.detail]
    return [exc.detail]


MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def _fields(exc: ValidationException) -> list[str]:
    """The body fields a validation error is about (the decoder names a missing one only in
    its message, under the key `data`)."""
    found = set()
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        key, message = item.get("key"), str(item.get("message", ""))
        missing = MISSING_FIELD.search(message)
        if missing:
            found.add(missing.group(1))
        elif isinstance(key, str) and key and key != "data":
            found.add(key)
    return sorted(found)


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException) and not wants_json(request):
        target = quote(request.url.path, safe="/")
        if request.headers.get("hx-request"):
            return Response("", status_code=401, headers={"HX-Redirect": f"/login?next={target}"})
        return Redirect(f"/login?next={target}")
    messages = _messages(exc)
    headers = dict(exc.headers or {})
    if wants_json(request):
        body: dict[str, Any] = {"status_code": status, "code": error_code(status)}
        body["detail"] = exc.detail
        if isinstance(exc, ValidationException) and exc.extra:
            body["errors"] = messages
            fields = _fields(exc)
            if len(fields) == 1:
                # One bad field: name it, as the API's own refusals do.
                body["field"] = fields[0]
                if fields[0] in FIELD_MESSAGES:
                    body["detail"] = FIELD_MESSAGES[fields[0]]
        return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)
    return Template(
        "error.html",
        context={"status": status, "title": TITLES.get(status, "Error"), "messages": messages},
        status_code=status,
        headers=headers,
    )


def too_deep_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """JSON nested thousands deep makes the decoder give up: the sender's mistake, a 400."""
    log.warning(
        "request too deeply nested",
        extra={"path": request.scope.get("path_template") or request.url.path},
    )
    return http_exception_handler(
        request, ClientException("The request body is nested too deeply.", status_code=400)
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error(
        "unhandled error",
        extra={"path": request.scope.get("path_template") or request.url.path,
               "error": type(exc).__name__},
        exc_info=exc,
    )  # fmt: skip
    message = "Something went wrong on our side. Nothing you sent was lost; please try again."
    if wants_json(request):
        return Response(
            {"status_code": 500, "code": error_code(500), "detail": message},
            status_code=HTTP_500_INTERNAL_SERVER_ERROR,
            media_type=MediaType.JSON,
        )
    return Template(
        "error.html",
        context={"status": 500, "title": TITLES[500], "messages": [message]},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )
