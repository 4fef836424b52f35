"""`reconciler fmt`: config files in one canonical layout, comments kept.

ruamel.yaml's round-trip mode keeps comments, key order, quoting and flow collections; the
layout it writes is the canonical one: two-space mappings, sequences indented two with their
dash, no trailing spaces, one final newline, long lines never re-wrapped. A rewrite must read
back as exactly the same data, or the file is left alone and the run fails.
Templates (``*.j2``) are not YAML until rendered and are left to their authors.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import yaml_rs
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from reconciler.config.loader import CONFIG_MAX_BYTES, FileProblem, config_files, read_regular
from reconciler.errors import UsageError

SUFFIXES = (".yaml", ".yml")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long description or notice
    return yaml


def canonical(text: str, where: str = "<text>") -> str:
    """``text`` in the canonical layout; UsageError naming the place of a YAML error."""
    yaml = _yaml()
    try:
        data = yaml.load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        raise UsageError(f"{at}: not valid YAML: {err.problem}") from None
    if data is None:
        return text
    out = io.StringIO()
    yaml.dump(data, out)
    result = "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"
    try:
        same = yaml_rs.loads(result) == yaml_rs.loads(text)
    except Exception as err:  # noqa: BLE001 - the loader's own error, reported as such
        raise UsageError(f"{where}: not valid YAML: {err}") from None
    if not same:
        raise UsageError(f"{where}: the canonical layout would change its data; left as it is")
    return result


@dataclass
class Outcome:
    path: Path
    changed: bool


def files(paths: list[str]) -> list[tuple[Path, Path | None]]:
    """The YAML files PATHS stand for, each with the directory it must stay inside (the
    loader's rule: a directory's symlinks resolve inside it): files as given, directories'
    config files."""
    found: list[tuple[Path, Path | None]] = []
    for raw in paths:
        path = Path(raw)
        root = path if path.is_dir() else None
        entries = config_files(path) if root else [path]
        found += [(p, root) for p in entries if p.name.endswith(SUFFIXES) and p.is_file()]
    return found


def format_paths(paths: list[str], *, check: bool) -> list[Outcome]:
    """Rewrite (or with ``check`` only compare) every file; the files that differ. Every file
    is read and formatted before the first is written: on any error nothing is written."""
    results = []
    for path, root in files(paths):
        try:
            text = read_regular(path, CONFIG_MAX_BYTES, root).decode("utf-8")
        except FileProblem as err:
            raise UsageError(f"{path}: {err}") from None
        results.append((path, text, canonical(text, str(path))))
    for path, text, result in results:
        if result != text and not check:
            path.write_text(result, encoding="utf-8")
    return [Outcome(path, result != text) for path, text, result in results]
