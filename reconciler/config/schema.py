"""JSON Schema of the config format, generated from the pydantic models.

Regenerate the committed copy with ``python -m reconciler.config.schema`` (or
``write_schema(path)``); a test fails when schemas/reconciler.schema.json is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from reconciler.config.models import ConfigFile

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "schemas" / "reconciler.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one config file."""
    schema = ConfigFile.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DIALECT, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: str | Path = DEFAULT_PATH) -> Path:
    """Write the schema to ``path`` (default: the repository's schemas/reconciler.schema.json)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(schema_text(), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(f"usage: python -m reconciler.config.schema [PATH | -]  (default: {DEFAULT_PATH})")
        return 0
    if args and args[0] == "-":
        sys.stdout.write(schema_text())
        return 0
    print(f"wrote {write_schema(args[0] if args else DEFAULT_PATH)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
