"""What every API family shares on the wire: the request base and its outcome, a member who
joins, custom data's Key/Value pairs, and the answer checks every reader makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ConfigDict, ValidationError

from reconciler.errors import ObserveError
from reconciler.tim.errors import MALFORMED, TimAnswerError, TimApiError

if TYPE_CHECKING:
    from reconciler.tim.client import TimClient


@dataclass
class Outcome:
    """What a call achieved beyond "it succeeded"."""

    refused: list[str] = field(default_factory=list)  # accounts the API refused (Result 0)
    offline: list[str] = field(default_factory=list)  # marks not changed: the member is offline
    existed: bool = False  # create_group: a group of the declared type was there already


# A saved plan's requests are read back only in the shape they were written: no unknown field,
# no coercion (planfile.read validates them with pydantic).
EXACT = ConfigDict(extra="forbid", strict=True)


class Request:
    """A write call of a plan. ``api`` is the command; ``count`` the items it carries (for
    summaries). Each one builds its body and reads its answer in ``send``."""

    __pydantic_config__ = EXACT
    api: ClassVar[str]
    group_id: str

    @property
    def count(self) -> int:
        """The accounts, members or marked members the call carries (1 when none)."""
        for name in ("accounts", "members", "marks"):
            items = getattr(self, name, None)
            if isinstance(items, list | dict):
                return len(items)
        return 1

    async def send(self, client: TimClient) -> Outcome:
        raise NotImplementedError


@dataclass
class Joiner:
    """A member joining through create_group or import_group_member."""

    __pydantic_config__ = EXACT

    account: str
    admin: bool = False
    join_time: int | None = None  # import only
    unread: int | None = None  # import only
    custom: dict[str, str] = field(default_factory=dict)  # create_group only


def kv(custom: dict[str, str | None] | dict[str, str]) -> list[dict[str, str]]:
    """Custom data as the API carries it. An empty Value deletes the key
    (modify_group_base_info's documented convention)."""
    return [{"Key": k, "Value": v or ""} for k, v in custom.items()]


def custom_of(items: Any) -> dict[str, str | None]:
    """Custom data (an answer's Key/Value pairs, as they came: a malformed list raises one of
    ``MALFORMED``) as the state model holds it."""
    return {str(pair["Key"]): str(pair.get("Value", "")) for pair in items or []}


def renamed(item: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """``item`` with older field names (2022-2023 SDKs) as the current ones (reference §3
    naming note)."""
    out = dict(item)
    for old, new in renames.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    return out


def listed(answer: dict, api: str, *fields: str) -> list:
    """The list an answer of ``api`` ("service/command") carries under the first of ``fields``
    (current name first) it has. An answer without it is an error naming the API and the field,
    never an empty result: an empty result makes a plan create, remove or drop what exists."""
    for name in fields:
        if name in answer:
            items = answer[name]
            if not isinstance(items, list):
                raise TimAnswerError(api, f"{name} is not a list")
            return items
    raise TimAnswerError(api, f"the answer has no {fields[0]} list")


def item_errors(
    api: str, answer: dict[str, Any], field: str, done: frozenset[int] = frozenset()
) -> None:
    """Raise the first per-item error of a write's answer (codes in ``done`` count as done)."""
    for item in answer.get(field) or []:
        code = item.get("ErrorCode", 0) if isinstance(item, dict) else 0
        if code and code not in done:
            raise TimApiError(api, int(code), str(item.get("ErrorInfo", "")))


def refused(answer: dict[str, Any]) -> list[str]:
    """The accounts of a MemberList answer whose Result is 0 (refused)."""
    items = answer.get("MemberList") or []
    return [
        str(m.get("Member_Account")) for m in items if isinstance(m, dict) and m.get("Result") == 0
    ]


def accounts_in(group_id: str, api: str, items: list, field: str) -> list[str]:
    """``[{<field>: account, ...}]`` -> the accounts, in order."""
    try:
        accounts = [item[field] for item in items]
        if not all(type(a) is str for a in accounts):
            raise ValueError(f"a {field} is not a string")
    except MALFORMED as err:
        raise malformed(group_id, api, err) from None
    return accounts


def malformed(group_id: str, api: str, err: Exception) -> ObserveError:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        what = f"{where}: {first['msg']}" if where else first["msg"]
    elif isinstance(err, KeyError):
        what = f"missing field {err}"
    else:
        what = str(err)
    return ObserveError(
        f"group {group_id}: {api} answered something that is not a valid answer ({what}); "
        "check that the endpoint is a Tencent Cloud Chat REST API"
    )
