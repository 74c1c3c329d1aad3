"""Configuration use cases: load, validate, and the JSON Schema (layer ``app``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ledgerbridge.flows.config import DEFAULT_STATE_URL, LedgerBridgeConfig
from ledgerbridge.flows.load import LoadedConfig, load_config, load_config_text

DEFAULT_CONFIG_FILE = "ledgerbridge.yaml"

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_STATE_URL",
    "LedgerBridgeConfig",
    "LoadedConfig",
    "config_schema",
    "config_schema_json",
    "load_config",
    "load_config_text",
    "validate_config_file",
]


def config_schema() -> dict[str, object]:
    """The JSON Schema of ``ledgerbridge.yaml`` (for editor completion)."""
    schema = LedgerBridgeConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("$id", "https://ledgerbridge.dev/schema/ledgerbridge.yaml.json")
    return schema


def config_schema_json() -> str:
    """The JSON Schema as indented JSON text."""
    return json.dumps(config_schema(), indent=2, sort_keys=False)


def validate_config_file(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate a configuration file (offline checks).

    Raises:
        FlowSpecError: every problem found, with file, line and column.
    """
    return load_config(path, env=env)
