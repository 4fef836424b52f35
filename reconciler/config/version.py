"""``app.required_version``: the versions of the tool a config is written for, as a PEP 440
specifier (``>=0.2, <0.3``), like Terraform's ``required_version``. A tool outside the range
refuses the config before anything else is checked or called: a config written for another
version may mean something else to this one.

Development builds (``0.2.0.dev3+g1a2b3c4``) are compared by their place among releases: just
below 0.2.0, so ``>=0.1`` admits them and ``>=0.2`` does not.
"""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from reconciler import __version__

TOOL = "reconciler"


def specifier(text: str) -> SpecifierSet:
    """``text`` as a specifier set; ValueError says how it is written when it is not one."""
    try:
        spec = SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(
            f"{text!r} is not a PEP 440 version specifier; write e.g. '>=0.2, <0.3' or '~=0.2.1'"
        ) from None
    if not str(spec):
        raise ValueError("an empty specifier admits every version; leave the key out instead")
    return spec


def refusal(required: str, running: str | None = None) -> str | None:
    """Why ``running`` may not use a config requiring ``required``; None when it may (or when
    ``required`` is not a specifier: the config's own validation reports that). ``running`` is
    this tool's version unless given."""
    running = running or __version__
    try:
        spec = specifier(required)
    except ValueError:
        return None
    try:
        version = Version(running)
    except InvalidVersion:  # cannot happen with a built package; refuse rather than guess
        version = None
    if version is not None and spec.contains(version, prereleases=True):
        return None
    return (
        f"this config requires {TOOL} {required.strip()} (app.required_version), but this is "
        f"{TOOL} {running}; install a version in that range. Nothing was called."
    )
