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
from reconciler.tim.endpoints import resolve_endpoint
from reconciler.tim.limits import Limits as LimitsTable

# Region names accepted by `app.endpoint` (the REST client maps them to the documented domains).
REGIONS = tuple(ENDPOINT_REGIONS)

GROUP_TYPE_NAMES = ("Work", "Public", "Meeting", "AVChatRoom", "Community", "Private", "ChatRoom")
GroupTypeName = Literal[
    "Work", "Public", "Meeting", "AVChatRoom", "Community", "Private", "ChatRoom"
]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _bytes(limit: int) -> dict[str, Any]:
    # Editors check characters; the loader checks UTF-8 bytes (a CJK character is 3 bytes).
    return {"maxLength": limit}


def _account_schema() -> dict[str, Any]:
    return {
        "minLength": 1,
        "maxLength": limits.ACCOUNT_MAX_BYTES,
        "pattern": limits.ACCOUNT_PATTERN,
    }


RATE_LIMIT_MAX = 100_000


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


def _group_schema_extra(schema: dict[str, Any]) -> None:
    """The per-type MaxMemberNum ceilings, stated in the schema as the loader holds them."""
    rules = []
    for ceiling in sorted(set(limits.MAX_MEMBERS_CEILING.values())):
        names = [
            name
            for name in GROUP_TYPE_NAMES
            if limits.MAX_MEMBERS_CEILING.get(st.normalize_type(name).value) == ceiling
        ]
        rules.append(
            {
                "if": {"properties": {"type": {"enum": names}}, "required": ["type"]},
                "then": {"properties": {"max_members": {"maximum": ceiling}}},
            }
        )
    schema["allOf"] = rules


def check_endpoint(value: str) -> str:
    """`local`, a region name, an https URL, or an http URL on a loopback host."""
    resolve_endpoint(value)  # the client's own rules: raises ValueError with the accepted forms
    return value


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
    )
    callback_token_env: str = Field(
        default="TIM_CALLBACK_TOKEN",
        description="Name of the environment variable holding the callback token set in the "
        "console (`reconciler watch` checks each callback's Sign with it).",
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
        return check_endpoint(value)

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
        if len(value) >= 32 and not re.fullmatch(r"[A-Z0-9_]+", value):
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


def to_unix_seconds(value: Any) -> Any:
    """muted_until: an aware date-time or Unix seconds -> int; explicit null -> 0 (not muted)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError("expected a date-time like 2026-12-01T00:00:00Z or Unix seconds")
    if isinstance(value, str):
        try:
            # RFC 3339 (the schema's date-time) allows a lowercase t and z.
            value = datetime.fromisoformat(value.strip().upper())
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date-time; write it like 2026-12-01T00:00:00Z, "
                "or as Unix seconds, or null for not muted"
            ) from None
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
        json_schema_input_type=datetime
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
                "`Owner` is accepted only on the owner's own entry."
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
                description="Muted until this absolute time (a date-time with a zone, e.g. "
                "2026-12-01T00:00:00Z, or Unix seconds); null = not muted. Not in Work groups."
            ),
        ]
    ]
    custom: NotRequired[
        Annotated[
            dict[str, str | None] | None,
            Field(
                description="AppMemberDefinedData: key -> string value; a key set to null is "
                "deleted. Keys must be declared in the console first."
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
            "ID is accepted too); printable ASCII, at most "
            f"{limits.TOPIC_SUFFIX_MAX_BYTES} bytes.",
            json_schema_extra={
                "minLength": 1,
                "pattern": f"^{limits.PRINTABLE_ASCII_CLASS}+$",
            },
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
                description=f"Topic name; at most {limits.TOPIC_NAME_MAX_BYTES} bytes (UTF-8). "
                "Required to create a topic.",
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
            f"is accepted too); printable ASCII, at most {limits.TOPIC_SUFFIX_MAX_BYTES} bytes.",
            json_schema_extra={"minLength": 1, "pattern": f"^{limits.PRINTABLE_ASCII_CLASS}+$"},
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
            list[Annotated[str, Field(json_schema_extra=_account_schema())]] | None,
            Field(
                description="Its members (accounts that are members of the community); exact: "
                "others are taken out of the permission group (they stay in the community)."
            ),
        ]
    ]
    topic_permissions: NotRequired[
        Annotated[
            dict[str, Annotated[int, Field(ge=0, le=limits.INT64_MAX)]] | None,
            Field(
                description="Topic ID (as under `topics`) -> what its members may do in that "
                "topic, a bit set. Topics not listed are left alone."
            ),
        ]
    ]


class GroupSpec(TypedDict):
    """A chat group. Keys left out (or null) are not managed: the reconciler never changes them."""

    __pydantic_config__ = ConfigDict(  # type: ignore[misc]
        extra="forbid", strict=True, json_schema_extra=_group_schema_extra
    )

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
                "Keys must be declared in the console first."
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
                "managed attributes. Leave the key out to leave membership unmanaged. Not for "
                "AVChatRoom."
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
                        Field(json_schema_extra={"maxItems": limits.MAX_ACCOUNTS_PER_MARK}),
                    ],
                ],
                BeforeValidator(mark_keys),
                Field(
                    json_schema_extra={
                        "propertyNames": {"pattern": "^[0-9]{3,19}$"},
                        "maxProperties": limits.MAX_DISTINCT_MARKS,
                    }
                ),
            ]
            | None,
            Field(
                description="AVChatRoom only: mark -> accounts. Marks are numbers >= 1000 (at "
                "most 2^63-1), or the special 500 and 600; at most 10 marks per group and 1,000 "
                "accounts per mark. Marks apply to online members only (except 500)."
            ),
        ]
    ]
    admins: NotRequired[
        Annotated[
            Annotated[
                list[Annotated[str, Field(json_schema_extra=_account_schema())]],
                Field(json_schema_extra={"maxItems": limits.MAX_AVCHATROOM_ADMINS}),
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
                "= not banned. Banning removes the account from the room until then. Accounts "
                "not listed are left alone."
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
    `policy` appear once across the files; `groups` are merged."""

    model_config = ConfigDict(
        extra="forbid",
        title="tim-reconciler configuration",
    )

    app: AppConfig | None = Field(
        default=None, description="The Chat application (once across all files)."
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
