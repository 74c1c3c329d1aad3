"""The request context handed to every page, the page frame, and small shared HTML pieces.

Layer ``dashboard``; imports ``core`` and the dashboard's own modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse

from ledgerbridge.core.records import System
from ledgerbridge.dashboard.backend import DashboardBackend, Direction
from ledgerbridge.dashboard.markup import Safe, esc, join, query, render
from ledgerbridge.dashboard.settings import DashboardSettings

__all__ = ["NAV", "Ctx", "Flash", "badge", "direction_arrow", "external_link", "page", "rel_time",
           "system_name"]

FlashLevel = Literal["ok", "error", "info"]


@dataclass(frozen=True, slots=True)
class Flash:
    """A one-time message shown at the top of the next page."""

    level: FlashLevel
    message: str


@dataclass(slots=True)
class Ctx:
    """What a page handler gets besides the request: the backend, the session's CSRF token, time."""

    request: Request
    backend: DashboardBackend
    settings: DashboardSettings
    now: datetime
    csrf: str = ""  # empty when the caller authenticated with a bearer token
    show_logout: bool = False
    flash: Flash | None = None
    next_flash: Flash | None = field(default=None)

    def url(self, path: str, **params: object) -> str:
        """An absolute path inside the dashboard (honours a mount prefix), with a query string."""
        root = str(self.request.scope.get("root_path", "")).rstrip("/")
        return f"{root}{path}{query(**params)}"

    def csrf_field(self) -> Safe:
        """The hidden form field that proves a POST came from our own page."""
        return render('<input type="hidden" name="csrf" value="$t">', t=self.csrf)

    def flash_next(self, level: FlashLevel, message: str) -> None:
        """Show ``message`` on the next page (after a redirect)."""
        self.next_flash = Flash(level, message)


NAV = (
    ("overview", "/", "Overview"),
    ("records", "/records", "Records"),
    ("dead-letters", "/dead-letters", "Dead letters"),
    ("reviews", "/reviews", "Reviews"),
    ("flows", "/flows", "Flows"),
    ("forecast", "/forecast", "Forecast"),
)


def page(ctx: Ctx, *, title: str, active: str, body: Safe, status_code: int = 200,
         flash: Flash | None = None, bare: bool = False) -> HTMLResponse:
    """The full HTML document: header, navigation (unless ``bare``), flash message and ``body``."""
    nav = Safe("") if bare else join(
        render('<a href="$href"$cur>$label</a>', href=ctx.url(path), label=label,
               cur=Safe(' aria-current="page"') if key == active else Safe(""))
        for key, path, label in NAV)
    logout = (render('<form class="logout" method="post" action="$a">$csrf<button type="submit">'
                     'Log out</button></form>', a=ctx.url("/logout"), csrf=ctx.csrf_field())
              if ctx.show_logout else Safe(""))
    shown = flash or ctx.flash
    flash_html = (render('<div class="flash $lvl" role="status">$msg</div>', lvl=shown.level,
                         msg=shown.message) if shown else Safe(""))
    return HTMLResponse(render(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="csrf-token" content="$csrf">'
        '<title>$title · $app</title><link rel="stylesheet" href="$css">'
        '<link rel="icon" href="$icon" type="image/svg+xml">'
        '<script src="$js" defer></script></head><body data-page="$active">'
        '<header class="top"><a class="brand" href="$home"><img src="$icon" alt="" width="22" '
        'height="22">$app</a><nav>$nav</nav>$logout</header>'
        '<main>$flash<h1>$title</h1>$body</main></body></html>',
        title=title, app=ctx.settings.title, csrf=ctx.csrf, css=ctx.url("/static/dashboard.css"),
        js=ctx.url("/static/dashboard.js"), icon=ctx.url("/static/logo.svg"), home=ctx.url("/"),
        active=active, nav=nav, logout=logout, flash=flash_html, body=body), status_code=status_code)


def badge(text: str, kind: str = "") -> Safe:
    """A coloured label; ``kind`` picks the colour (defaults to the text itself)."""
    return render('<span class="badge b-$k">$t</span>', k=(kind or text).lower().replace(" ", "-"), t=text)


def direction_arrow(direction: Direction) -> Safe:
    """``Salesforce → NetSuite`` and friends, compactly."""
    text = {Direction.SF_TO_NS: "SF → NS", Direction.NS_TO_SF: "NS → SF", Direction.BOTH: "SF ↔ NS"}
    title = {Direction.SF_TO_NS: "Salesforce to NetSuite", Direction.NS_TO_SF: "NetSuite to Salesforce",
             Direction.BOTH: "both ways"}
    return render('<span class="dir" title="$t">$a</span>', t=title[direction], a=text[direction])


def system_name(system: System | None) -> str:
    """``Salesforce`` / ``NetSuite`` / ``""``."""
    if system is None:
        return ""
    return "Salesforce" if system is System.SALESFORCE else "NetSuite"


def rel_time(at: datetime | None, now: datetime) -> Safe:
    """``<time>`` with the exact UTC time as its title and "5 min ago" as its text."""
    if at is None:
        return Safe('<span class="muted">never</span>')
    seconds = (now - at).total_seconds()
    if seconds < 0:
        text = "in the future"
    elif seconds < 60:
        text = "just now"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min ago"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)} h ago"
    else:
        text = f"{int(seconds // 86400)} d ago"
    return render('<time datetime="$iso" title="$exact">$text</time>', iso=at.isoformat(), exact=at,
                  text=text)


def external_link(url: str | None, text: str) -> Safe:
    """A link that opens another system's record, only for ``http(s)`` URLs (never ``javascript:``)."""
    if not url or urlsplit(url).scheme.lower() not in {"http", "https"}:
        return esc(text)
    return render('<a href="$u" target="_blank" rel="noopener noreferrer">$t ↗</a>', u=url, t=text)
