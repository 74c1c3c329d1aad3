"""A strict scripted Salesforce for ``httpx2.MockTransport`` (test helper, not a test module).

Expectations map method + path pattern to responses; a request no expectation matches fails the
test, and so does an expectation never used (``Scripted.check`` runs at fixture teardown).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

INSTANCE = "https://acme.my.salesforce.com"
TOKEN_BODY = {"access_token": "00D000000000001!AQ4AQFirstTokenValue1234567890", "instance_url": INSTANCE,
              "id": "https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA",
              "token_type": "Bearer", "issued_at": "1704067200000", "signature": "x"}

Responder = Callable[[httpx2.Request], httpx2.Response]


@dataclass
class Expectation:
    method: str
    pattern: re.Pattern[str]
    responses: list[httpx2.Response | Responder]
    repeat_last: bool = False
    used: int = 0


@dataclass
class Scripted:
    """Strict scripted Salesforce: expectations consumed in order of definition per route."""

    expectations: list[Expectation] = field(default_factory=list)
    requests: list[httpx2.Request] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def expect(self, method: str, path: str, *responses: httpx2.Response | Responder,
               repeat_last: bool = False) -> Expectation:
        exp = Expectation(method, re.compile(path), list(responses), repeat_last)
        self.expectations.append(exp)
        return exp

    def token(self, body: dict[str, object] | None = None) -> Expectation:
        return self.expect("POST", r"/services/oauth2/token$", json_response(200, body or TOKEN_BODY))

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        self.requests.append(request)
        target = request.url.raw_path.decode()
        for exp in self.expectations:
            if exp.method != request.method or not exp.pattern.search(target):
                continue
            if exp.used < len(exp.responses) or (exp.repeat_last and exp.responses):
                item = exp.responses[min(exp.used, len(exp.responses) - 1)]
                exp.used += 1
                return item(request) if callable(item) else item
        self.unexpected.append(f"{request.method} {target}")
        return httpx2.Response(599, text="unexpected request in test")

    def data_requests(self) -> list[httpx2.Request]:
        return [r for r in self.requests if "/services/data/" in r.url.path]

    def check(self) -> None:
        unused = [f"{e.method} {e.pattern.pattern} ({e.used}/{len(e.responses)} used)"
                  for e in self.expectations if e.used < len(e.responses)]
        assert not self.unexpected, f"unexpected requests: {self.unexpected}"
        assert not unused, f"unused expectations: {unused}"


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, content=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json;charset=UTF-8", **(headers or {})})




def body_of(request: httpx2.Request) -> Any:
    """The decoded JSON body of a request (gzip undone)."""
    import gzip

    raw = request.content
    if request.headers.get("Content-Encoding") == "gzip":
        raw = gzip.decompress(raw)
    return json.loads(raw)
