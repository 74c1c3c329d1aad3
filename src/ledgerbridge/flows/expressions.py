"""Field paths compiled natively, and JSONata expressions behind a small interface (layer ``flows``).

A plain path (``Name``, ``billingAddress.city``, ``item.items[].quantity``,
``addressBook.items[defaultBilling=true].addressBookAddress.addr1``) is compiled to a tuple of
steps and read without an expression engine (JSONata costs ~200 µs a record). Anything else is
JSONata (jsonata-python), always evaluated with runtime bounds — a timeout and a recursion depth —
so a runaway expression fails with :class:`ExpressionError` instead of hanging. Expressions never see
Python objects; only JSON values and the functions bound here.

Path grammar: steps separated by ``.``; a step is a name optionally followed by ``[n]`` (item n),
``[]`` (every item) or ``[key=value]`` (the first item whose ``key`` equals ``value``, compared as
text, case-insensitive). Only name steps can be written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ledgerbridge.core.errors import MappingSpecError
from ledgerbridge.core.records import JsonValue
from ledgerbridge.flows.transforms import TRANSFORMS

__all__ = [
    "Expression",
    "ExpressionError",
    "JsonataExpression",
    "Path",
    "compile_expression",
    "is_plain_path",
    "same_value",
    "satisfies",
]

_STEP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]*)\])?$")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?)*$")


class ExpressionError(MappingSpecError):
    """An expression failed on one record (bad input, runaway, type error); ``code`` says which."""

    def __init__(self, message: str, *, code: str = "EXPRESSION_ERROR", expression: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.expression = expression

    def attrs(self) -> dict[str, object]:
        """Structured fields for logs."""
        return {**super().attrs(), "code": self.code, "expression": self.expression[:200]}


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    mode: str  # "" plain | "index" | "all" | "filter"
    index: int = 0
    key: str = ""
    value: str = ""


def is_plain_path(text: str) -> bool:
    """True when ``text`` is a field path rather than an expression."""
    return bool(_PLAIN.match(text.strip()))


class Path:
    """A compiled field path."""

    __slots__ = ("steps", "text")

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        steps: list[_Step] = []
        for part in self.text.split("."):
            m = _STEP.match(part)
            if not m:
                raise MappingSpecError(f"{text!r} is not a field path")
            name, bracket = m.group(1), m.group(2)
            if bracket is None:
                steps.append(_Step(name, ""))
            elif bracket == "":
                steps.append(_Step(name, "all"))
            elif bracket.lstrip("-").isdigit():
                steps.append(_Step(name, "index", index=int(bracket)))
            elif "=" in bracket:
                k, _, v = bracket.partition("=")
                steps.append(_Step(name, "filter", key=k.strip(), value=v.strip().strip("'\"")))
            else:
                raise MappingSpecError(f"{text!r}: [{bracket}] must be [n], [] or [key=value]")
        self.steps = tuple(steps)

    @property
    def is_writable(self) -> bool:
        """True when every step is a plain name (the path can be written)."""
        return all(s.mode == "" for s in self.steps)

    @property
    def head(self) -> str:
        """The top-level field name."""
        return self.steps[0].name

    def get(self, data: Mapping[str, JsonValue] | JsonValue) -> JsonValue:
        """The value at this path, ``None`` when any step is missing."""
        current: Any = data
        fanned = False
        for step in self.steps:
            if fanned:
                current = [_step(item, step) for item in current if isinstance(item, dict)]
                current = [x for x in _flatten(current) if x is not None]
            else:
                if not isinstance(current, dict):
                    return None
                current = _step(current, step)
                if step.mode == "all":
                    fanned = True
                    if current is None:
                        return []
        return current  # type: ignore[no-any-return]

    def set(self, target: dict[str, JsonValue], value: JsonValue) -> None:
        """Write ``value`` at this path, creating nested objects.

        Raises:
            MappingSpecError: the path has list steps.
        """
        if not self.is_writable:
            raise MappingSpecError(f"cannot write to {self.text!r}: only name.name paths can be written")
        node: dict[str, Any] = target
        for step in self.steps[:-1]:
            child = node.get(step.name)
            if not isinstance(child, dict):
                child = {}
                node[step.name] = child
            node = child
        node[self.steps[-1].name] = value

    def __repr__(self) -> str:
        return f"Path({self.text!r})"


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in items:
        if isinstance(x, list):
            out.extend(x)
        else:
            out.append(x)
    return out


def _items(value: Any) -> list[Any] | None:
    """A sublist: a list, or NetSuite's ``{"items": [...]}`` / Salesforce's ``{"records": [...]}``."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in ("items", "records"):
            if isinstance(value.get(key), list):
                return value[key]  # type: ignore[no-any-return]
    return None


def _step(node: dict[str, Any], step: _Step) -> Any:
    value = node.get(step.name)
    if step.mode == "":
        return value
    items = _items(value)
    if items is None:
        return None
    if step.mode == "all":
        return list(items)
    if step.mode == "index":
        try:
            return items[step.index]
        except IndexError:
            return None
    for item in items:
        if isinstance(item, dict) and _text_eq(item.get(step.key), step.value):
            return item
    return None


def _text_eq(value: Any, text: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == text.lower()
    return value is not None and str(value).strip().lower() == text.lower()


class Expression(Protocol):
    """Something that computes one JSON value from a record."""

    @property
    def text(self) -> str:
        """The source text."""
        ...

    def evaluate(self, data: Mapping[str, JsonValue], bindings: Mapping[str, Any] | None = None) -> JsonValue:
        """Evaluate against ``data`` with extra ``$name`` bindings (values or Python callables)."""
        ...


class PathExpression:
    """A plain path used where an expression is expected."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def text(self) -> str:
        """The path text."""
        return self.path.text

    def evaluate(self, data: Mapping[str, JsonValue], bindings: Mapping[str, Any] | None = None) -> JsonValue:
        """Read the path."""
        return self.path.get(data)


def _plain_json(value: Any) -> JsonValue:
    """JSONata results (sequences, numbers as floats) → plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ExpressionError("the expression produced a non-finite number", code="EXPRESSION_TYPE")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if value is None or isinstance(value, str | int | bool):
        return value
    if callable(value) or hasattr(value, "call"):
        raise ExpressionError("the expression returned a function, not a value", code="EXPRESSION_TYPE")
    return str(value)


def _jsonata_function(fn: Callable[..., Any]) -> Any:
    from jsonata.jsonata import Jsonata

    def call(*args: Any) -> Any:
        return fn(*args)

    return Jsonata.JLambda(call)


def _norm(name: str) -> Callable[[JsonValue], JsonValue]:
    return TRANSFORMS[name]


_BUILTINS: dict[str, Callable[..., Any]] = {
    "email": _norm("email"),
    "domain": _norm("domain"),
    "phone": _norm("phone"),
    "taxId": _norm("tax_id"),
    "normaliseName": _norm("name"),
}


class JsonataExpression:
    """A JSONata expression with runtime bounds.

    Args:
        text: the expression.
        timeout_ms: wall-clock bound for one evaluation.
        max_depth: recursion bound for one evaluation.

    Raises:
        MappingSpecError: the expression does not parse.
    """

    def __init__(self, text: str, *, timeout_ms: int = 1000, max_depth: int = 200) -> None:
        import jsonata

        self._text = text
        self.timeout_ms = timeout_ms
        self.max_depth = max_depth
        try:
            self._compiled = jsonata.Jsonata(text)
        except Exception as exc:  # jsonata raises JException (a RuntimeError) with a position
            raise MappingSpecError(f"expression does not parse: {exc} in {text.strip()[:120]!r}") from None
        if self._compiled.errors:
            raise MappingSpecError(f"expression does not parse: {self._compiled.errors[0]}")

    @property
    def text(self) -> str:
        """The source text."""
        return self._text

    def evaluate(self, data: Mapping[str, JsonValue], bindings: Mapping[str, Any] | None = None) -> JsonValue:
        """Evaluate with a fresh bounded frame.

        Raises:
            ExpressionError: the evaluation failed or ran past its bounds (``code`` is
                ``EXPRESSION_TIMEOUT`` for the latter).
        """
        frame = self._compiled.create_frame()
        # Bounds are measured from when they are set, so a fresh frame per evaluation.
        frame.set_runtime_bounds(self.timeout_ms, self.max_depth)
        for name, fn in _BUILTINS.items():
            frame.bind(name, _jsonata_function(fn))
        for name, value in (bindings or {}).items():
            frame.bind(name, _jsonata_function(value) if callable(value) else value)
        try:
            result = self._compiled.evaluate(dict(data), frame)
        except RecursionError:
            raise ExpressionError("expression recursed too deeply", code="EXPRESSION_TIMEOUT",
                                  expression=self._text) from None
        except ExpressionError:
            raise
        except Exception as exc:
            text = str(exc)
            code = "EXPRESSION_TIMEOUT" if ("timeout" in text.lower() or "stack" in text.lower()) \
                else "EXPRESSION_ERROR"
            raise ExpressionError(f"expression failed: {text}", code=code, expression=self._text) from None
        return _plain_json(result)


def compile_expression(text: str, *, timeout_ms: int = 1000, max_depth: int = 200) -> Expression:
    """A plain path compiled natively, anything else as bounded JSONata.

    Raises:
        MappingSpecError: the text is neither a path nor a valid expression.
    """
    if is_plain_path(text):
        return PathExpression(Path(text))
    return JsonataExpression(text, timeout_ms=timeout_ms, max_depth=max_depth)


# -- comparing values ------------------------------------------------------------------------------

def _scalar(value: JsonValue) -> JsonValue:
    if isinstance(value, str):
        text = value.rstrip()
        return text if text else None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def same_value(a: JsonValue, b: JsonValue) -> bool:
    """Loose equality used for change detection: ``''`` = ``None``, ``1`` = ``1.0``, trailing
    spaces ignored, objects compared key by key with a missing key = ``None``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(same_value(a.get(k), b.get(k)) for k in set(a) | set(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return _empty(a) and _empty(b)
    sa, sb = _scalar(a), _scalar(b)
    if isinstance(sa, bool) or isinstance(sb, bool):
        return sa is sb or (sa is None and sb is False) or (sa is False and sb is None)
    if isinstance(sa, int | float) and isinstance(sb, int | float):
        return math.isclose(sa, sb, rel_tol=1e-12, abs_tol=1e-9)
    return sa == sb


def _empty(v: JsonValue) -> bool:
    return v is None or v == "" or v == [] or v == {} or v == {"items": []}


def satisfies(current: JsonValue, desired: JsonValue) -> bool:
    """True when ``current`` already holds ``desired`` (keys of ``current`` that ``desired`` does
    not mention are ignored, e.g. a NetSuite reference's ``refName`` or a sublist line's ids)."""
    if isinstance(desired, dict) and isinstance(current, dict):
        return all(satisfies(current.get(k), v) for k, v in desired.items())
    if isinstance(desired, list) and isinstance(current, list):
        return len(desired) == len(current) and all(
            satisfies(c, d) for c, d in zip(current, desired, strict=True))
    if isinstance(desired, dict) and isinstance(current, list):
        items = _items(desired)
        return items is not None and satisfies(current, items)
    if isinstance(current, dict) and isinstance(desired, list):
        items = _items(current)
        return items is not None and satisfies(items, desired)
    return same_value(current, desired)


def to_plain(value: Sequence[Any] | Mapping[str, Any] | Any) -> JsonValue:
    """Public wrapper of the JSON normaliser (for callers that build values in Python)."""
    return _plain_json(value)
