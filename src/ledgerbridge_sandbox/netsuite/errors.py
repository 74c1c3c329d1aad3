"""NetSuite REST error answers: the exception the sandbox raises and the JSON body it becomes.

Layer: leaf; standard library only.

Every failure leaves the sandbox in NetSuite's error shape (Oracle help centre, "Error Handling in
REST Web Services"; reference §6)::

    {"type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
     "title": "Bad Request", "status": 400,
     "o:errorDetails": [{"detail": "...", "o:errorCode": "INVALID_CONTENT",
                         "o:errorPath": "item.items[0].item"}]}

served as ``application/vnd.oracle.resource+json; type=error``.

Tree::

    NetSuiteError                    one error answer (status, code, detail, optional path)
    ├── AuthFailure                  401 INVALID_LOGIN, with the audit-trail reason kept apart
    └── QueryError                   400 INVALID_PARAMETER from SuiteQL ("Invalid search query...")
"""

from __future__ import annotations

from typing import Any

ERROR_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=error"
"""Content-Type of every error answer."""

RFC2616 = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)
"""The one detail text NetSuite gives for every TBA/OAuth failure (reference §2.3)."""


class NetSuiteError(Exception):
    """A failure answered in NetSuite's error shape.

    Attributes:
        status: HTTP status.
        code: ``o:errorCode`` (for example ``INVALID_CONTENT``).
        detail: human-readable ``detail``.
        path: optional ``o:errorPath`` (JSON path into the request body).
        query_param: optional ``o:errorQueryParam``.
        headers: extra response headers (for example ``Location`` on IDEMPOTENCY_ERROR).
        title: HTTP reason text override.
        type_uri: ``type`` override.
        top_level_code: an ``o:errorCode`` also put at the top level (Oracle's 429 example does).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        path: str | None = None,
        query_param: str | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
        type_uri: str | None = None,
        top_level_code: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path
        self.query_param = query_param
        self.headers = dict(headers or {})
        self.title = title
        self.type_uri = type_uri
        self.top_level_code = top_level_code

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return error_body(
            self.status,
            self.code,
            self.detail,
            path=self.path,
            query_param=self.query_param,
            title=self.title,
            type_uri=self.type_uri,
            top_level_code=self.top_level_code,
        )

    def __repr__(self) -> str:
        return f"NetSuiteError(status={self.status}, code={self.code!r}, detail={self.detail!r})"


class AuthFailure(NetSuiteError):
    """A 401 INVALID_LOGIN; ``reason`` is what NetSuite would write to the Login Audit Trail."""

    def __init__(self, reason: str, *, www_authenticate: str | None = None) -> None:
        headers = {"WWW-Authenticate": www_authenticate} if www_authenticate else None
        super().__init__(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL, headers=headers, type_uri=RFC2616)
        self.reason = reason


class QueryError(NetSuiteError):
    """A SuiteQL query NetSuite would refuse (400 INVALID_PARAMETER)."""

    def __init__(self, message: str) -> None:
        super().__init__(
            400,
            "INVALID_PARAMETER",
            "Invalid search query. Detailed unprocessed description follows. " + message,
        )


def error_body(
    status: int,
    code: str,
    detail: str,
    *,
    path: str | None = None,
    query_param: str | None = None,
    title: str | None = None,
    type_uri: str | None = None,
    top_level_code: str | None = None,
) -> dict[str, Any]:
    """Build NetSuite's error JSON.

    Args:
        status: HTTP status.
        code: ``o:errorCode``.
        detail: ``detail`` text.
        path: optional ``o:errorPath``.
        query_param: optional ``o:errorQueryParam``.
        title: HTTP reason override.
        type_uri: ``type`` override.
        top_level_code: optional top-level ``o:errorCode``.

    Returns:
        The body as a dict, keys in NetSuite's order.
    """
    entry: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path is not None:
        entry["o:errorPath"] = path
    if query_param is not None:
        entry["o:errorQueryParam"] = query_param
    body: dict[str, Any] = {
        "type": type_uri or (f"{RFC2616}#sec10.4.1" if status == 400 else RFC2616),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
    }
    if top_level_code is not None:
        body["o:errorCode"] = top_level_code
    body["o:errorDetails"] = [entry]
    return body


def not_found(detail: str = "Record does not exist.") -> NetSuiteError:
    """404 NONEXISTENT_ID (Oracle's text for a GET of a missing record)."""
    return NetSuiteError(404, "NONEXISTENT_ID", detail)


def invalid_content(value: object, field: str, path: str) -> NetSuiteError:
    """400 INVALID_CONTENT for a malformed or unusable value (Oracle's example wording)."""
    return NetSuiteError(
        400,
        "INVALID_CONTENT",
        f"Error while accessing resource: You have entered an Invalid Field Value {value} for the "
        f"following field: {field}",
        path=path,
    )


def user_error(detail: str, path: str | None = None) -> NetSuiteError:
    """400 USER_ERROR for a business-rule failure."""
    return NetSuiteError(400, "USER_ERROR", f"Error while accessing a resource. {detail}", path=path)


def concurrency_exceeded() -> NetSuiteError:
    """429 CONCURRENCY_LIMIT_EXCEEDED, shaped like Oracle's documented example."""
    return NetSuiteError(
        429,
        "CONCURRENCY_LIMIT_EXCEEDED",
        "Concurrent request limit exceeded. Request blocked.",
        title="Bad Request",
        type_uri=RFC2616,
        top_level_code="USER_ERROR",
    )
