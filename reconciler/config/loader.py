"""load_config: files -> (templates rendered) -> parsed -> validated -> ``Config``.

A config is one file or a directory. In a directory every ``*.yaml``/``*.yml`` file and every
``*.yaml.j2``/``*.yml.j2`` template directly inside it is read, and those directly inside its
subdirectories named after a group type (``work/``, ``public/``, ``meeting/``, ``avchatroom/``,
``community/``: ``TYPE_DIRECTORIES``), in sorted path order; hidden files and other
subdirectories are not (keep values files and Jinja partials in one, such as ``values/``).
Values files given with ``values_files`` are never loaded as config, even when they sit in the
directory.

Templates see the merged values files (later files override earlier ones, mappings merge deeply)
and then ``variables`` (``--var key=value``; ``a.b=x`` sets a nested key; integers, decimals and
true/false become numbers and booleans when they read back exactly, everything else is a string).
"""

from __future__ import annotations

import gc
import hashlib
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml_rs
from pydantic import ValidationError

from reconciler import state as st
from reconciler.config.errors import ConfigError, Issue, Location
from reconciler.config.groups import GroupChecker
from reconciler.config.issues import AT, Pending, did_you_mean, from_validation_error
from reconciler.config.models import TOP_LEVEL_KEYS, AppConfig, Policy
from reconciler.config.source import (
    ALIAS_LIMITS,
    SourceError,
    SourceIndex,
    check_text,
    check_yaml,
    decode,
    parse_yaml,
)
from reconciler.config.templating import (
    TEMPLATE_SUFFIXES,
    TemplateIssue,
    make_environment,
    render,
)
from reconciler.config.version import refusal
from reconciler.heap import collector_paused

CONFIG_SUFFIXES = (".yaml", ".yml")
CONFIG_MAX_BYTES = 512_000_000  # a config file: far above any real one
VALUES_MAX_BYTES = 16_000_000  # a values file
FREEZE_ABOVE = 100_000  # memberships; see _Loader.load
CHUNKED_PARSE_ABOVE = 1_000_000  # characters; see _Loader._parse


@dataclass
class Config:
    """A loaded, valid configuration."""

    app: AppConfig
    policy: Policy
    groups: list[st.Group]
    locations: dict[str, Location]
    base_dir: Path
    digest: str
    files: list[Path]
    values_files: list[Path] = field(default_factory=list)  # as given, in order
    variables: dict[str, str] = field(default_factory=dict)  # the --vars, as given


@dataclass
class _Source:
    path: Path
    display: str
    text: str = ""
    rendered: bool = False
    n_groups: int | None = None
    _index: SourceIndex | None = field(default=None, repr=False)

    @property
    def index(self) -> SourceIndex:
        if self._index is None:
            self._index = SourceIndex(self.text)
        return self._index


# The subdirectories whose files are part of a directory's config: one per group type, named
# as `export --layout per-group` writes them. No other subdirectory is read (values/, partials/).
TYPE_DIRECTORIES: dict[st.GroupType, str] = {t: st.DISPLAY_TYPE[t].lower() for t in st.GroupType}


def config_files(path: Path, exclude: set[Path] | None = None) -> list[Path]:
    """The files a config path stands for (see the module docstring). Every entry with a config
    name is listed, whatever it is: reading refuses links out of the directory, dangling links
    and special files instead of skipping them silently. A type directory is read only when it
    is a directory itself, not a link to one."""
    if not path.is_dir():
        return [path]
    excluded = {p.resolve() for p in exclude or ()}
    folders = [path] + [
        path / name
        for name in TYPE_DIRECTORIES.values()
        if (path / name).is_dir() and not (path / name).is_symlink()
    ]
    return sorted(
        child
        for folder in folders
        for child in folder.iterdir()
        if not child.name.startswith(".")
        and child.name.endswith(CONFIG_SUFFIXES + TEMPLATE_SUFFIXES)
        and not (child.is_dir() and not child.is_symlink())
        and child.resolve() not in excluded
    )


class FileProblem(Exception):
    """A file that must not be read: its message names it and says why."""


def read_regular(path: Path, limit: int, root: Path | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. With ``root``, a symlink must
    resolve inside it. Nothing is opened that could block (FIFOs, devices) or read forever."""
    if path.is_symlink():
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise FileProblem(
                f"a dangling symlink (its target {os.readlink(path)!r} does not exist); "
                "remove it or fix the target"
            ) from None
        if root is not None and not real.is_relative_to(root.resolve()):
            # The target's content is never read, so it cannot end up in an error message.
            raise FileProblem(
                f"a symlink to a file outside the config directory ({root}); copy the "
                "file into the directory, or link to one inside it"
            )
    try:
        info = path.stat()
    except OSError as err:
        raise FileProblem(f"cannot read: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        if stat.S_ISFIFO(info.st_mode):
            kind = "a FIFO (named pipe), not a regular file"
        elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
            kind = "a device, not a regular file"
        raise FileProblem(f"{kind}; configs and values are read from regular files only")
    if info.st_size > limit:
        raise FileProblem(f"{info.st_size:,} bytes; at most {limit:,} bytes are read")
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since the stat, open does not hang.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise FileProblem(f"cannot read: {err.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileProblem("not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileProblem(f"over {limit:,} bytes; at most {limit:,} bytes are read")
    return data


def load_config(
    path: str | Path,
    variables: dict[str, str] | None = None,
    values_files: Sequence[str | Path] | None = None,
) -> Config:
    """Load and validate a config file or directory; raise ConfigError listing every issue."""
    return _Loader(Path(path), variables or {}, [Path(v) for v in values_files or ()]).load()


def render_sources(
    path: str | Path,
    variables: dict[str, str] | None = None,
    values_files: Sequence[str | Path] | None = None,
) -> dict[Path, str]:
    """The text of every config file after template rendering (for a `render` command)."""
    loader = _Loader(Path(path), variables or {}, [Path(v) for v in values_files or ()])
    sources = loader.read_sources()
    if loader.issues:
        raise ConfigError(loader.issues)
    return {s.path: s.text for s in sources}


class _Loader:
    def __init__(self, path: Path, variables: dict[str, str], values_files: list[Path]) -> None:
        self.path = path
        self.variables = variables
        self.values_files = values_files
        self.issues: list[Issue] = []
        self.base_dir = path if path.is_dir() else path.parent
        self.timings: dict[str, float] = {"read": 0.0, "render": 0.0, "parse": 0.0}
        self.timings.update(validate=0.0, finish=0.0)
        self.digest = hashlib.sha256()

    def display(self, file: Path) -> str:
        if self.path in (file.parent, file.parent.parent):  # its own name, even if a link
            return str(file)
        if self.path.is_dir():
            try:
                return str(self.path / file.resolve().relative_to(self.path.resolve()))
            except ValueError:
                return str(file)
        if file.resolve() == self.path.resolve():
            return str(self.path)
        try:
            return str(self.base_dir / file.resolve().relative_to(self.base_dir.resolve()))
        except ValueError:
            return str(file)

    # --- reading ----------------------------------------------------------------------------

    def read_sources(self) -> list[_Source]:
        if not self.path.exists() and not self.path.is_symlink():
            self.issues.append(Issue(None, f"{self.path}: no such file or directory"))
            return []
        files = config_files(self.path, set(self.values_files))
        if not files:
            self.issues.append(
                Issue(
                    None,
                    f"{self.path}: no config files (*.yaml, *.yml, *.yaml.j2, *.yml.j2) in this "
                    "directory",
                )
            )
            return []
        # Values files are read (and their errors reported) even when no file is a template.
        context: dict[str, Any] | None = self.template_context() if self.values_files else None
        env = None
        sources = []
        for file in files:
            source = _Source(file, self.display(file))
            started = time.perf_counter()
            root = self.path if self.path.is_dir() else None
            try:
                text = decode(read_regular(file, CONFIG_MAX_BYTES, root))
            except SourceError as err:
                self.issues.append(Issue(Location(source.display, err.line, err.col), err.message))
                continue
            except FileProblem as err:
                self.issues.append(Issue(Location(source.display, 1, 1), str(err)))
                continue
            self.timings["read"] += time.perf_counter() - started
            if file.name.endswith(TEMPLATE_SUFFIXES):
                started = time.perf_counter()
                if context is None:
                    context = self.template_context()
                if env is None:
                    env = make_environment(self.base_dir)
                try:
                    shown = [str(v) for v in self.values_files]
                    text = render(env, file, self.base_dir, context, self.display, shown)
                except TemplateIssue as err:
                    self.issues.append(err.issue)
                    continue
                finally:
                    self.timings["render"] += time.perf_counter() - started
                text = text.removeprefix("\ufeff")
                source.rendered = True
                try:
                    check_text(text)  # a template can make what no file may hold
                except SourceError as err:
                    self.issues.append(
                        Issue(
                            Location(source.display, err.line, err.col),
                            err.message + self._rendered_note(source),
                        )
                    )
                    continue
            source.text = text
            sources.append(source)
            # The digest covers the rendered texts (hashed now, while memory is low).
            name = file.name.encode()
            body = text.encode("utf-8")
            self.digest.update(len(name).to_bytes(4, "big") + name)
            self.digest.update(len(body).to_bytes(8, "big") + body)
            del body
        return sources

    def template_context(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for file in self.values_files:
            shown = str(file)
            try:
                data = parse_yaml(decode(read_regular(file, VALUES_MAX_BYTES)))
            except SourceError as err:
                self.issues.append(Issue(Location(shown, err.line, err.col), err.message))
                continue
            except FileProblem as err:
                self.issues.append(Issue(Location(shown, 1, 1), f"values file: {err}"))
                continue
            if data is None:
                continue
            if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
                self.issues.append(
                    Issue(
                        Location(shown, 1, 1),
                        "a values file must be a YAML mapping of names to values",
                    )
                )
                continue
            _deep_merge(values, data)
        for key, value in self.variables.items():
            _set_dotted(values, key, _scalar(value))
        return values

    # --- loading ----------------------------------------------------------------------------

    def load(self) -> Config:
        with collector_paused():
            config = self._load()
            if sum(len(g.members or ()) for g in config.groups) >= FREEZE_ABOVE:
                # Move the (acyclic, long-lived) result out of the collector's sight; otherwise
                # the next collections walk every member object again.
                gc.freeze()
            return config

    def _load(self) -> Config:
        sources = self.read_sources()
        self.sources = sources
        pending: list[Pending] = []
        checker = GroupChecker()
        found: dict[str, tuple[int, Any]] = {}  # "app"/"policy" -> (file, data)
        for number, source in enumerate(sources):
            started = time.perf_counter()
            try:
                data, chunks = self._parse(source)
            except SourceError as err:
                self.timings["parse"] += time.perf_counter() - started
                self._syntax_issue(source, err)
                continue
            self.timings["parse"] += time.perf_counter() - started
            if data is None:
                continue
            if not isinstance(data, dict):
                got = "a list (several YAML documents?)" if isinstance(data, list) else "a scalar"
                self.issues.append(
                    Issue(
                        Location(source.display, 1, 1),
                        "a config file must be one YAML mapping with the keys app, policy, "
                        f"groups; got {got}" + self._rendered_note(source),
                    )
                )
                continue
            self._top_level(number, data, found, pending)
            groups = data.pop("groups", None)
            del data
            if chunks is not None and not self._check_chunks(number, source, chunks, checker):
                # An item did not parse on its own: parse the whole file (exact errors, anchors).
                started = time.perf_counter()
                try:
                    groups = parse_yaml(source.text).get("groups")
                except SourceError as err:
                    self._syntax_issue(source, err)
                    continue
                finally:
                    self.timings["parse"] += time.perf_counter() - started
            if groups is None:
                continue
            started = time.perf_counter()
            if not isinstance(groups, list):
                pending.append(
                    Pending(
                        number,
                        ("groups",),
                        "groups: expected a list of groups (each item starting with `- id:`)",
                    )
                )
            else:
                source.n_groups = len(groups)
                checker.check_file(number, groups)
            del groups
            self.timings["validate"] += time.perf_counter() - started
        app = found.get("app")
        policy = found.get("policy")
        started = time.perf_counter()
        if app is not None:
            self._check_required_version(*app)
        app_config = self._model(AppConfig, app, "app", pending)
        policy_config = self._model(Policy, policy, "policy", pending) if policy else Policy()
        if app is None and sources and not self.issues:  # (a file that failed may hold it)
            self.issues.append(
                Issue(
                    None,
                    f"{self.path}: no `app:` section; add one with at least `sdkappid:` (in any "
                    "one file of the config)",
                )
            )
        if app_config is not None:
            checker.check_admin_bans(app_config.admin)
        pending.extend(checker.issues)
        self._resolve(pending)
        if self.issues:
            raise ConfigError(self._sorted(self.issues))
        assert app_config is not None
        locations = self._group_locations(checker)
        self.timings["finish"] += time.perf_counter() - started
        return Config(
            app=app_config,
            policy=policy_config,
            groups=checker.groups,
            locations=locations,
            base_dir=self.base_dir,
            digest=self.digest.hexdigest(),
            files=[s.path for s in sources],
            values_files=self.values_files,
            variables=self.variables,
        )

    def _parse(self, source: _Source) -> tuple[Any, list[tuple[int, int]] | None]:
        """Parse a source. A big file laid out as a plain block list of groups is parsed as its
        header plus one group item at a time, so the raw data of all groups never exists at
        once (validation streams item by item); the result is the same."""
        if len(source.text) >= CHUNKED_PARSE_ABOVE:
            check_yaml(source.text)  # the chunks below are parsed without these checks
            split = source.index.split_groups()
            if split is not None:
                header, chunks = split
                try:
                    data = parse_yaml(header)
                except SourceError:
                    data = None
                if isinstance(data, dict) and "groups" in data and data["groups"] is None:
                    return data, chunks
        return parse_yaml(source.text), None

    def _check_chunks(
        self, number: int, source: _Source, chunks: list[tuple[int, int]], checker: GroupChecker
    ) -> bool:
        mark = checker.mark()
        source.n_groups = len(chunks)
        text = source.text
        parse = validate = 0.0
        try:
            for index, (start, end) in enumerate(chunks):
                started = time.perf_counter()
                try:
                    parsed = yaml_rs.loads(
                        text[start:end], parse_datetime=False, alias_limits=ALIAS_LIMITS
                    )
                except yaml_rs.YAMLDecodeError:
                    parsed = None
                now = time.perf_counter()
                parse += now - started
                if not isinstance(parsed, list) or len(parsed) != 1:
                    checker.rollback(mark)
                    source.n_groups = None
                    return False
                checker.check_group(number, index, parsed[0])
                del parsed
                validate += time.perf_counter() - now
            return True
        finally:
            self.timings["parse"] += parse
            self.timings["validate"] += validate

    def _syntax_issue(self, source: _Source, err: SourceError) -> None:
        self.issues.append(
            Issue(
                Location(source.display, err.line, err.col),
                err.message + self._rendered_note(source),
            )
        )

    def _top_level(
        self,
        number: int,
        data: dict[Any, Any],
        found: dict[str, tuple[int, Any]],
        pending: list[Pending],
    ) -> None:
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                hint = did_you_mean(str(key), TOP_LEVEL_KEYS) or (
                    f"; allowed: {', '.join(TOP_LEVEL_KEYS)} (a values file belongs outside "
                    "the config directory, or in a subdirectory such as values/)"
                )
                pending.append(
                    Pending(number, (key,), f"unknown top-level key {str(key)!r}{hint}", "key")
                )
        for name in ("app", "policy"):
            if name not in data:
                continue
            if name in found:
                pending.append(
                    Pending(
                        number,
                        (name,),
                        f"`{name}` is declared twice: here and at {AT}; declare it once across "
                        "all files",
                        "key",
                        related=(found[name][0], (name,), "key"),
                    )
                )
                continue
            found[name] = (number, data[name])

    def _check_required_version(self, number: int, data: Any) -> None:
        """Refuse the config, alone, when this tool is outside its app.required_version: what
        else it says may mean something else to this version (an unparsable range is one more
        issue of the app section)."""
        if not isinstance(data, dict) or not isinstance(data.get("required_version"), str):
            return
        why = refusal(data["required_version"])
        if why is not None:
            location = self._locate(number, ("app", "required_version"), "value")
            raise ConfigError([Issue(location, why + self._rendered_note(self.sources[number]))])

    def _model(self, model: Any, found: tuple[int, Any] | None, name: str, pending: list[Pending]):
        if found is None:
            return None
        number, data = found
        try:
            return model.model_validate(data)
        except ValidationError as err:
            allowed: dict[tuple[str, ...], tuple[str, ...]] = {(): tuple(model.model_fields)}
            pending.extend(from_validation_error(err, number, (name,), name, allowed))
            return None

    @staticmethod
    def _rendered_note(source: _Source) -> str:
        return " [line:col in the rendered template output]" if source.rendered else ""

    def _locate(self, number: int, path: tuple[Any, ...], target: str) -> Location:
        source = self.sources[number]
        line, col = source.index.locate(path, target, source.n_groups)
        return Location(source.display, line, col)

    def _resolve(self, pending: list[Pending]) -> None:
        for item in pending:
            location = self._locate(item.file, item.path, item.target)
            message = item.message
            if item.related is not None:
                other = self._locate(*item.related)
                shown = f"line {other.line}" if other.file == location.file else str(other)
                message = message.replace(AT, shown)
            message += self._rendered_note(self.sources[item.file])
            self.issues.append(Issue(location, message))

    def _sorted(self, issues: list[Issue]) -> list[Issue]:
        order = {str(v): n - len(self.values_files) for n, v in enumerate(self.values_files)}
        order.update({s.display: n for n, s in enumerate(self.sources)})

        def key(issue: Issue) -> tuple[int, int, int, int]:
            loc = issue.location
            if loc is None:
                return (0, 0, 0, 0)
            return (1, order.get(loc.file, -1), loc.line, loc.col)

        return sorted(issues, key=key)

    def _group_locations(self, checker: GroupChecker) -> dict[str, Location]:
        out: dict[str, Location] = {}
        for gid, (number, index) in checker.seen.items():
            source = self.sources[number]
            found = source.index.item_location(index, source.n_groups or 0)
            if found is None:
                found = source.index.locate(("groups", index), "value", source.n_groups)
            out[gid] = Location(source.display, *found)
        return out


def _deep_merge(into: dict[str, Any], data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def _scalar(value: str) -> Any:
    """A --var value: an integer, decimal or true/false when it reads back exactly the same
    (so `group_size=9` can be used in arithmetic), otherwise the string as given (`007` stays
    "007")."""
    if value in ("true", "false"):
        return value == "true"
    for kind in (int, float):
        try:
            number = kind(value)
        except ValueError:
            continue
        if str(number) == value:
            return number
    return value


def _set_dotted(values: dict[str, Any], key: str, value: str) -> None:
    parts = key.split(".")
    node = values
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value
