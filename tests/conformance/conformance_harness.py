"""What the shared conformance suite needs from a system under test (helper, not a test module).

Each connector engineer provides one :class:`Harness` factory (see ``conftest.py``): the
connector wired to its sandbox, plus a few knobs the suite cannot express through the port
(seeding data, expiring the session server-side, making the next call throttled, counting API
calls). The suite itself (``test_conformance.py``) only uses the port and these knobs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from ledgerbridge.core.ports import SystemPort
from ledgerbridge.core.records import JsonValue


@dataclass
class Harness:
    """A connector under test and the sandbox knobs the suite needs.

    Attributes:
        name: ``salesforce`` or ``netsuite`` (test ids).
        connector: The connector, talking to its sandbox.
        object: The object the suite reads and writes (``Account``, ``customer``...).
        key_field: An external-id field for upserts (None: the connector's default).
        page_size: Records per page of ``read_changes`` in this setup (the suite seeds more).
        valid_fields: Fields of a record that saves (``n`` makes it unique).
        invalid_fields: Fields of a record the system rejects (a per-record error).
        expire_session: Invalidate the connector's current token on the server.
        throttle_next: Make the next data call answer "throttled"; returns the Retry-After
            seconds the server will announce (None when it announces none).
        n_calls: API calls the sandbox has served so far (token calls excluded).
        slept_s: Seconds the connector has waited on its injected clock so far.
        aclose: Release the connector and the sandbox.
    """

    name: str
    connector: SystemPort
    object: str
    key_field: str | None
    page_size: int
    valid_fields: Callable[[int], Mapping[str, JsonValue]]
    invalid_fields: Mapping[str, JsonValue]
    expire_session: Callable[[], Awaitable[None]]
    throttle_next: Callable[[], Awaitable[float | None]]
    n_calls: Callable[[], Awaitable[int]]
    slept_s: Callable[[], Awaitable[float]]
    aclose: Callable[[], Awaitable[None]]
