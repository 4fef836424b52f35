"""The config format as pydantic types: validation of plain data, and the JSON Schema.

``AppConfig`` and ``Policy`` are models (the rest of the program reads them). Groups and members
are ``TypedDict``s: validated in Rust without building a model per member, so a million
memberships validate in a fraction of a second; ``reconciler.config.groups`` then turns them into
``st.Group``. Every field carries a description (its meaning and limits) for editors.
"""

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from reconciler import state as st
from reconciler.config.version import specifier
from reconciler.tim import limits, wire
from reconciler.tim.endpoints import REGIONS as ENDPOINT_REGIONS
from reconciler.tim.endpoints import check_written
from reconciler.tim.limits import Limits as LimitsTable

# Region names accepted by `app.endpoint` (the REST client maps them to the documented domains).
REGIONS = tuple(ENDPOINT_REGIONS)

GROUP_TYPE_NAMES = ("Work", "Public", "Meeting", "AVChatRoom", "Community", "Private", "ChatRoom")
GroupTypeName = Literal[
    "Work", "Public", "Meeting", "AVChatRoom", "Community", "Private", "ChatRoom"
]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A name this long, not all capitals, digits and _, is taken for a pasted secret.
_SECRET_LIKE_LENGTH = 32
_CAPITALS = re.compile(r"[A-Z0-9_]+")
_ENV_NAME_SCHEMA: dict[str, Any] = {
    "pattern": f"^{_ENV_NAME.pattern}$",
    "anyOf": [{"maxLength": _SECRET_LIKE_LENGTH - 1}, {"pattern": f"^{_CAPITALS.pattern}$"}],
}


def _bytes(limit: int) -> dict[str, Any]:
    # Editors check characters; the loader checks UTF-8 bytes (a CJK character is 3 bytes).
    return {"maxLength": limit}


def _account_schema() -> dict[str, Any]:
    return {
        "minLength": 1,
        "maxLength": limits.ACCOUNT_MAX_BYTES,
        "pattern": limits.ACCOUNT_PATTERN,
    }


def literal_pattern(text: str) -> str:
    """``text`` as a regex matching itself, in Python's and ECMA-262's syntax alike."""
    return re.sub(r"([\\^$.*+?()\[\]{}|/])", r"\\\1", text)


def _same_width(low: str, high: str) -> list[str]:
    """Regexes that together match the numbers ``low``..``high``, written with as many digits."""
    if low == high:
        return [low]
    if low[0] == high[0]:
        return [low[0] + rest for rest in _same_width(low[1:], high[1:])]
    width, first, last = len(low) - 1, int(low[0]), int(high[0])
    head, tail = [], []
    if low[1:].strip("0"):  # low's first digit only with the rest from low[1:]
        head = [low[0] + rest for rest in _same_width(low[1:], "9" * width)]
        first += 1
    if high[1:].strip("9"):  # high's first digit only with the rest up to high[1:]
        tail = [high[0] + rest for rest in _same_width("0" * width, high[1:])]
        last -= 1
    if first <= last:
        digit = str(first) if first == last else f"[{first}-{last}]"
        head.append(digit + (f"[0-9]{{{width}}}" if width else ""))
    return head + tail


def number_pattern(numbers: list[int], low: int, high: int) -> str:
    """A regex of the decimal texts of ``numbers`` and of ``low``..``high`` (leading zeros
    allowed, as the loader reads a mark's key)."""
    parts, whole = [str(n) for n in numbers], []  # whole: widths all of whose numbers count
    for width in range(len(str(low)), len(str(high)) + 1):
        floor = str(low) if width == len(str(low)) else "1" + "0" * (width - 1)
        ceiling = str(high) if width == len(str(high)) else "9" * width
        if floor == "1" + "0" * (width - 1) and ceiling == "9" * width:
            whole.append(width - 1)
        else:
            parts += _same_width(floor, ceiling)
    if whole:
        parts.append(f"[1-9][0-9]{{{min(whole)},{max(whole)}}}")
    return f"^0*({'|'.join(parts)})$"


# IDs of a Community's topics and permission groups: the custom part, or the full ID (a topic's
# full ID begins with its group's ID, which only the checker compares).
_ASCII = limits.PRINTABLE_ASCII_CLASS
_TOPIC_SUFFIX = (
    "".join(f"(?!.*{literal_pattern(part)})" for part in limits.TOPIC_SUFFIX_FORBIDDEN)
    + f"{_ASCII}{{1,{limits.TOPIC_SUFFIX_MAX_BYTES}}}"
)
TOPIC_ID_PATTERN = (
    f"^({literal_pattern(limits.COMMUNITY_ID_PREFIX)}{_ASCII}+{literal_pattern(limits.TOPIC_INFIX)})?"
    f"{_TOPIC_SUFFIX}$"
)
# The custom part may not begin what, after the prefix, makes the server's own IDs ("@PMG#").
_SERVER_PART = limits.PERMISSION_GROUP_SERVER_PREFIX.removeprefix(limits.PERMISSION_GROUP_PREFIX)
PERMISSION_GROUP_ID_PATTERN = (
    f"^({literal_pattern(limits.PERMISSION_GROUP_PREFIX)})?(?!{literal_pattern(_SERVER_PART)})"
    f"{_ASCII}{{1,{limits.TOPIC_SUFFIX_MAX_BYTES}}}$"
)
MARK_PATTERN = number_pattern(sorted(limits.SPECIAL_MARKS), limits.MIN_CUSTOM_MARK, limits.MAX_MARK)
# Keys of `custom`: any name but the empty one.
_CUSTOM_KEYS = {"propertyNames": {"minLength": 1}}

RATE_LIMIT_MAX = 100_000

# Keys that only some group types take: key -> (those types, what to do on the others). The
# checker refuses the key set (not null) on any other type with that fix; the JSON Schema states
# the same rules (reconciler.config.schema).
_AV = frozenset({st.GroupType.AVChatRoom})
_COMMUNITY = frozenset({st.GroupType.Community})
_ALL = frozenset(st.GroupType)
TYPE_ONLY_KEYS: dict[str, tuple[frozenset[st.GroupType], str]] = {
    "members": (
        _ALL - _AV,
        "AVChatRoom groups have no member list (members join through the client SDK); remove "
        "`members` (use `marks` to mark online members)",
    ),
    "invite_join": (_ALL - _AV, "invite_join does not apply to AVChatRoom groups; remove it"),
    "max_members": (
        _ALL - _AV,
        "AVChatRoom groups have no member limit (max_members is ignored by the API); remove it",
    ),
    "apply_join": (_ALL - _COMMUNITY, "apply_join does not apply to Community groups; remove it"),
    "marks": (
        _AV,
        "marks are for AVChatRoom groups only (this group is {shown}); remove `marks`",
    ),
    "admins": (
        _AV,
        "`admins` is for AVChatRoom groups only (this group is {shown}); set `role: Admin` on "
        "the member instead",
    ),
    "muted": (
        _AV,
        "`muted` is for AVChatRoom groups only (this group is {shown}); set `muted_until` on "
        "the member instead",
    ),
    "banned": (
        _AV,
        "`banned` is for AVChatRoom groups only (this group is {shown}); bans are an "
        "AVChatRoom feature; remove the member instead",
    ),
    **{
        key: (
            _COMMUNITY,
            f"`{key}` is for Community groups only (this group is {{shown}}); remove it",
        )
        for key in (
            "support_topic",
            "enable_permission",
            "default_permission",
            "topics",
            "permission_groups",
        )
    },
}
# Keys that need another key declared true (seed 003, EN-49471): key -> [(that key, the fix)].
_NEEDS_TOPICS = (
    "support_topic",
    "`{key}` needs a Community with topics: declare `support_topic: true` (set only when the "
    "group is created)",
)
NEEDS_TRUE: dict[str, list[tuple[str, str]]] = {
    "enable_permission": [_NEEDS_TOPICS],
    "default_permission": [
        _NEEDS_TOPICS,
        (
            "enable_permission",
            "default_permission needs `enable_permission: true` (permission groups on); remove "
            "it or turn permission groups on",
        ),
    ],
    "topics": [_NEEDS_TOPICS],
    "permission_groups": [_NEEDS_TOPICS],
}

# RFC 3339 date-time (the JSON Schema's `date-time`; `T` and `Z` in either case), as the loader
# reads `muted_until`; the schema narrows the year to the Unix seconds' range (1970 to 2106).
_DATE_TIME_REST = (
    "-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    "(\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
DATE_TIME = re.compile(f"^[0-9]{{4}}{_DATE_TIME_REST}")
DATE_TIME_SCHEMA_PATTERN = f"^(1969|19[7-9][0-9]|20[0-9][0-9]|210[0-6]){_DATE_TIME_REST}"


def mark_keys(value: Any) -> Any:
    """Mark keys: YAML numbers, or digit strings (a JSON Schema sees every key as a string). The
    two spellings of one number are one mark: refuse them together instead of merging."""
    if not isinstance(value, dict):
        return value
    out: dict[Any, Any] = {}
    spelled: dict[Any, Any] = {}
    for key, accounts in value.items():
        number = key
        if isinstance(key, str) and key.isascii() and key.isdigit():
            number = int(key)
        if number in out and not isinstance(number, bool):
            raise ValueError(
                f"mark {number} is declared twice (as {spelled[number]!r} and {key!r}); "
                "merge the two lists under one key"
            )
        out[number], spelled[number] = accounts, key
    return out


# The API names a batch size or a rate may be given for: Literals built from the registered
# requests at run time, which a type checker cannot see (to it, any name).
if TYPE_CHECKING:
    BatchApi = str
    RateApi = str
else:
    BatchApi = Literal[tuple(limits.BATCH)]
    RateApi = Literal[wire.APIS]


class LimitsConfig(BaseModel):
    """Batch sizes and rates that differ from the documented ones, for an app that bought
    higher limits or meets stricter ones (`app.limits`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    batch: dict[BatchApi, Annotated[int, Field(ge=1, le=limits.BATCH_MAX)]] = Field(
        default_factory=dict,
        description="API -> most items per call (documented: "
        + ", ".join(f"{api} {n}" for api, n in limits.BATCH.items())
        + "). The client also learns smaller sizes when the server refuses a call's size "
        "(10005, or 10018 for get_group_info) and keeps them for the run.",
    )
    rates: dict[RateApi, Annotated[float, Field(gt=0, le=RATE_LIMIT_MAX, allow_inf_nan=False)]] = (
        Field(
            default_factory=dict,
            description="API -> calls per second (documented: 200, except "
            + ", ".join(f"{api} {rate:g}" for api, rate in limits.RATES.items())
            + "; `rate_limit` lowers them all).",
        )
    )


class AppConfig(BaseModel):
    """The Chat application the groups belong to, and how to reach its REST API."""

    # Strict: exactly what the JSON Schema accepts ("50" is not 50, "off" is not false).
    model_config = ConfigDict(extra="forbid", strict=True)

    sdkappid: int = Field(
        gt=0,
        le=limits.INT64_MAX,
        description="SDKAppID of the Chat application (console > Applications).",
    )
    admin: str = Field(
        default="administrator",
        min_length=1,
        description="App admin account (UserID) that signs every REST call: printable ASCII, "
        "at most 32 bytes. Never removed from a group.",
        json_schema_extra=_account_schema(),
    )
    endpoint: str = Field(
        default="local",
        description="Where the REST API is: `local` (the embedded emulator, state in `local_db`), "
        f"a region ({', '.join(REGIONS)}), an https:// URL, or an http:// URL on a loopback "
        "host (a local emulator server).",
    )
    secret_key_env: str = Field(
        default="TIM_SECRET_KEY",
        description="Name of the environment variable holding the app's secret key. The key "
        "itself never lives in YAML.",
        json_schema_extra=_ENV_NAME_SCHEMA,
    )
    callback_token_env: str = Field(
        default="TIM_CALLBACK_TOKEN",
        description="Name of the environment variable holding the callback token set in the "
        "console (`reconciler watch` checks each callback's Sign with it).",
        json_schema_extra=_ENV_NAME_SCHEMA,
    )
    rate_limit: float = Field(
        default=200,
        gt=0,
        le=RATE_LIMIT_MAX,
        allow_inf_nan=False,
        description="Client-side limit in calls per second, per API (finite, above 0, at "
        f"most {RATE_LIMIT_MAX:,}).",
    )
    create_missing_accounts: bool = Field(
        default=False,
        description="Plan multiaccount_import for members whose accounts do not exist yet "
        "(otherwise such members are an error in the plan).",
    )
    local_db: str = Field(
        default=".reconciler/local.sqlite3",
        min_length=1,
        description="SQLite file of the embedded emulator (endpoint: local); relative paths are "
        "relative to the config file or directory.",
    )
    # The emulator's profiles (reconciler.emulator.profiles; a test keeps the two in step).
    emulator_profile: Literal["default", "latest"] = Field(
        default="default",
        description="Which reading of the vendor's docs the embedded emulator (endpoint: local) "
        "holds to: `default` (the seed pages) or `latest` (the strictest current one: 20 "
        "accounts per add/import call, 1 MB answers, JoinTime rules, big member lists left out).",
    )
    required_version: str | None = Field(
        default=None,
        min_length=1,
        description="The versions of reconciler this config is written for, as a PEP 440 "
        "specifier (`>=0.2, <0.3`, `~=0.2.1`), like Terraform's `required_version`: every command "
        "refuses the config, before any call, when the running tool is outside the range. "
        "Development builds count as just below their release (0.2.0.dev3 < 0.2.0).",
        examples=[">=0.2, <0.3"],
        # Every specifier begins with an operator; the rest of PEP 440's grammar is the loader's.
        json_schema_extra={"pattern": "^[\\s,]*(~=|==|!=|<|>)"},
    )
    limits: LimitsConfig = Field(
        default_factory=LimitsConfig,
        description="Batch sizes and per-API rates other than the documented ones "
        "(`batch: {import_group_member: 20}`, `rates: {account_check: 50}`).",
    )

    def limits_table(self) -> LimitsTable:
        """The client's table of batch sizes and rates for this app."""
        return LimitsTable(
            default_rate=self.rate_limit,
            batch=dict(self.limits.batch),
            rates=dict(self.limits.rates),
        )

    @field_validator("required_version")
    @classmethod
    def _required_version(cls, value: str | None) -> str | None:
        if value is not None:
            specifier(value)
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_written(value)

    @field_validator("admin")
    @classmethod
    def _admin(cls, value: str) -> str:
        problem = limits.account_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("secret_key_env", "callback_token_env")
    @classmethod
    def _env_name(cls, value: str, info: ValidationInfo) -> str:
        # Never echo the value: a common mistake is to paste the secret itself here.
        example = cls.model_fields[info.field_name or ""].default
        what = "secret key" if info.field_name == "secret_key_env" else "callback token"
        if len(value) >= _SECRET_LIKE_LENGTH and not _CAPITALS.fullmatch(value):
            raise ValueError(
                f"this looks like a {what}, not the name of an environment variable; put the "
                f"{what} in an environment variable (e.g. {example}) and write its name here "
                f"(and rotate the {what} if this file was shared)"
            )
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must be an environment variable name (letters, digits, _; not starting with a "
                f"digit), e.g. {example}"
            )
        return value


class Policy(BaseModel):
    """Safety rails applied when planning."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_removal_fraction: float = Field(
        default=0.25,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Largest fraction (0..1) of a group's current members that one plan may "
        "remove; a plan removing more is refused. 0 allows no removals, 1 allows all. Applies "
        "to groups of at least `min_group_size_for_guard` members.",
    )
    min_group_size_for_guard: int = Field(
        default=10,
        ge=0,
        le=limits.INT64_MAX,
        description="Groups with fewer current members than this are not guarded by "
        "`max_removal_fraction`.",
    )


# --- groups and members -----------------------------------------------------------------------


def _date_time(text: str) -> datetime | date:
    """``text`` as an RFC 3339 date-time; a date, or a date-time without a zone, is returned
    for the caller's messages about them; anything else is refused here."""
    try:
        if DATE_TIME.fullmatch(text):
            return datetime.fromisoformat(text.upper())
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return date.fromisoformat(text)
        naive = datetime.fromisoformat(text.strip().upper())
        if naive.tzinfo is None:
            return naive
    except ValueError:
        pass
    raise ValueError(
        f"{text!r} is not a date-time; write it like 2026-12-01T00:00:00Z (RFC 3339: the date, "
        "T, the time with seconds, the zone), or as Unix seconds, or null for not muted"
    )


def to_unix_seconds(value: Any) -> Any:
    """muted_until: an aware date-time or Unix seconds -> int; explicit null -> 0 (not muted)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError("expected a date-time like 2026-12-01T00:00:00Z or Unix seconds")
    if isinstance(value, str):
        value = _date_time(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{value.isoformat()} has no time zone; add one, e.g. "
                f"{value.strftime('%Y-%m-%dT%H:%M:%S')}Z for UTC or +08:00"
            )
        value = int(value.timestamp())
    if isinstance(value, int) and value < 0:
        raise ValueError(f"{value} is before 1970; use a date-time like 2026-12-01T00:00:00Z")
    if isinstance(value, int) and value > limits.UNIX_TIME_MAX:
        raise ValueError(
            f"{value} is after 2106 (Unix seconds are at most {limits.UNIX_TIME_MAX}); use a "
            "date-time like 2026-12-01T00:00:00Z"
        )
    if isinstance(value, date):
        raise ValueError(
            f"{value.isoformat()} is a date; muted_until needs a date-time with a zone, e.g. "
            f"{value.isoformat()}T00:00:00Z"
        )
    return value


MutedUntil = Annotated[
    int,
    BeforeValidator(
        to_unix_seconds,
        json_schema_input_type=Annotated[
            str,
            Field(json_schema_extra={"format": "date-time", "pattern": DATE_TIME_SCHEMA_PATTERN}),
        ]
        | Annotated[int, Field(ge=0, le=limits.UNIX_TIME_MAX)]
        | None,
    ),
]

_ACCOUNT_DESC = (
    "Account (UserID): printable ASCII (0x20-0x7e), 1 to 32 bytes. Quote IDs that look like "
    "numbers."
)


# Texts a group and a Community topic share, with the same limits.
Introduction = Annotated[
    str | None,
    Field(
        description=f"Introduction; at most {limits.INTRODUCTION_MAX_BYTES} bytes (UTF-8).",
        json_schema_extra=_bytes(limits.INTRODUCTION_MAX_BYTES),
    ),
]
Notification = Annotated[
    str | None,
    Field(
        description=f"Notice board text; at most {limits.NOTIFICATION_MAX_BYTES} bytes (UTF-8).",
        json_schema_extra=_bytes(limits.NOTIFICATION_MAX_BYTES),
    ),
]
FaceUrl = Annotated[
    str | None,
    Field(
        description=f"Avatar URL; at most {limits.FACE_URL_MAX_BYTES} bytes.",
        json_schema_extra=_bytes(limits.FACE_URL_MAX_BYTES),
    ),
]


class MemberSpec(TypedDict):
    """A group member. Keys left out are not managed."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[misc]

    account: Annotated[str, Field(description=_ACCOUNT_DESC, json_schema_extra=_account_schema())]
    role: NotRequired[
        Annotated[
            Literal["Member", "Admin", "Owner"] | None,
            Field(
                description="Member or Admin. The owner is chosen by the group's `owner`; "
                "`Owner` is accepted only on the owner's own entry, which takes no other role."
            ),
        ]
    ]
    name_card: NotRequired[
        Annotated[
            str | None,
            Field(
                description="Name card shown in the group; at most 50 bytes (UTF-8).",
                json_schema_extra=_bytes(limits.NAME_CARD_MAX_BYTES),
            ),
        ]
    ]
    msg_flag: NotRequired[
        Annotated[
            Literal["AcceptAndNotify", "AcceptNotNotify", "Discard"] | None,
            Field(description="How the member receives group messages."),
        ]
    ]
    muted_until: NotRequired[
        Annotated[
            MutedUntil,
            Field(
                description="Muted until this absolute time (an RFC 3339 date-time with a zone, "
                "e.g. 2026-12-01T00:00:00Z, or Unix seconds), between 1970 and 2106 (Unix "
                "seconds 0 to 2^32-1); null = not muted. Not in Work groups (there only null, 0 "
                "or the start of 1970)."
            ),
        ]
    ]
    custom: NotRequired[
        Annotated[
            dict[str, str | None] | None,
            Field(
                description="AppMemberDefinedData: key -> string value; a key set to null is "
                "deleted. Keys must be declared in the console first.",
                json_schema_extra=_CUSTOM_KEYS,
            ),
        ]
    ]
    join_time: NotRequired[
        Annotated[
            int | None,
            Field(
                ge=0,
                le=limits.UNIX_TIME_MAX,
                description="Unix seconds; used only when the member is imported.",
            ),
        ]
    ]
    unread: NotRequired[
        Annotated[
            int | None,
            Field(
                ge=0,
                le=limits.INT64_MAX,
                description="Unread message count; used only when imported.",
            ),
        ]
    ]


# Names of the member union's branches; they appear in validation error paths (the loader keeps
# the errors of the branch that matches the input's kind and strips the name).
MEMBER_TAGS = ("str", "MemberSpec")

MemberItem = (
    Annotated[
        str,
        Field(
            description="Shorthand for {account: ...}. " + _ACCOUNT_DESC,
            json_schema_extra=_account_schema(),
        ),
    ]
    | MemberSpec
)


class TopicSpec(TypedDict):
    """A Community topic. Keys left out (or null) are not managed."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[misc]

    id: Annotated[
        str,
        Field(
            description="The topic's custom ID: the part after `<group id>@TOPIC#_` (the full "
            "ID, beginning with this group's ID, is accepted too); printable ASCII, at most "
            f"{limits.TOPIC_SUFFIX_MAX_BYTES} bytes, without @TGS#_ or @TOPIC#_; the full ID "
            f"at most {limits.TOPIC_ID_MAX_BYTES} bytes. Each topic once.",
            json_schema_extra={"pattern": TOPIC_ID_PATTERN},
        ),
    ]
    state: NotRequired[
        Annotated[
            Literal["present", "absent"],
            Field(
                description="present (default) or absent: destroy the topic (only with the "
                "explicit opt-in of apply, --allow-destroy)."
            ),
        ]
    ]
    name: NotRequired[
        Annotated[
            str | None,
            Field(
                description=f"Topic name; at most {limits.TOPIC_NAME_MAX_BYTES} bytes (UTF-8), "
                "not empty. Required to create a topic.",
                json_schema_extra=_bytes(limits.TOPIC_NAME_MAX_BYTES),
            ),
        ]
    ]
    introduction: NotRequired[Introduction]
    notification: NotRequired[Notification]
    face_url: NotRequired[FaceUrl]
    custom_string: NotRequired[
        Annotated[
            str | None,
            Field(
                description="CustomString: free text for the app; at most "
                f"{limits.TOPIC_CUSTOM_STRING_MAX_BYTES:,} bytes (UTF-8).",
                json_schema_extra=_bytes(limits.TOPIC_CUSTOM_STRING_MAX_BYTES),
            ),
        ]
    ]
    mute_all: NotRequired[
        Annotated[
            bool | None,
            Field(description="Mute everyone in the topic except the owner and admins."),
        ]
    ]


class PermissionGroupSpec(TypedDict):
    """A Community permission group. Keys left out (or null) are not managed."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[misc]

    id: Annotated[
        str,
        Field(
            description="The permission group's custom ID: the part after `@PMG#_` (the full ID "
            f"is accepted too); printable ASCII, at most {limits.TOPIC_SUFFIX_MAX_BYTES} bytes, "
            "not starting with @PMG# (the server's own IDs). Each permission group once.",
            json_schema_extra={"pattern": PERMISSION_GROUP_ID_PATTERN},
        ),
    ]
    state: NotRequired[
        Annotated[
            Literal["present", "absent"],
            Field(
                description="present (default) or absent: delete the permission group (only "
                "with the explicit opt-in of apply, --allow-destroy)."
            ),
        ]
    ]
    name: NotRequired[
        Annotated[
            str | None,
            Field(
                description="Name; at most "
                f"{limits.PERMISSION_GROUP_NAME_MAX_BYTES} bytes (UTF-8). Required to create one.",
                json_schema_extra=_bytes(limits.PERMISSION_GROUP_NAME_MAX_BYTES),
            ),
        ]
    ]
    permission: NotRequired[
        Annotated[
            int | None,
            Field(
                ge=0,
                le=limits.INT64_MAX,
                description="What its members may do in the community: a bit set (Permission).",
            ),
        ]
    ]
    custom_string: NotRequired[
        Annotated[
            str | None,
            Field(
                description="CustomString: free text for the app; at most "
                f"{limits.TOPIC_CUSTOM_STRING_MAX_BYTES:,} bytes (UTF-8).",
                json_schema_extra=_bytes(limits.TOPIC_CUSTOM_STRING_MAX_BYTES),
            ),
        ]
    ]
    members: NotRequired[
        Annotated[
            Annotated[
                list[Annotated[str, Field(json_schema_extra=_account_schema())]],
                Field(json_schema_extra={"uniqueItems": True}),
            ]
            | None,
            Field(
                description="Its members, each once: accounts that are members of the community "
                "(when its `members` are declared and authoritative, they are checked against "
                "them); exact: others are taken out of the permission group (they stay in the "
                "community). Not with `state: absent`."
            ),
        ]
    ]
    topic_permissions: NotRequired[
        Annotated[
            dict[str, Annotated[int, Field(ge=0, le=limits.INT64_MAX)]] | None,
            Field(
                description="Topic ID (as under `topics`; each topic once, and not one declared "
                "`state: absent`) -> what its members may do in that topic, a bit set. Topics "
                "not listed are left alone. Not with `state: absent`.",
                json_schema_extra={"propertyNames": {"pattern": TOPIC_ID_PATTERN}},
            ),
        ]
    ]


class GroupSpec(TypedDict):
    """A chat group. Keys left out (or null) are not managed: the reconciler never changes them."""

    # The rules between its keys (per group type) are stated in reconciler.config.schema.
    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[misc]

    id: Annotated[
        str,
        Field(
            description="Group ID: a custom ID (printable ASCII, at most 48 bytes, not starting "
            "with @TGS#; Community IDs must start with @TGS#_), or an existing server-assigned "
            "@TGS#... ID to adopt that group.",
            json_schema_extra={
                "minLength": 1,
                "maxLength": limits.GROUP_ID_MAX_BYTES,
                "pattern": limits.GROUP_ID_PATTERN,
            },
        ),
    ]
    type: Annotated[
        GroupTypeName,
        Field(
            description="Work (=Private), Public, Meeting (=ChatRoom), AVChatRoom (live "
            "streaming: members join through the client SDK) or Community."
        ),
    ]
    state: NotRequired[
        Annotated[
            Literal["present", "absent"],
            Field(
                description="present (default) or absent: destroy the group (only with the "
                "explicit opt-in of apply)."
            ),
        ]
    ]
    name: NotRequired[
        Annotated[
            str | None,
            Field(
                description="Group name; at most 30 bytes (UTF-8). Required to create a group.",
                json_schema_extra=_bytes(limits.NAME_MAX_BYTES),
            ),
        ]
    ]
    owner: NotRequired[
        Annotated[
            str | None,
            Field(
                description="Owner account (must exist); changed with change_group_owner. "
                + _ACCOUNT_DESC,
                json_schema_extra=_account_schema(),
            ),
        ]
    ]
    introduction: NotRequired[Introduction]
    notification: NotRequired[Notification]
    face_url: NotRequired[FaceUrl]
    max_members: NotRequired[
        Annotated[
            int | None,
            Field(
                ge=1,
                le=max(limits.MAX_MEMBERS_CEILING.values()),
                description="Member limit (MaxMemberNum), within the plan's ceiling (6,000 for "
                "Work/Public/Meeting on paid plans, 100,000 for Community); not less than the "
                "declared members (+ the owner). Not for AVChatRoom (unlimited).",
            ),
        ]
    ]
    apply_join: NotRequired[
        Annotated[
            Literal["FreeAccess", "NeedPermission", "DisableApply"] | None,
            Field(description="Who may apply to join. Not for Community."),
        ]
    ]
    invite_join: NotRequired[
        Annotated[
            Literal["FreeAccess", "NeedPermission", "DisableInvite"] | None,
            Field(description="Whether members may invite others. Not for AVChatRoom."),
        ]
    ]
    mute_all: NotRequired[
        Annotated[
            bool | None,
            Field(description="Mute everyone except the owner and admins."),
        ]
    ]
    custom: NotRequired[
        Annotated[
            dict[str, str | None] | None,
            Field(
                description="AppDefinedData: key -> string value; a key set to null is deleted. "
                "Keys must be declared in the console first.",
                json_schema_extra=_CUSTOM_KEYS,
            ),
        ]
    ]
    protect: NotRequired[
        Annotated[
            bool,
            Field(
                description="Never destroy this group and never remove its members (default false)."
            ),
        ]
    ]
    members_mode: NotRequired[
        Annotated[
            Literal["authoritative", "additive"],
            Field(
                description="authoritative (default): members not listed are removed (guarded "
                "by policy.max_removal_fraction); additive: listed members are added/updated, "
                "nobody is removed."
            ),
        ]
    ]
    members: NotRequired[
        Annotated[
            list[MemberItem] | None,
            Field(
                description="Members: an account string, or a mapping with `account` and "
                "managed attributes; each account once (`a` and `{account: a}` are one member). "
                "Leave the key out to leave membership unmanaged. Not for AVChatRoom."
            ),
        ]
    ]
    marks: NotRequired[
        Annotated[
            Annotated[
                dict[
                    Annotated[int, Field(le=limits.MAX_MARK)],
                    Annotated[
                        list[Annotated[str, Field(json_schema_extra=_account_schema())]],
                        Field(
                            json_schema_extra={
                                "maxItems": limits.MAX_ACCOUNTS_PER_MARK,
                                "uniqueItems": True,
                            }
                        ),
                    ],
                ],
                BeforeValidator(mark_keys),
                Field(
                    json_schema_extra={
                        "propertyNames": {"pattern": MARK_PATTERN},
                        "maxProperties": limits.MAX_DISTINCT_MARKS,
                    }
                ),
            ]
            | None,
            Field(
                description="AVChatRoom only: mark -> accounts. Marks are numbers >= 1000 (at "
                "most 2^63-1), or the special 500 and 600; at most 10 marks per group and 1,000 "
                "accounts per mark, each account once. A mark is declared once (1000 and "
                "01000 are one mark). Marks apply to online members only (except 500)."
            ),
        ]
    ]
    admins: NotRequired[
        Annotated[
            Annotated[
                list[Annotated[str, Field(json_schema_extra=_account_schema())]],
                Field(
                    json_schema_extra={
                        "maxItems": limits.MAX_AVCHATROOM_ADMINS,
                        "uniqueItems": True,
                    }
                ),
            ]
            | None,
            Field(
                description="AVChatRoom only: the room's admins (modify_admin), at most "
                f"{limits.MAX_AVCHATROOM_ADMINS}; admins not listed are revoked. Kept across "
                "leaving and rejoining. Other types: `role: Admin` on the member."
            ),
        ]
    ]
    muted: NotRequired[
        Annotated[
            dict[Annotated[str, Field(json_schema_extra=_account_schema())], MutedUntil] | None,
            Field(
                description="AVChatRoom only: account -> muted until this absolute time (a "
                "date-time with a zone, or Unix seconds); null = not muted. Accounts not listed "
                "are left alone. Other types: `muted_until` on the member."
            ),
        ]
    ]
    banned: NotRequired[
        Annotated[
            dict[Annotated[str, Field(json_schema_extra=_account_schema())], MutedUntil] | None,
            Field(
                description="AVChatRoom only: account -> banned until this absolute time; null "
                "= not banned. Banning removes the account from the room until then, so neither "
                "the group's owner nor app.admin may be banned. Accounts not listed are left "
                "alone."
            ),
        ]
    ]
    support_topic: NotRequired[
        Annotated[
            bool | None,
            Field(
                description="Community only: the community has topics (SupportTopic). Set "
                "only when the group is created: changing it means recreating the group."
            ),
        ]
    ]
    enable_permission: NotRequired[
        Annotated[
            bool | None,
            Field(
                description="Community with `support_topic: true` only: permission groups "
                "decide what members may do (EnablePermission)."
            ),
        ]
    ]
    default_permission: NotRequired[
        Annotated[
            int | None,
            Field(
                ge=0,
                le=limits.INT64_MAX,
                description="Community with `support_topic: true` and `enable_permission: "
                "true` only: the members' default permissions, a bit set (DefaultPermission).",
            ),
        ]
    ]
    topics: NotRequired[
        Annotated[
            list[TopicSpec] | None,
            Field(
                description="Community with `support_topic: true` only: its topics (created, "
                "modified, and destroyed with `state: absent` and --allow-destroy). Topics "
                "not listed are left alone."
            ),
        ]
    ]
    permission_groups: NotRequired[
        Annotated[
            list[PermissionGroupSpec] | None,
            Field(
                description="Community with `support_topic: true` only: its permission groups "
                "(created, modified, and deleted with `state: absent` and --allow-destroy), "
                "with members and topic permissions. Permission groups not listed are left "
                "alone."
            ),
        ]
    ]


class ConfigFile(BaseModel):
    """One tim-reconciler config file. A config is a file or a directory of them: `app` and
    `policy` appear once across the files; `groups` are merged. Types are strict: a whole number
    is written without a decimal point (50, not 50.0), and text that YAML would read as a number
    or a boolean is quoted ('007', 'yes'), keys too (except marks)."""

    model_config = ConfigDict(
        extra="forbid",
        title="tim-reconciler configuration",
    )

    app: AppConfig | None = Field(
        default=None,
        description="The Chat application: in one file of the config (once across all files).",
    )
    policy: Policy | None = Field(
        default=None, description="Safety rails (once across all files; optional)."
    )
    groups: list[GroupSpec] | None = Field(
        default=None, description="Groups declared in this file (IDs unique across all files)."
    )


GROUP_ADAPTER: TypeAdapter[GroupSpec] = TypeAdapter(GroupSpec)

TOP_LEVEL_KEYS = tuple(ConfigFile.model_fields)
GROUP_KEYS = tuple(GroupSpec.__annotations__)
MEMBER_KEYS = tuple(MemberSpec.__annotations__)
TOPIC_KEYS = tuple(TopicSpec.__annotations__)
PERMISSION_GROUP_KEYS = tuple(PermissionGroupSpec.__annotations__)
