"""Load ``ledgerbridge.yaml``: YAML with line numbers, ``${ENV}`` interpolation, all errors at once.

Layer ``flows``; imports only ``core`` and the models in this package. Every problem names the
file, line and column, the offending key and what is expected; all problems are reported
together in one :class:`~ledgerbridge.core.errors.FlowSpecError`. Secrets written inline produce
warnings (never the value) so they can be moved to an environment variable or a ``*_file``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ledgerbridge.core.errors import FlowSpecError
from ledgerbridge.flows.config import LedgerBridgeConfig

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_NAMES = {
    "client_secret", "password", "security_token", "refresh_token", "private_key",
    "consumer_key", "consumer_secret", "token_id", "token_secret", "secret", "webhook_secret",
    "smtp_password", "dashboard_password", "api_token",
}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    """A position in the YAML file (1-based)."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


@dataclass
class ConfigDocument:
    """The parsed YAML, with where each key and value sits in the file."""

    source: str
    data: Any
    locations: dict[Path_, Location] = field(default_factory=dict)

    def location(self, path: Path_) -> Location | None:
        """Where ``path`` (keys and list indexes) is, or its nearest parent that exists."""
        p = tuple(path)
        while p:
            if p in self.locations:
                return self.locations[p]
            p = p[:-1]
        return self.locations.get(())

    def where(self, path: Path_) -> str:
        """``file:line:col`` for a path, for error messages."""
        loc = self.location(path)
        return f"{self.source}:{loc}" if loc else self.source


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and the warnings loading it produced."""

    config: LedgerBridgeConfig
    document: ConfigDocument
    warnings: tuple[str, ...] = ()


def _index(node: Any, path: Path_, out: dict[Path_, Location]) -> None:
    if isinstance(node, CommentedMap):
        for key in node:
            try:
                line, col = node.lc.key(key)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            out[(*path, str(key))] = Location(line + 1, col + 1)
            _index(node[key], (*path, str(key)), out)
    elif isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            try:
                line, col = node.lc.item(i)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            out[(*path, i)] = Location(line + 1, col + 1)
            _index(item, (*path, i), out)


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def parse_document(text: str, source: str = "<config>") -> ConfigDocument:
    """Parse YAML text, keeping the line and column of every key.

    Raises:
        FlowSpecError: the text is not valid YAML (with the line and column of the problem).
    """
    yaml = YAML(typ="rt")
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise FlowSpecError([f"{where}: malformed YAML: {exc.problem or exc.context}"],
                            source=source) from None
    except YAMLError as exc:
        raise FlowSpecError([f"{source}: malformed YAML: {exc}"], source=source) from None
    if raw is None:
        raw = CommentedMap()
    locations: dict[Path_, Location] = {(): Location(1, 1)}
    _index(raw, (), locations)
    if not isinstance(raw, Mapping):
        raise FlowSpecError([f"{source}:1:1: the file must be a mapping of keys (connections:, state:, "
                             "links:), not a list or a single value"], source=source)
    return ConfigDocument(source, _plain(raw), locations)


def _interpolate(doc: ConfigDocument, env: Mapping[str, str], problems: list[str],
                 warnings: list[str]) -> Any:
    def walk(node: Any, path: Path_) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i)) for i, v in enumerate(node)]
        if isinstance(node, str):
            key = str(path[-1]) if path else ""
            if key in _SECRET_NAMES and node and not _ENV_REF.search(node):
                warnings.append(
                    f"{doc.where(path)}: {'.'.join(map(str, path))} is a secret written inline; move it "
                    f"to an environment variable ({key}: ${{LEDGERBRIDGE_{key.upper()}}}) or a file "
                    f"({key}_file: path/to/file) and keep it out of version control")

            def sub(m: re.Match[str]) -> str:
                name, default = m.group(1), m.group(2)
                if name in env:
                    return env[name]
                if default is not None:
                    return default
                problems.append(f"{doc.where(path)}: {'.'.join(map(str, path))} refers to environment "
                                f"variable {name}, which is not set; export {name}=... or write "
                                f"${{{name}:-default}}")
                return ""

            return _ENV_REF.sub(sub, node)
        return node

    return walk(doc.data, ())


def _describe_expected(model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    names = sorted(model.model_fields)
    return f" (expected one of: {', '.join(names)})" if names else ""


def _model_at(loc: Path_, data: Any) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``loc`` (following discriminators)."""
    model: Any = LedgerBridgeConfig
    node = data
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(str(part))
        node = node.get(str(part)) if isinstance(node, dict) else None
        if info is None:
            return None
        ann = info.annotation
        args = getattr(ann, "__args__", ())
        candidates = [a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(candidates) > 1 and isinstance(node, dict) and "mode" in node:
            tagged = [c for c in candidates
                      if "mode" in c.model_fields and node["mode"] in getattr(
                          c.model_fields["mode"].annotation, "__args__", ())]
            candidates = tagged or candidates
        model = candidates[0] if candidates else None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _format_error(doc: ConfigDocument, data: Any, err: Mapping[str, Any]) -> str:
    loc: Path_ = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in {
        "jwt", "client_credentials", "password", "refresh_token", "tba", "oauth2_m2m"}))
    dotted = ".".join(map(str, loc)) or "(top level)"
    kind = err["type"]
    where = doc.where(loc)
    value = err.get("input")
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1], data)
        return f"{where}: unknown key '{loc[-1]}' in {'.'.join(map(str, loc[:-1])) or 'the top level'}" \
               f"{_describe_expected(parent)}"
    if kind == "missing":
        return f"{where}: {dotted} is required but missing"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        ctx = err.get("ctx", {})
        return f"{where}: {dotted}.mode must be one of {ctx.get('expected_tags', '')}, got " \
               f"{ctx.get('tag', 'nothing')!r}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    shown = "" if _is_secretish(loc) or isinstance(value, dict | list) else f" (got {value!r})"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{where}: {dotted}: {msg}{shown}"
    return f"{where}: {dotted}: {msg}"


def _line_of(problem: str) -> tuple[int, int]:
    m = re.search(r":(\d+):(\d+): ", problem)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _is_secretish(loc: Path_) -> bool:
    return any(str(p) in _SECRET_NAMES for p in loc)


def load_config_text(text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None,
                     model: type[LedgerBridgeConfig] = LedgerBridgeConfig) -> LoadedConfig:
    """Validate configuration text.

    Args:
        text: YAML text.
        source: the file name used in messages.
        env: environment for ``${VAR}`` interpolation (default ``os.environ``).
        model: the model to validate against.

    Returns:
        The configuration and any warnings.

    Raises:
        FlowSpecError: with every problem found, each naming file, line and column.
    """
    doc = parse_document(text, source)
    problems: list[str] = []
    warnings: list[str] = []
    data = _interpolate(doc, os.environ if env is None else env, problems, warnings)
    config: LedgerBridgeConfig | None = None
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_format_error(doc, data, e) for e in exc.errors(include_url=False))
    if problems:
        raise FlowSpecError(sorted(problems, key=_line_of), source=source)
    assert config is not None
    return LoadedConfig(config, doc, tuple(warnings))


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read and validate a configuration file.

    Raises:
        FlowSpecError: the file is missing, unreadable or invalid (all problems listed).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowSpecError([f"{p}: file not found; create one with `ledgerbridge init` or pass -c FILE"],
                            source=str(p)) from None
    except OSError as exc:
        raise FlowSpecError([f"{p}: cannot read: {exc.strerror}"], source=str(p)) from None
    return load_config_text(text, source=str(p), env=env)
