"""Ready-made link configurations (flow templates) and the ``ledgerbridge.yaml`` they render to.

Layer ``app``; imports ``flows`` (to validate a rendering) and the standard library. Each template
is package data, ``templates/<name>.yaml``: a first comment line ``# <name>: <one-line description>``,
further comment lines, then a ``links:`` mapping. A comment line ``# requires: a, b`` names templates
whose links this one refers to (``ref: accounts``); :func:`render` appends their links, so the
rendered file is complete (a link already defined keeps this template's definition).
:func:`render` puts a ``connections`` block in front of it: the local sandboxes (by default on ports
8701/8702, with their documented default credentials) for ``sandbox=True``, else ``${ENV_VAR}``
placeholders with comments, so no secret is ever written.

The sandbox defaults are repeated here on purpose: ``ledgerbridge`` never imports the sandbox package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from ledgerbridge.core.errors import ConfigError
from ledgerbridge.flows.load import load_config_text

__all__ = [
    "SANDBOX_HOST",
    "SANDBOX_NETSUITE_PORT",
    "SANDBOX_NETSUITE_URL",
    "SANDBOX_SALESFORCE_PORT",
    "SANDBOX_SALESFORCE_URL",
    "Template",
    "check_rendering",
    "connections_yaml",
    "get_template",
    "list_templates",
    "render",
    "sandbox_url",
]

SANDBOX_HOST = "127.0.0.1"
SANDBOX_SALESFORCE_PORT = 8701
SANDBOX_NETSUITE_PORT = 8702


def sandbox_url(port: int, host: str = SANDBOX_HOST) -> str:
    """The base URL of a local sandbox listening on ``port`` (plain HTTP, as ``sandbox up`` serves)."""
    return f"http://{host}:{port}"


SANDBOX_SALESFORCE_URL = sandbox_url(SANDBOX_SALESFORCE_PORT)
SANDBOX_NETSUITE_URL = sandbox_url(SANDBOX_NETSUITE_PORT)
# The sandboxes' documented default credentials (not secrets: they only open the local emulators).
_SF_SANDBOX = {
    "client_id": "3MVG9LedgerBridgeSandboxConsumerKey.0000000000000000000000000000",
    "client_secret": "LBSANDBOXSECRET0000000000000000000000000000000000000000000000001",
    "username": "integration@ledgerbridge.sandbox",
    "password": "sandbox-password",
    "security_token": "SANDBOXTOKEN0000",
}
_NS_SANDBOX_ACCOUNT = "1234567"
_NS_SANDBOX = {
    "consumer_key":
        "ns-sandbox-consumer-key-0001a7c3e5f9b2d4c6e8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1",
    "consumer_secret":
        "ns-sandbox-consumer-secret-3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1",
    "token_id": "ns-sandbox-token-id-8c1e4a7b2d5f8e1a4c7b0d3f6e9a2c5b8d1f4e7a0c3b6d9f2e5a8c1b4d7f0e3a6",
    "token_secret":
        "ns-sandbox-token-secret-5b9d3f7a1c5e9b3d7f1a5c9e3b7d1f5a9c3e7b1d5f9a3c7e1b5d9f3a7c1e5b9d3",
}
_SUFFIX = ".yaml"


@dataclass(frozen=True, slots=True)
class Template:
    """One flow template: its name, one-line description and the ``links:`` YAML text."""

    name: str
    description: str
    body: str
    requires: tuple[str, ...] = ()


def _folder() -> resources.abc.Traversable:
    return resources.files("ledgerbridge.app").joinpath("templates")


def _parse(name: str, text: str) -> Template:
    first = text.splitlines()[0] if text else ""
    prefix = f"# {name}:"
    description = first[len(prefix):].strip() if first.startswith(prefix) else ""
    requires: tuple[str, ...] = ()
    for line in text.splitlines():
        if line.startswith("# requires:"):
            requires = tuple(n.strip() for n in line[len("# requires:"):].split(",") if n.strip())
        elif not line.startswith("#"):
            break
    return Template(name, description, text, requires)


_LINK_KEY = re.compile(r"^  ([A-Za-z0-9_\-]+):", re.MULTILINE)


def _links_of(t: Template, seen: set[str]) -> str:
    """The body of ``t``'s ``links:`` mapping (indented entries), minus links named in ``seen``."""
    _, _, links = t.body.partition("\nlinks:\n")
    blocks = re.split(r"(?m)^(?=  [A-Za-z0-9_\-]+:)", links)
    kept = []
    for block in blocks:
        m = _LINK_KEY.match(block)
        if m is None or m.group(1) in seen:
            continue
        seen.add(m.group(1))
        kept.append(block if block.endswith("\n") else block + "\n")
    return "".join(kept)


_SECTION_KEY = re.compile(r"^([A-Za-z0-9_]+):", re.MULTILINE)


def _sections_of(t: Template) -> dict[str, str]:
    """The top-level sections other than ``links:`` that ``t`` sets before its links (``onboarding:``,
    ``price_books:``...), each with the comment lines right above it, by key."""
    head = t.body.partition("\nlinks:\n")[0]
    lines = head.splitlines(keepends=True)
    out: dict[str, str] = {}
    for i, line in enumerate(lines):
        m = _SECTION_KEY.match(line)
        if m is None:
            continue
        start = i
        while start > 0 and lines[start - 1].startswith("#"):
            start -= 1
        if start == 0:  # the template's own header comment is not the section's
            start = i
        end = i + 1
        while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
            end += 1
        out[m.group(1)] = "".join(lines[start:end]).rstrip("\n") + "\n"
    return out


def _with_required(t: Template, also: tuple[str, ...] = ()) -> str:
    """``t``'s body followed by the links of the templates it requires (transitively) and of the
    templates in ``also``, then their other top-level sections (``price_books:``...) that ``t`` does
    not set; a link name or section already present keeps its first definition."""
    if not t.requires and not also:
        return t.body
    seen = set(_LINK_KEY.findall(t.body.partition("\nlinks:\n")[2]))
    sections = set(_sections_of(t))
    body = t.body if t.body.endswith("\n") else t.body + "\n"
    extra = ""
    done = {t.name}
    todo = [*t.requires, *also]
    while todo:
        name = todo.pop(0)
        if name in done:
            continue
        done.add(name)
        req = get_template(name)
        todo.extend(req.requires)
        body += f"\n  # from template {name!r}\n" + _links_of(req, seen)
        for key, text in _sections_of(req).items():
            if key not in sections:
                sections.add(key)
                extra += f"\n# from template {name!r}\n{text}"
    return body + extra


def list_templates() -> list[Template]:
    """Every template shipped, sorted by name."""
    found = [_parse(f.name[: -len(_SUFFIX)], f.read_text(encoding="utf-8"))
             for f in _folder().iterdir() if f.name.endswith(_SUFFIX)]
    return sorted(found, key=lambda t: t.name)


def get_template(name: str) -> Template:
    """The template called ``name``.

    Raises:
        ConfigError: no such template (the message lists the known ones).
    """
    for t in list_templates():
        if t.name == name:
            return t
    known = ", ".join(t.name for t in list_templates())
    raise ConfigError(f"unknown template {name!r}; known templates: {known}")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connections_yaml(*, sandbox: bool, salesforce_url: str = SANDBOX_SALESFORCE_URL,
                     netsuite_url: str = SANDBOX_NETSUITE_URL) -> str:
    """The ``connections:`` block.

    Args:
        sandbox: the local sandboxes with their default credentials; else ``${ENV_VAR}`` placeholders.
        salesforce_url: the Salesforce sandbox's URL (sandbox mode only).
        netsuite_url: the NetSuite sandbox's URL (sandbox mode only).

    Returns:
        YAML text ending with a newline.
    """
    if sandbox:
        sf = "\n".join(f"      {k}: ${{LEDGERBRIDGE_SF_{k.upper()}:-{v}}}" for k, v in _SF_SANDBOX.items())
        ns = "\n".join(f"      {k}: ${{LEDGERBRIDGE_NS_{k.upper()}:-{v}}}" for k, v in _NS_SANDBOX.items())
        return (
            "# The local sandboxes (`ledgerbridge sandbox up`) with their default credentials;\n"
            "# each value can be overridden by the environment variable named in it.\n"
            "connections:\n"
            "  salesforce:\n"
            f"    login_url: {_quote(salesforce_url)}\n"
            "    auth:\n"
            "      mode: password\n"
            f"{sf}\n"
            "  netsuite:\n"
            f"    account_id: {_quote(_NS_SANDBOX_ACCOUNT)}\n"
            f"    base_url: {_quote(netsuite_url)}\n"
            "    auth:\n"
            "      mode: tba\n"
            f"{ns}\n")
    return (
        "# Secrets never live in this file: export the variables below (or use *_file options).\n"
        "connections:\n"
        "  salesforce:\n"
        "    login_url: ${SF_LOGIN_URL:-https://login.salesforce.com}  # test. for a sandbox org\n"
        "    auth:\n"
        "      mode: client_credentials         # or jwt / password / refresh_token\n"
        "      client_id: ${SF_CLIENT_ID}        # the connected app's consumer key\n"
        "      client_secret: ${SF_CLIENT_SECRET}\n"
        "  netsuite:\n"
        "    account_id: ${NS_ACCOUNT_ID}        # e.g. 1234567 or 1234567_SB1\n"
        "    auth:\n"
        "      mode: tba                         # token-based authentication (OAuth 1.0a)\n"
        "      consumer_key: ${NS_CONSUMER_KEY}\n"
        "      consumer_secret: ${NS_CONSUMER_SECRET}\n"
        "      token_id: ${NS_TOKEN_ID}\n"
        "      token_secret: ${NS_TOKEN_SECRET}\n")


def render(name: str, *, sandbox: bool, salesforce_url: str = SANDBOX_SALESFORCE_URL,
           netsuite_url: str = SANDBOX_NETSUITE_URL, state_url: str | None = None,
           also: tuple[str, ...] = ()) -> str:
    """A complete ``ledgerbridge.yaml`` for template ``name``.

    Args:
        name: the template.
        sandbox: point the connections at the local sandboxes (else environment placeholders).
        salesforce_url: the Salesforce sandbox's URL (sandbox mode).
        netsuite_url: the NetSuite sandbox's URL (sandbox mode).
        state_url: the state store (default: SQLite under ``.ledgerbridge/``).
        also: further templates whose links are added (and those they require).

    Returns:
        The YAML text.

    Raises:
        ConfigError: unknown template.
    """
    t = get_template(name)
    state = state_url or "sqlite:///.ledgerbridge/state.db"
    return (
        f"# ledgerbridge.yaml from template {t.name!r}: {t.description}\n"
        "# Check it with `ledgerbridge config validate`; run one pass with `ledgerbridge sync`.\n"
        "version: 1\n"
        f"{connections_yaml(sandbox=sandbox, salesforce_url=salesforce_url, netsuite_url=netsuite_url)}"
        "state:\n"
        f"  url: {_quote(state)}\n"
        "\n"
        f"{_with_required(t, also)}")


def check_rendering(text: str, env: dict[str, str] | None = None) -> None:
    """Validate rendered text the way ``ledgerbridge config validate`` does.

    Raises:
        FlowSpecError: a problem (with its line).
    """
    load_config_text(text, source="ledgerbridge.yaml", env=env)
