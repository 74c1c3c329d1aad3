"""HTTP helpers of the Salesforce sandbox: JSON in and out in Salesforce's wire style.

HTTP layer; imports Starlette and the sandbox errors. Responses carry
``Content-Type: application/json;charset=UTF-8``; ``X-PrettyPrint: 1`` gives indented output with
``" : "`` separators as in recorded responses (reference §10.2). Request bodies may be gzip or
deflate compressed (``Content-Encoding``). Every handler is wrapped by ``endpoint`` so that an
``ApiError`` becomes its JSON array body even when the handler is called from a composite
request, outside Starlette's exception middleware.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ledgerbridge_sandbox.salesforce.errors import ApiError, RecordError

JSON_TYPE = "application/json;charset=UTF-8"
log = logging.getLogger("ledgerbridge_sandbox.salesforce")

Handler = Callable[[Request], Awaitable[Response]]


def dumps(data: Any, pretty: bool = False) -> bytes:
    """Serialise JSON compactly, or indented like Salesforce's pretty print."""
    if pretty:
        return json.dumps(data, indent=2, separators=(",", " : "), ensure_ascii=False).encode()
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    request: Request | None, data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response in Salesforce's content type."""
    pretty = request is not None and request.headers.get("x-prettyprint", "") not in ("", "0", "false")
    return Response(dumps(data, pretty), status_code=status, media_type=JSON_TYPE, headers=headers)


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    """A response without a body (204 for update/delete)."""
    return Response(status_code=status, headers=headers)


def error_response(request: Request | None, err: ApiError) -> Response:
    """The JSON array error body of an ``ApiError``."""
    return json_response(request, err.body(), err.status)


def decode_body(raw: bytes, encoding: str | None) -> bytes:
    """Undo ``Content-Encoding: gzip|deflate`` of a request body.

    Raises:
        ApiError: 400 when the body cannot be decompressed.
    """
    enc = (encoding or "").strip().lower()
    try:
        if enc == "gzip":
            return gzip.decompress(raw)
        if enc == "deflate":
            try:
                return zlib.decompress(raw)
            except zlib.error:
                return zlib.decompress(raw, -zlib.MAX_WBITS)
    except (OSError, zlib.error, EOFError):
        raise ApiError.single(400, "JSON_PARSER_ERROR", f"Unable to decode a {enc} request body") from None
    return raw


async def read_body(request: Request) -> bytes:
    """The request body, decompressed."""
    return decode_body(await request.body(), request.headers.get("content-encoding"))


def parse_json(raw: bytes) -> Any:
    """Parse a JSON request body.

    Raises:
        ApiError: 400 JSON_PARSER_ERROR with a parser-style message.
    """
    if not raw.strip():
        raise ApiError.single(400, "JSON_PARSER_ERROR", "No content to map due to end-of-input")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError.single(400, "JSON_PARSER_ERROR", "Invalid UTF-8 in request body") from None
    except json.JSONDecodeError as exc:
        ch = exc.doc[exc.pos] if exc.pos < len(exc.doc) else ""
        text = (
            (
                f"Unexpected character ('{ch}' (code {ord(ch)})): expected a valid value "
                f"at [line:{exc.lineno}, column:{exc.colno}]"
            )
            if ch
            else (f"Unexpected end-of-input at [line:{exc.lineno}, column:{exc.colno}]")
        )
        raise ApiError.single(400, "JSON_PARSER_ERROR", text) from None


async def json_body(request: Request) -> Any:
    """Read and parse a JSON request body."""
    return parse_json(await read_body(request))


def endpoint(handler: Handler) -> Handler:
    """Turn ``ApiError`` (and unexpected exceptions) raised by a handler into Salesforce error bodies."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(request, err)
        except Exception:
            log.exception("sandbox handler failed: %s %s", request.method, request.url.path)
            failure = ApiError(
                500,
                [
                    RecordError(
                        "UNKNOWN_EXCEPTION",
                        "An unexpected error occurred. Please "
                        "include this ErrorId if you contact support: 1234567890-12345 "
                        "(-1234567890)",
                    )
                ],
            )
            return error_response(request, failure)

    return wrapped
