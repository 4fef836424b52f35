"""Located configuration issues: every problem a user can cause says where and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.errors import ReconcilerError


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a config file; ``line`` and ``col`` are 1-based."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in the configuration."""

    location: Location | None
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigError(ReconcilerError):
    """The configuration is not usable; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(map(str, self.issues)))

    def __str__(self) -> str:
        return "\n".join(map(str, self.issues))

    def report(self) -> str:
        return f"{self}\n{len(self.issues)} error(s) in the configuration."
