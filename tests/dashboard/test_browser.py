"""The dashboard in a real browser: Playwright drives Debian's Chromium against a loopback server.

Each scenario saves a screenshot of its page to ``docs/screenshots/<page>.png`` (1280×800).
Skipped locally when Chromium or playwright is missing; fails under ``CI=true`` (tests/conftest.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.applications import Starlette

from dashboard.fakes import FakeBackend, FixedClock
from ledgerbridge.dashboard.app import create_dashboard, dashboard_server
from ledgerbridge.dashboard.settings import DashboardSettings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "open sesame"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


class _Server:
    """The dashboard under uvicorn (as ``dashboard_server`` configures it) on a free loopback port, in a
    daemon thread."""

    def __init__(self, app: Starlette) -> None:
        import threading

        self.server = dashboard_server(app, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        import threading

        self.thread.start()
        started = threading.Event()
        while not self.server.started:  # uvicorn flips this once the socket listens
            if not self.thread.is_alive():
                raise RuntimeError("the dashboard server did not start")
            started.wait(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(FixedClock())


@pytest.fixture
def base_url(backend: FakeBackend) -> Iterator[str]:
    app = create_dashboard(backend, DashboardSettings(password=PASSWORD), clock=backend.clock)
    with _Server(app) as url:
        yield url


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=base_url,
                                  accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    # A 4xx page (a wrong password is a 401) is logged as "Failed to load resource"; that is expected.
    # Script errors and Content Security Policy violations are not, nor is a missing asset.
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if "/static/" in r.url and r.status >= 400 else None)
    yield page
    context.close()
    assert not errors, f"browser errors (script, CSP, assets): {errors}"


def _login(page: Page, path: str = "/") -> None:
    from playwright.sync_api import expect

    page.goto(path)
    page.get_by_label("Password or access token").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Overview")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover or focus state, so a rerun gives the same picture
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # repainted
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled", caret="hide")


def test_log_in_and_out(page: Page) -> None:
    from playwright.sync_api import expect

    page.goto("/flows")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fflows$"))
    page.get_by_label("Password or access token").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong password.")
    _shot(page, "login")
    page.get_by_label("Password or access token").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Flows")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_overview(page: Page) -> None:
    from playwright.sync_api import expect

    _login(page)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    row = page.locator('tr[data-link="quote_to_cash"]')
    expect(row).to_contain_text("failing")
    expect(row).to_contain_text("Opportunity")
    expect(page.locator("#budget-salesforce")).to_contain_text("41,235")
    expect(page.locator("#budget-netsuite")).to_contain_text("3 throttled")
    expect(page.locator("svg.chart")).to_have_count(2)
    _shot(page, "overview")
    page.locator('tr[data-link="accounts"]').get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_have_text("accounts paused.")
    expect(page.locator('tr[data-link="accounts"]')).to_contain_text("paused")


def test_find_a_record_and_read_its_lineage(page: Page) -> None:
    from playwright.sync_api import expect

    _login(page, "/records")
    page.get_by_label("Search records").fill("acme")
    page.get_by_label("Search records").press("Enter")
    expect(page.locator("#results")).to_contain_text("001A000001")
    page.get_by_role("link", name="Lineage").first.click()
    expect(page.get_by_role("heading", name="Lineage of Acme Corp")).to_be_visible()
    expect(page.locator("#timeline li.event")).to_have_count(3)
    expect(page.locator("#timeline")).to_contain_text("salesforce_wins")
    expect(page.get_by_role("link", name=re.compile("^1001"))).to_have_attribute(
        "href", "https://1234567.app.netsuite.com/app/common/entity/custjob.nl?id=1001")
    _shot(page, "records")


def test_search_shows_hostile_names_as_text(page: Page) -> None:
    from playwright.sync_api import expect

    alerts: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        alerts.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    _login(page, "/records?q=sons")
    expect(page.locator("#results")).to_contain_text('<script>alert("owned")</script> & <b>Sons</b>')
    expect(page.locator("#results b")).to_have_count(0)
    assert alerts == []


def test_edit_and_retry_a_dead_letter(page: Page, backend: FakeBackend) -> None:
    from playwright.sync_api import expect

    _login(page, "/dead-letters")
    expect(page.locator("#dead-letters")).to_contain_text("INVALID_FLD_VALUE")
    _shot(page, "dead-letters")
    page.locator('tr[data-id="dl-umbrella"]').get_by_role("link", name="Open").click()
    expect(page.get_by_role("heading", name="Dead letter 001A000005")).to_be_visible()

    editor = page.locator("#payload")
    page.get_by_role("button", name="Retry").click()  # unchanged payload: still rejected
    expect(page.get_by_role("status")).to_contain_text("Retry failed: INVALID_FLD_VALUE")
    _shot(page, "dead-letter")

    editor.fill('{"companyName": "Umbrella Ltd",')  # the script refuses to submit broken JSON
    expect(page.locator("#payload-error")).to_contain_text("Invalid JSON")
    page.get_by_role("button", name="Retry").click()
    expect(editor).to_have_class(re.compile("invalid"))

    editor.fill('{"companyName": "Umbrella Ltd", "email": "ap@umbrella.example", "subsidiary": {"id": "1"}, '
                '"externalId": "001A000005"}')
    page.get_by_role("button", name="Format JSON").click()
    expect(editor).to_have_value(re.compile(r'\n  "email": "ap@umbrella.example"'))
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text("Synced: NetSuite record")
    expect(page.locator(".badge.b-resolved")).to_be_visible()
    assert backend.dead_letters["dl-umbrella"].status.value == "resolved"


def test_resolve_a_match_review(page: Page, backend: FakeBackend) -> None:
    from playwright.sync_api import expect

    _login(page, "/reviews")
    expect(page.locator("#matches")).to_contain_text("Stark Industries Inc")
    page.locator("#matches tr", has_text="Stark Industries Inc").get_by_role("link", name="Review").click()
    expect(page.locator("#compare")).to_contain_text("Stark Ind. (Europe)")
    _shot(page, "reviews")
    page.get_by_role("button", name="Link to this").first.click()
    expect(page.get_by_role("status")).to_have_text("Linked Stark Industries Inc to 1006.")
    expect(page.locator("#matches")).not_to_contain_text("Stark Industries Inc")
    assert backend.reviews["rv-stark"].review.status.value == "linked"


def test_resolve_a_conflict(page: Page, backend: FakeBackend) -> None:
    from playwright.sync_api import expect

    _login(page, "/reviews")
    page.locator("#conflicts tr", has_text="001A000001").get_by_role("link", name="Resolve").click()
    expect(page.locator("table#conflicts")).to_contain_text("+1 415 555 0199")
    page.locator('tr[data-conflict="cf-phone"] input[value="netsuite"]').check()
    page.get_by_label("value for url").fill("acme.net")  # typing selects "other" for that field
    expect(page.locator('tr[data-conflict="cf-url"] input[value="value"]')).to_be_checked()
    _shot(page, "conflicts")
    page.get_by_role("button", name="Resolve chosen fields").click()
    expect(page.get_by_role("status")).to_have_text("Resolved 2 fields: phone, url.")
    assert backend.conflicts["cf-phone"].resolved_value == "+1 415 555 0199"
    assert backend.conflicts["cf-url"].resolved_value == "acme.net"


def test_flows_and_forecast(page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    _login(page, "/flows")
    expect(page.locator("svg.flow-graph g.node")).to_have_count(9)
    expect(page.locator("#link-quote_to_cash")).to_contain_text("Needs first: accounts, catalog")
    _shot(page, "flows")
    page.get_by_role("link", name="Forecast").click()
    expect(page.locator("svg.forecast rect.bar-collections")).to_have_count(7)
    expect(page.locator("#forecast tfoot")).to_contain_text("Total")
    _shot(page, "forecast")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    target = tmp_path / "forecast.csv"
    download_info.value.save_as(target)
    assert target.read_text().splitlines()[0] == \
        "period_start,period,weighted_pipeline,expected_collections,currency"
