"""Login, sessions, CSRF, origin checks, bind-address safety and security headers."""

from __future__ import annotations

import re

import httpx2
import pytest

from dashboard.conftest import BASE_URL, PASSWORD, ClientFactory, csrf_of, login
from dashboard.fakes import FakeBackend, FixedClock
from ledgerbridge.core.errors import ConfigError
from ledgerbridge.dashboard.app import SESSION_COOKIE, create_dashboard, dashboard_server
from ledgerbridge.dashboard.security import LoginThrottle, SessionCodec, Signer, matches_any
from ledgerbridge.dashboard.settings import DashboardSettings, is_loopback, require_auth_for_host

pytestmark = pytest.mark.anyio

PAGES = ["/", "/records", "/records?q=acme", "/records/001A000001", "/dead-letters",
         "/dead-letters/dl-umbrella",
         "/reviews", "/reviews/rv-stark", "/conflicts?link=accounts&sf=001A000001&ns=1001", "/flows",
         "/forecast", "/forecast.csv"]


@pytest.mark.parametrize("path", PAGES)
async def test_pages_redirect_to_login_when_a_password_is_set(make_client: ClientFactory, path: str) -> None:
    async with make_client(password=PASSWORD) as client:
        response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_login_with_the_right_password_opens_the_requested_page(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD) as client:
        response = await login(client, next_="/flows")
        assert response.status_code == 303
        assert response.headers["location"] == "/flows"
        page = await client.get("/flows")
        assert page.status_code == 200
        assert "Log out" in page.text
        set_cookie = response.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie


async def test_login_with_a_wrong_password_fails_without_a_session(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD) as client:
        response = await login(client, password="guess")
        assert response.status_code == 401
        assert "Wrong password" in response.text
        assert (await client.get("/")).status_code == 303


async def test_the_access_token_also_logs_in(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD, access_token="tok-123") as client:
        assert (await login(client, password="tok-123")).status_code == 303
        assert (await client.get("/")).status_code == 200


async def test_login_without_the_form_token_is_refused(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD) as client:
        await client.get("/login")
        response = await client.post("/login", data={"password": PASSWORD})
        assert response.status_code == 403
        assert (await client.get("/")).status_code == 303


async def test_login_is_refused_after_too_many_failures(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD, max_login_failures=3) as client:
        for _ in range(3):
            assert (await login(client, password="nope")).status_code == 401
        response = await login(client)
        assert response.status_code == 429
        assert "Too many failed logins" in response.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
async def test_login_never_redirects_off_site(make_client: ClientFactory, target: str) -> None:
    async with make_client(password=PASSWORD) as client:
        response = await login(client, next_=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_logout_ends_the_session_even_for_a_copied_cookie(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD) as client:
        await login(client)
        stolen = client.cookies[SESSION_COOKIE]
        page = await client.get("/")
        response = await client.post("/logout", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, stolen)
        assert (await client.get("/")).status_code == 303


async def test_session_expires_after_its_ttl(make_client: ClientFactory, clock: FixedClock) -> None:
    async with make_client(password=PASSWORD, session_ttl_s=600) as client:
        await login(client)
        clock.advance(599)
        assert (await client.get("/")).status_code == 200
        clock.advance(2)
        response = await client.get("/")
        assert response.status_code == 303
        follow = await client.get(response.headers["location"])
        assert "session has ended" in follow.text


async def test_a_forged_or_tampered_cookie_is_rejected(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD) as client:
        await login(client)
        good = client.cookies[SESSION_COOKIE]
        data, _, mac = good.partition(".")
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, data[:-2] + "AA." + mac)
        assert (await client.get("/")).status_code == 303


async def test_changing_the_password_ends_existing_sessions(backend: FakeBackend, clock: FixedClock) -> None:
    secret = "s" * 32
    old = create_dashboard(backend, DashboardSettings(password=PASSWORD, session_secret=secret), clock=clock)
    new = create_dashboard(backend, DashboardSettings(password="new one", session_secret=secret), clock=clock)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=old), base_url=BASE_URL) as client:
        await login(client)
        cookie = client.cookies[SESSION_COOKIE]
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=new), base_url=BASE_URL,
                                  cookies={SESSION_COOKIE: cookie}) as client:
        assert (await client.get("/")).status_code == 303


async def test_an_anonymous_session_is_worthless_once_a_password_is_set(backend: FakeBackend,
                                                                         clock: FixedClock) -> None:
    secret = "k" * 32
    open_app = create_dashboard(backend, DashboardSettings(session_secret=secret), clock=clock)
    locked = create_dashboard(backend, DashboardSettings(password=PASSWORD, session_secret=secret),
                              clock=clock)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=open_app), base_url=BASE_URL) as client:
        await client.get("/")
        cookie = client.cookies[SESSION_COOKIE]
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=locked), base_url=BASE_URL,
                                  cookies={SESSION_COOKIE: cookie}) as client:
        assert (await client.get("/")).status_code == 303


async def test_api_and_metrics_need_a_login_or_the_bearer_token(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD, access_token="tok-123") as client:
        for path in ("/api/overview", "/metrics"):
            assert (await client.get(path)).status_code == 401
            assert (await client.get(path, headers={"Authorization": "Bearer wrong"})).status_code == 401
            ok = await client.get(path, headers={"Authorization": "Bearer tok-123"})
            assert ok.status_code == 200


async def test_bearer_token_does_not_open_html_pages(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD, access_token="tok-123") as client:
        response = await client.get("/", headers={"Authorization": "Bearer tok-123"})
    assert response.status_code == 303


# -- CSRF and origin --------------------------------------------------------------------------------


async def test_post_without_csrf_token_is_forbidden(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    await client.get("/")
    response = await client.post("/dead-letters/dl-umbrella/discard", data={"reason": "x"})
    assert response.status_code == 403
    assert backend.dead_letters["dl-umbrella"].status.value == "open"


async def test_post_with_a_wrong_csrf_token_is_forbidden(authed: httpx2.AsyncClient,
                                                         backend: FakeBackend) -> None:
    response = await authed.post("/dead-letters/dl-umbrella/discard", data={"reason": "x", "csrf": "forged"})
    assert response.status_code == 403
    assert backend.dead_letters["dl-umbrella"].status.value == "open"


async def test_post_without_any_session_is_forbidden(client: httpx2.AsyncClient) -> None:
    response = await client.post("/dead-letters/dl-umbrella/discard", data={"reason": "x", "csrf": "x"})
    assert response.status_code == 403


async def test_post_with_a_password_but_no_login_goes_to_login(make_client: ClientFactory) -> None:
    async with make_client(password=PASSWORD) as client:
        response = await client.post("/dead-letters/dl-umbrella/discard", data={"reason": "x", "csrf": "x"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"},
                                     {"Referer": "http://evil.example/page"}])
async def test_cross_origin_post_is_forbidden_even_with_the_token(authed: httpx2.AsyncClient,
                                                                  backend: FakeBackend,
                                                                  headers: dict[str, str]) -> None:
    token = csrf_of((await authed.get("/dead-letters/dl-umbrella")).text)
    response = await authed.post("/dead-letters/dl-umbrella/discard", data={"reason": "x", "csrf": token},
                                 headers=headers)
    assert response.status_code == 403
    assert backend.dead_letters["dl-umbrella"].status.value == "open"


async def test_same_origin_post_with_the_token_is_accepted(authed: httpx2.AsyncClient,
                                                           backend: FakeBackend) -> None:
    token = csrf_of((await authed.get("/dead-letters/dl-umbrella")).text)
    response = await authed.post("/dead-letters/dl-umbrella/discard", data={"reason": "dup", "csrf": token},
                                 headers={"Origin": BASE_URL, "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 303
    assert backend.dead_letters["dl-umbrella"].status.value == "discarded"


async def test_api_post_needs_the_csrf_header_with_a_session(authed: httpx2.AsyncClient) -> None:
    token = csrf_of((await authed.get("/")).text)
    refused = await authed.post("/api/dead-letters/dl-umbrella/discard", json={"reason": "x"})
    assert refused.status_code == 403
    ok = await authed.post("/api/dead-letters/dl-umbrella/discard", json={"reason": "x"},
                           headers={"X-CSRF-Token": token})
    assert ok.status_code == 200
    assert ok.json()["ok"] is True


# -- hosts, headers, secrets ------------------------------------------------------------------------


async def test_unknown_host_header_is_refused(client: httpx2.AsyncClient) -> None:
    response = await client.get("/", headers={"Host": "rebound.evil.example"})
    assert response.status_code == 400


async def test_every_response_carries_security_headers(client: httpx2.AsyncClient) -> None:
    response = await client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", PAGES[:-1])
async def test_pages_load_no_external_assets(client: httpx2.AsyncClient, path: str) -> None:
    html = (await client.get(path)).text
    for tag, attr in re.findall(r"<(script|link|img)\b[^>]*?\b(?:src|href)=\"([^\"]*)\"", html):
        assert attr.startswith("/static/"), f"<{tag}> loads {attr}"
    assert "<script>" not in html  # no inline script (CSP forbids it anyway)


async def test_static_assets_are_served_from_the_package(client: httpx2.AsyncClient) -> None:
    for path, kind in (("/static/dashboard.css", "text/css"), ("/static/dashboard.js", "javascript"),
                       ("/static/logo.svg", "image/svg+xml")):
        response = await client.get(path)
        assert response.status_code == 200 and kind in response.headers["content-type"]


async def test_secrets_are_never_rendered(make_client: ClientFactory) -> None:
    settings = {"password": PASSWORD, "access_token": "tok-secret-123", "session_secret": "x" * 40}
    async with make_client(**settings) as client:
        bodies = [(await client.get("/login")).text]
        await login(client)
        for path in PAGES:
            bodies.append((await client.get(path)).text)
        bodies.append((await client.get("/api/overview")).text)
    for body in bodies:
        assert PASSWORD not in body and "tok-secret-123" not in body and "x" * 40 not in body


def test_settings_repr_masks_secrets() -> None:
    settings = DashboardSettings(password="hunter2", access_token="tok")
    assert "hunter2" not in repr(settings) and "tok'" not in repr(settings)


# -- bind address -----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_needs_no_password(host: str) -> None:
    assert is_loopback(host)
    require_auth_for_host(host, DashboardSettings())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "dashboard.example.com"])
def test_other_addresses_need_a_password(host: str) -> None:
    with pytest.raises(ConfigError, match="without a login"):
        require_auth_for_host(host, DashboardSettings())
    require_auth_for_host(host, DashboardSettings(password="pw"))
    require_auth_for_host(host, DashboardSettings(access_token="tok"))


def test_dashboard_server_checks_the_bind_address(backend: FakeBackend) -> None:
    with pytest.raises(ConfigError):
        dashboard_server(create_dashboard(backend), "0.0.0.0", 0)
    server = dashboard_server(create_dashboard(backend, DashboardSettings(password="pw")), "0.0.0.0", 0)
    assert server.config.host == "0.0.0.0"


# -- building blocks --------------------------------------------------------------------------------


def test_signer_rejects_other_purposes_and_garbage() -> None:
    signer = Signer(b"k" * 32)
    token = signer.sign("session", {"a": 1})
    assert signer.unsign("session", token) == {"a": 1}
    assert signer.unsign("flash", token) is None
    assert Signer(b"j" * 32).unsign("session", token) is None
    for garbage in ("", ".", "abc", "abc.def", token + "x"):
        assert signer.unsign("session", garbage) is None


def test_session_codec_expiry_and_revocation() -> None:
    codec = SessionCodec(Signer(b"k" * 32), ttl_s=100)
    session = codec.new(1000.0, authenticated=True)
    cookie = codec.encode(session)
    assert codec.decode(cookie, 1099.0) == session
    assert codec.decode(cookie, 1100.0) is None
    codec.revoke(session, 1001.0)
    assert codec.decode(cookie, 1002.0) is None


def test_login_throttle_window() -> None:
    throttle = LoginThrottle(2, window_s=60)
    throttle.failed("a", 0)
    throttle.failed("a", 1)
    assert throttle.is_blocked("a", 2) and not throttle.is_blocked("b", 2)
    assert not throttle.is_blocked("a", 62)


def test_matches_any() -> None:
    assert matches_any("b", ["a", "b"]) and not matches_any("c", ["a", "b"]) and not matches_any("", [])


async def test_an_expired_login_form_is_offered_again(make_client: ClientFactory, clock: FixedClock) -> None:
    async with make_client(password=PASSWORD, session_ttl_s=60) as client:
        form = await client.get("/login")
        clock.advance(61)
        response = await client.post("/login", data={"csrf": csrf_of(form.text), "password": PASSWORD})
        assert response.status_code == 400 and "login form expired" in response.text
        retry = await client.post("/login", data={"csrf": csrf_of(response.text), "password": PASSWORD})
        assert retry.status_code == 303


async def test_a_trusted_origin_may_post_behind_a_proxy(make_client: ClientFactory,
                                                        backend: FakeBackend) -> None:
    async with make_client(trusted_origins=("https://ops.example.com",)) as client:
        token = csrf_of((await client.get("/")).text)
        response = await client.post("/dead-letters/dl-umbrella/discard", data={"reason": "x", "csrf": token},
                                     headers={"Origin": "https://ops.example.com"})
        assert response.status_code == 303
        assert backend.dead_letters["dl-umbrella"].status.value == "discarded"
