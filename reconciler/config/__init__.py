"""Desired state from YAML: loading, Jinja2 templating, validation, JSON Schema.

Public API (other modules code against exactly this):

- ``load_config(path, variables=None, values_files=None) -> Config`` (raises ``ConfigError``)
- ``Config``: ``app``, ``policy``, ``groups`` (normalized ``state.Group``), ``locations``,
  ``base_dir``, ``digest``, ``files``
- ``AppConfig``, ``Policy``: the ``app`` and ``policy`` sections
- ``Location``, ``Issue``, ``ConfigError``: located problems
- ``json_schema()``, ``write_schema(path)``: the JSON Schema of a config file
- ``render_sources(...)``: texts after template rendering (to show what a template produced)
- ``config_roots(paths)``: the configs that changed files belong to (for pre-commit)
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from reconciler.config.errors import ConfigError, Issue, Location
from reconciler.config.models import REGIONS, AppConfig, Policy

if TYPE_CHECKING:
    from reconciler.config.discover import config_roots
    from reconciler.config.loader import Config, config_files, load_config, render_sources


def __getattr__(name: str) -> Any:
    """The loader (YAML parsers, Jinja2, the group checks) is imported on first use: a saved
    plan's app section needs only the models (`apply --plan` starts faster without it)."""
    module: ModuleType
    if name in ("Config", "config_files", "load_config", "render_sources"):
        from reconciler.config import loader as module
    elif name == "config_roots":
        from reconciler.config import discover as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(module, name)
    return value


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of one config file, generated from the models."""
    from reconciler.config.schema import json_schema as build

    return build()


def write_schema(path: str | Path | None = None) -> Path:
    """Write the JSON Schema; default: the repository's schemas/reconciler.schema.json."""
    from reconciler.config import schema

    return schema.write_schema(schema.DEFAULT_PATH if path is None else path)


__all__ = [
    "REGIONS",
    "AppConfig",
    "Config",
    "ConfigError",
    "Issue",
    "Location",
    "Policy",
    "config_files",
    "config_roots",
    "json_schema",
    "load_config",
    "render_sources",
    "write_schema",
]
