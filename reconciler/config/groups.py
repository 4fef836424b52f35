"""Group rules and normalization: validated group data -> ``state.Group``.

Runs once per group on data pydantic has already type-checked. The per-member work is kept to
what must look at every member (building the account-keyed dict); the byte-limit and duplicate
checks run on whole groups first and look at single members only when a group fails them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from reconciler import state as st
from reconciler.config.issues import AT, Pending, dotted
from reconciler.config.models import (
    GROUP_ADAPTER,
    GROUP_KEYS,
    MEMBER_KEYS,
    NEEDS_TRUE,
    PERMISSION_GROUP_KEYS,
    TOPIC_KEYS,
    TYPE_ONLY_KEYS,
)
from reconciler.state import GroupType
from reconciler.tim import limits

_SIMPLE_FIELDS = (
    "state",
    "name",
    "owner",
    "introduction",
    "notification",
    "face_url",
    "max_members",
    "apply_join",
    "invite_join",
    "mute_all",
    "protect",
    "members_mode",
)
_TEXT_LIMITS = (
    ("name", limits.NAME_MAX_BYTES),
    ("introduction", limits.INTRODUCTION_MAX_BYTES),
    ("notification", limits.NOTIFICATION_MAX_BYTES),
    ("face_url", limits.FACE_URL_MAX_BYTES),
)
# AVChatRoom keys for accounts that are not listed as members.
ROOM_KEYS = ("admins", "muted", "banned")
_TOPIC_TEXT_LIMITS = (
    ("name", limits.TOPIC_NAME_MAX_BYTES),
    ("introduction", limits.INTRODUCTION_MAX_BYTES),
    ("notification", limits.NOTIFICATION_MAX_BYTES),
    ("face_url", limits.FACE_URL_MAX_BYTES),
    ("custom_string", limits.TOPIC_CUSTOM_STRING_MAX_BYTES),
)
_PERMISSION_GROUP_TEXT_LIMITS = (
    ("name", limits.PERMISSION_GROUP_NAME_MAX_BYTES),
    ("custom_string", limits.TOPIC_CUSTOM_STRING_MAX_BYTES),
)
ALLOWED_KEYS = {
    (): GROUP_KEYS,
    ("members",): MEMBER_KEYS,
    ("topics",): TOPIC_KEYS,
    ("permission_groups",): PERMISSION_GROUP_KEYS,
}
# Stands in for a member that failed validation, so the other members keep their indices.
PRUNED = "\x00pruned\x00"


def _over(text: str, limit: int) -> int:
    """The UTF-8 size of ``text`` if it is over ``limit`` bytes, else 0."""
    if len(text) * 4 <= limit:
        return 0
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    return size if size > limit else 0


def account_problem(account: str) -> str | None:
    return limits.account_problem(account)


def _accounts_ok(accounts: Any) -> bool:
    """Fast check of many accounts at once (each 1-32 bytes of printable ASCII)."""
    if not accounts:
        return True
    lengths = list(map(len, accounts))
    if min(lengths) == 0 or max(lengths) > limits.ACCOUNT_MAX_BYTES:
        return False
    joined = "".join(accounts)
    return joined.isascii() and joined.isprintable()


class GroupChecker:
    """Validates and normalizes the groups of all files, collecting issues."""

    def __init__(self) -> None:
        self.issues: list[Pending] = []
        self.seen: dict[str, tuple[int, int]] = {}  # group id -> (file, item index)
        self.groups: list[st.Group] = []
        self.build = True  # stop building state once there is an error (only checks then)
        self.bans: list[tuple[int, tuple[Any, ...], str, set[str]]] = []  # who rooms ban
        # One mapping per custom data declared (read-only once loaded, as members are): most
        # members with custom data share a few values. (Accounts are not made one string each
        # likewise: looking each up in a table of millions cost more time than it saved memory.)
        self.customs: dict[tuple[tuple[str, str | None], ...], dict[str, str | None]] = {}

    def add(self, file: int, path: tuple[Any, ...], message: str, target: str = "value",
            related: tuple[int, tuple[Any, ...], str] | None = None) -> None:  # fmt: skip
        self.issues.append(Pending(file, path, message, target, related))
        self.build = False

    def mark(self) -> tuple[int, int, int, bool, set[str]]:
        return len(self.groups), len(self.issues), len(self.bans), self.build, set(self.seen)

    def rollback(self, mark: tuple[int, int, int, bool, set[str]]) -> None:
        groups, issues, bans, build, seen = mark
        del self.groups[groups:]
        del self.issues[issues:]
        del self.bans[bans:]
        self.build = build
        for gid in set(self.seen) - seen:
            del self.seen[gid]

    def check_file(self, file: int, raw_groups: list[Any]) -> None:
        for index, raw in enumerate(raw_groups):
            self.check_group(file, index, raw)
            raw_groups[index] = None  # free the raw data as we go (memory on big configs)

    def check_group(self, file: int, index: int, raw: Any) -> None:
        from reconciler.config.issues import from_validation_error

        base = ("groups", index)
        gid = raw.get("id") if isinstance(raw, dict) else None
        label = f"group {gid!r}" if isinstance(gid, str) else f"groups[{index}]"
        if isinstance(gid, str):
            self._check_unique(file, index, gid)
        try:
            spec = GROUP_ADAPTER.validate_python(raw)
        except ValidationError as err:
            for pending in from_validation_error(err, file, base, label, ALLOWED_KEYS):
                self.issues.append(pending)
            self.build = False
            # Check the rest of the group too: drop what failed, keep indices, validate again.
            pruned = _prune(raw, err)
            if pruned is None:
                return
            try:
                spec = GROUP_ADAPTER.validate_python(pruned)
            except ValidationError:
                return
        before = len(self.issues)
        group = self._normalize(file, base, label, spec)
        if self.build and len(self.issues) == before and group is not None:
            try:
                self.groups.append(st.Group.model_validate(group))
            except ValidationError as err:  # should not happen: the spec is stricter
                self.add(file, base, f"{label}: {err}")

    def check_admin_bans(self, admin: str) -> None:
        """No AVChatRoom bans the app admin identifier ``admin`` (``app.admin``), who signs
        every call: a ban removes them from the room."""
        for file, base, label, banned in self.bans:
            if admin in banned:
                self.add(
                    file,
                    (*base, "banned", admin),
                    f"{label}: bans the app admin identifier {admin!r} (app.admin), who signs "
                    "every call; a ban removes them from the room - remove the ban",
                    "key",
                )

    def _check_unique(self, file: int, index: int, gid: str) -> None:
        first = self.seen.get(gid)
        if first is None:
            self.seen[gid] = (file, index)
            return
        self.add(
            file,
            ("groups", index, "id"),
            f"group ID {gid!r} is declared twice: here and at {AT}; group IDs must be unique "
            "across all files",
            related=(first[0], ("groups", first[1], "id"), "value"),
        )

    # --- rules ----------------------------------------------------------------------------------

    def _check_texts(
        self,
        file: int,
        path: tuple[Any, ...],
        label: str,
        item: Mapping[str, Any],
        text_limits: tuple[tuple[str, int], ...],
    ) -> None:
        """A located error for each text of ``item`` over its limit in UTF-8 bytes."""
        for key, limit in text_limits:
            value = item.get(key)
            size = _over(value, limit) if value is not None else 0
            if size:
                self.add(
                    file,
                    (*path, key),
                    f"{label}: {key} is {size} bytes; at most {limit} bytes (UTF-8; a CJK "
                    "character takes 3) - shorten it",
                )

    def _normalize(
        self, file: int, base: tuple[Any, ...], label: str, g: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        gid: str = g["id"]
        gtype = st.normalize_type(g["type"])
        self._check_id(file, base, label, gid, gtype)
        self._check_texts(file, base, label, g, _TEXT_LIMITS)
        owner = g.get("owner")
        if owner is not None:
            problem = account_problem(owner)
            if problem:
                self.add(file, (*base, "owner"), f"{label}: owner: {problem}")
        self._check_type_rules(file, base, label, g, gtype)
        if g.get("protect") and g.get("state") == "absent":
            self.add(
                file,
                (*base, "state"),
                f"{label}: a protected group cannot be absent; set protect: false first if the "
                "group must really be destroyed",
            )
        for key in (g.get("custom") or {}).keys():
            if not key:
                self.add(file, (*base, "custom"), f"{label}: custom: a key is empty")
        out: dict[str, Any] = {"id": gid, "type": gtype}
        for key in _SIMPLE_FIELDS:
            if key in g:
                out[key] = g[key]
        if g.get("custom"):
            out["custom"] = g["custom"]
        items = g.get("members")
        if items is not None and gtype is not GroupType.AVChatRoom:
            out["members"] = self._members(file, base, label, g, gtype, items)
        count = len(out.get("members") or ())
        if owner is not None and owner not in (out.get("members") or ()):
            count += 1
        max_members = g.get("max_members")
        if max_members is not None and gtype is not GroupType.AVChatRoom and max_members < count:
            listed = len(out.get("members") or ())
            plus = " + the owner" if count > listed else ""
            self.add(
                file,
                (*base, "max_members"),
                f"{label}: max_members {max_members} is below the {count} members declared "
                f"({listed} listed{plus}); raise it to at least {count} or list fewer members",
            )
        marks = g.get("marks")
        if marks is not None and gtype is GroupType.AVChatRoom:
            out["marks"] = self._marks(file, base, label, marks)
        for key in ROOM_KEYS:
            value = g.get(key)
            if value is not None and gtype is GroupType.AVChatRoom:
                out[key] = self._room_accounts(file, (*base, key), label, key, value)
        banned = {a for a, until in (out.get("banned") or {}).items() if until is not None}
        if banned:
            self.bans.append((file, base, label, banned))
        if owner in banned:
            self.add(
                file,
                (*base, "banned", owner),
                f"{label}: bans its own owner {owner!r} (`owner:` at {AT}); a ban removes them "
                "from the room - remove the ban",
                "key",
                related=(file, (*base, "owner"), "value"),
            )
        if gtype is GroupType.Community:
            for key in ("support_topic", "enable_permission", "default_permission"):
                if g.get(key) is not None:
                    out[key] = g[key]
            if g.get("topics") is not None:
                out["topics"] = self._topics(file, (*base, "topics"), label, gid, g["topics"])
            if g.get("permission_groups") is not None:
                path = (*base, "permission_groups")
                out["permission_groups"] = self._permission_groups(
                    file, path, label, gid, g["permission_groups"]
                )
                self._check_absent_topics(file, path, label, out)
                self._check_permission_members(file, path, label, g, out)
        return out

    def _check_absent_topics(
        self, file: int, path: tuple[Any, ...], label: str, out: dict[str, Any]
    ) -> None:
        """A topic permission on a topic this config destroys would fail at apply."""
        absent = {t for t, v in (out.get("topics") or {}).items() if v.get("state") == "absent"}
        for j, (pid, pg) in enumerate((out.get("permission_groups") or {}).items()):
            for topic in sorted(set(pg.get("topic_permissions") or ()) & absent):
                self.add(
                    file,
                    (*path, j, "topic_permissions"),
                    f"{label}: permission group {pid!r} gives a permission in topic {topic!r}, "
                    "which is declared `state: absent`; remove one of the two",
                    "key",
                )

    def _check_permission_members(
        self,
        file: int,
        path: tuple[Any, ...],
        label: str,
        g: Mapping[str, Any],
        out: dict[str, Any],
    ) -> None:
        """Members of a permission group must be members of the Community (known when its
        member list is declared and authoritative: then it is the whole membership)."""
        if out.get("members") is None or g.get("members_mode") == "additive":
            return
        community = set(out["members"]) | {g.get("owner")}
        for j, item in enumerate(g["permission_groups"]):
            if item["id"] == PRUNED or item.get("state") == "absent":
                continue
            for m, account in enumerate(item.get("members") or ()):
                if account not in community:
                    self.add(
                        file,
                        (*path, j, "members", m),
                        f"{label}: permission_groups[{j}]: {account!r} is not a member of the "
                        "Community; add them to the group's members, or remove them here",
                    )

    def _permission_groups(
        self, file: int, path: tuple[Any, ...], label: str, gid: str, items: list[Any]
    ) -> dict[str, dict[str, Any]]:
        """A Community's permission groups, by the custom part of their IDs."""
        out: dict[str, dict[str, Any]] = {}
        first: dict[str, int] = {}
        prefix = limits.PERMISSION_GROUP_PREFIX
        for j, item in enumerate(items):
            if item["id"] == PRUNED:
                continue
            where = f"{label}: permission_groups[{j}]"
            full = item["id"]
            suffix = full[len(prefix) :] if full.startswith(prefix) else full
            problem = limits.identifier_problem(
                suffix, limits.TOPIC_SUFFIX_MAX_BYTES, "permission group ID"
            ) or limits.permission_group_id_problem(suffix)
            if problem:
                self.add(file, (*path, j, "id"), f"{where}: {problem}")
            if suffix in first:
                self.add(
                    file,
                    (*path, j, "id"),
                    f"{where}: permission group {suffix!r} is listed twice (first at {AT}); "
                    "keep one",
                    related=(file, (*path, first[suffix], "id"), "value"),
                )
            first.setdefault(suffix, j)
            self._check_texts(file, (*path, j), where, item, _PERMISSION_GROUP_TEXT_LIMITS)
            if item.get("state") == "absent":
                for key in ("members", "topic_permissions"):
                    if item.get(key) is not None:
                        self.add(
                            file,
                            (*path, j, key),
                            f"{where}: {key} of a permission group declared `state: absent` "
                            "would be ignored (the group is deleted); remove them",
                            "key",
                        )
            entry = {k: v for k, v in item.items() if v is not None} | {"id": suffix}
            members = item.get("members")
            if members is not None:
                seen: dict[str, int] = {}
                for m, account in enumerate(members):
                    problem = account_problem(account)
                    if problem:
                        self.add(
                            file, (*path, j, "members", m), f"{where}: members[{m}]: {problem}"
                        )
                    elif account in seen:
                        self.add(
                            file,
                            (*path, j, "members", m),
                            f"{where}: member {account!r} is listed twice (first at {AT}); "
                            "keep one",
                            related=(file, (*path, j, "members", seen[account]), "value"),
                        )
                    seen.setdefault(account, m)
                entry["members"] = sorted(seen)
            perms = item.get("topic_permissions")
            if perms is not None:
                topics = {}
                spelled: dict[str, str] = {}
                for topic, bits in perms.items():
                    tsuffix = limits.topic_suffix(gid, topic) or topic
                    problem = limits.identifier_problem(
                        tsuffix, limits.TOPIC_SUFFIX_MAX_BYTES, "topic ID"
                    )
                    if not problem and limits.TOPIC_INFIX not in tsuffix:
                        problem = limits.topic_id_problem(gid, tsuffix)
                    if problem or limits.TOPIC_INFIX in tsuffix:
                        self.add(
                            file,
                            (*path, j, "topic_permissions", topic),
                            f"{where}: topic_permissions: "
                            + (problem or f"{topic!r} is not a topic of {gid}"),
                            "key",
                        )
                    if tsuffix in spelled:
                        self.add(
                            file,
                            (*path, j, "topic_permissions", topic),
                            f"{where}: topic_permissions: topic {tsuffix!r} is listed twice "
                            f"(first at {AT}, as {spelled[tsuffix]!r}); keep one",
                            "key",
                            related=(
                                file,
                                (*path, j, "topic_permissions", spelled[tsuffix]),
                                "key",
                            ),
                        )
                    spelled.setdefault(tsuffix, topic)
                    topics[tsuffix] = bits
                entry["topic_permissions"] = topics
            out[suffix] = entry
        return out

    def _topics(
        self, file: int, path: tuple[Any, ...], label: str, gid: str, items: list[Any]
    ) -> dict[str, dict[str, Any]]:
        """A Community's topics, by the custom part of their IDs (a full ID is cut to it)."""
        topics: dict[str, dict[str, Any]] = {}
        first: dict[str, int] = {}
        for j, item in enumerate(items):
            if item["id"] == PRUNED:
                continue
            where = f"{label}: topics[{j}]"
            suffix = limits.topic_suffix(gid, item["id"]) or item["id"]
            problem = limits.identifier_problem(suffix, limits.TOPIC_SUFFIX_MAX_BYTES, "topic ID")
            if problem:
                self.add(file, (*path, j, "id"), f"{where}: {problem}")
            elif limits.TOPIC_INFIX in suffix:
                self.add(
                    file,
                    (*path, j, "id"),
                    f"{where}: topic ID {item['id']!r} is not a topic of {gid}: write the part "
                    f"after '{limits.TOPIC_INFIX}', or {limits.topic_id(gid, 'ID')!r} in full",
                )
            elif problem := limits.topic_id_problem(gid, suffix):
                self.add(file, (*path, j, "id"), f"{where}: {problem}")
            if suffix in first:
                self.add(
                    file,
                    (*path, j, "id"),
                    f"{where}: topic {suffix!r} is listed twice (first at {AT}); keep one",
                    related=(file, (*path, first[suffix], "id"), "value"),
                )
            first.setdefault(suffix, j)
            self._check_texts(file, (*path, j), where, item, _TOPIC_TEXT_LIMITS)
            if item.get("state") != "absent" and item.get("name") == "":
                self.add(file, (*path, j, "name"), f"{where}: name is empty")
            topics[suffix] = {k: v for k, v in item.items() if v is not None} | {"id": suffix}
        return topics

    def _room_accounts(
        self, file: int, path: tuple[Any, ...], label: str, key: str, value: Any
    ) -> Any:
        """An AVChatRoom's admins (a list) or mutes and bans (account -> until): every account
        checked; admins at most 5 and each once."""
        accounts = list(value)
        for j, account in enumerate(accounts):
            problem = account_problem(account)
            if problem:
                where = (*path, j) if key == "admins" else (*path, account)
                self.add(file, where, f"{label}: {key}[{j}]: {problem}", "value")
        if key != "admins":
            return dict(value)
        first: dict[str, int] = {}
        for j, account in enumerate(accounts):
            if account in first:
                self.add(
                    file,
                    (*path, j),
                    f"{label}: admin {account!r} is listed twice (first at {AT}); keep one",
                    related=(file, (*path, first[account]), "value"),
                )
            first.setdefault(account, j)
        if len(first) > limits.MAX_AVCHATROOM_ADMINS:
            self.add(
                file,
                path,
                f"{label}: {len(first)} admins; an AVChatRoom has at most "
                f"{limits.MAX_AVCHATROOM_ADMINS} (modify_admin) - list fewer",
                "key",
            )
        return sorted(first)

    def _check_id(
        self, file: int, base: tuple[Any, ...], label: str, gid: str, gtype: GroupType
    ) -> None:
        path = (*base, "id")
        if not gid:
            self.add(file, path, f"{label}: id is empty")
            return
        problem = limits.group_id_problem(gid)
        if problem:
            self.add(file, path, f"{label}: {problem}")
        if gid in st.TOOL_GROUP_IDS:
            self.add(
                file,
                path,
                f"{label}: {gid!r} is a group of the tool's own (the app's lock, or the record "
                "of the config revision applied); it cannot be declared: use another ID",
            )
        if gtype is GroupType.Community:
            if gid == st.COMMUNITY_ID_PREFIX:
                self.add(
                    file,
                    path,
                    f"{label}: a Community ID needs a custom part after @TGS#_ "
                    "(e.g. '@TGS#_guild')",
                )
            elif not gid.startswith(st.COMMUNITY_ID_PREFIX):
                self.add(
                    file,
                    path,
                    f"{label}: Community group IDs must start with @TGS#_ (e.g. '@TGS#_{gid}')",
                )
        elif gid.startswith(st.COMMUNITY_ID_PREFIX):
            self.add(
                file,
                path,
                f"{label}: IDs starting with @TGS#_ are Community IDs; this group's type is "
                f"{st.DISPLAY_TYPE[gtype]}",
            )
        # Other IDs starting with @TGS# are server-assigned: the group is adopted, not created.

    def _check_type_rules(
        self, file: int, base: tuple[Any, ...], label: str, g: Mapping[str, Any], gtype: GroupType
    ) -> None:
        """Keys only some types take (models.TYPE_ONLY_KEYS), keys that need another declared
        true (models.NEEDS_TRUE), and the type's member ceiling."""
        shown = st.DISPLAY_TYPE[gtype]
        for key, (types, fix) in TYPE_ONLY_KEYS.items():
            if g.get(key) is None:
                continue
            if gtype not in types:
                self.add(file, (*base, key), f"{label}: " + fix.format(shown=shown), "key")
                continue
            for other, needs in NEEDS_TRUE.get(key, ()):
                if g.get(other) is not True:
                    self.add(file, (*base, key), f"{label}: " + needs.format(key=key), "key")
        ceiling = limits.MAX_MEMBERS_CEILING.get(gtype.value)
        max_members = g.get("max_members")
        if ceiling is not None and max_members is not None and max_members > ceiling:
            self.add(
                file,
                (*base, "max_members"),
                f"{label}: max_members {max_members} is above the ceiling for {shown} "
                f"groups ({ceiling:,}); lower it (Community groups allow up to "
                f"{limits.MAX_MEMBERS_CEILING['Community']:,})",
            )

    def _members(
        self,
        file: int,
        base: tuple[Any, ...],
        label: str,
        g: Mapping[str, Any],
        gtype: GroupType,
        items: list[Any],
    ) -> st.DeclaredMembers:
        owner = g.get("owner")
        if PRUNED in items:
            kept = [item for item in items if item != PRUNED]
        else:
            kept = items
        # One pass in a comprehension (the hot loop on big configs): account -> its row, None
        # for the plain `- account` form.
        share = self.customs.setdefault
        rows = {
            (item if item.__class__ is str else item["account"]): (
                None if item.__class__ is str else st.declared_member(item, share)
            )
            for item in kept
        }
        if len(rows) != len(kept):
            self._duplicates(file, base, label, items)
        if not _accounts_ok(rows.keys()):
            for j, item in enumerate(items):
                if item == PRUNED:
                    continue
                account = item if item.__class__ is str else item["account"]
                problem = account_problem(account)
                if problem:
                    path = (*base, "members", j) + (() if item.__class__ is str else ("account",))
                    self.add(file, path, f"{label}: members[{j}]: {problem}")
        work = gtype is GroupType.Private
        for j, item in enumerate(items):
            if item.__class__ is not dict:
                continue
            if item.get("custom", 0) is None:
                del item["custom"]
            role = item.get("role")
            name_card = item.get("name_card")
            if (
                (role is not None and (role == "Owner" or item["account"] == owner))
                or (name_card is not None and len(name_card) * 4 > limits.NAME_CARD_MAX_BYTES)
                or (work and item.get("muted_until"))
                or ("" in (item.get("custom") or ()))
            ):
                self._member_rules(file, base, label, j, item, owner, gtype)
        return st.DeclaredMembers(rows)

    def _duplicates(self, file: int, base: tuple[Any, ...], label: str, items: list[Any]) -> None:
        first: dict[str, int] = {}
        for j, item in enumerate(items):
            if item == PRUNED:
                continue
            account = item if item.__class__ is str else item["account"]
            if account in first:
                self.add(
                    file,
                    (*base, "members", j),
                    f"{label}: member {account!r} is listed twice (first at {AT}); keep one entry",
                    related=(file, (*base, "members", first[account]), "value"),
                )
            else:
                first[account] = j

    def _member_rules(
        self,
        file: int,
        base: tuple[Any, ...],
        label: str,
        j: int,
        item: dict[str, Any],
        owner: str | None,
        gtype: GroupType,
    ) -> None:
        path = (*base, "members", j)
        where = f"{label}: members[{j}] ({item['account']!r})"
        role = item.get("role")
        if role == "Owner" and item["account"] != owner:
            if owner is None:
                self.add(
                    file,
                    (*path, "role"),
                    f"{where}: role Owner is set with the group's `owner:` field, not in "
                    f"members; write `owner: {item['account']}` and remove the role",
                )
            else:
                self.add(
                    file,
                    (*path, "role"),
                    f"{where}: role Owner is set with the group's `owner:` field (at {AT}, "
                    f"now {owner!r}); change `owner:` to transfer ownership and remove this role",
                    related=(file, (*base, "owner"), "value"),
                )
        elif role in ("Admin", "Member") and owner is not None and item["account"] == owner:
            self.add(
                file,
                (*path, "role"),
                f"{where}: this account is the group owner (`owner:` at {AT}); remove `role` or "
                "set it to Owner",
                related=(file, (*base, "owner"), "value"),
            )
        name_card = item.get("name_card")
        if name_card is not None:
            size = _over(name_card, limits.NAME_CARD_MAX_BYTES)
            if size:
                self.add(
                    file,
                    (*path, "name_card"),
                    f"{where}: name_card is {size} bytes; at most {limits.NAME_CARD_MAX_BYTES} "
                    "bytes (UTF-8)",
                )
        if gtype is GroupType.Private and item.get("muted_until"):
            self.add(
                file,
                (*path, "muted_until"),
                f"{where}: members of Work groups cannot be muted; remove muted_until (or use "
                "a Public or Meeting group)",
            )
        for key in (item.get("custom") or {}).keys():
            if not key:
                self.add(file, (*path, "custom"), f"{where}: custom: a key is empty")

    def _marks(
        self, file: int, base: tuple[Any, ...], label: str, marks: dict[int, list[str]]
    ) -> dict[int, list[str]]:
        path = (*base, "marks")
        if len(marks) > limits.MAX_DISTINCT_MARKS:
            self.add(
                file,
                path,
                f"{label}: {len(marks)} distinct marks; at most {limits.MAX_DISTINCT_MARKS} per "
                "group - merge or drop some",
            )
        out: dict[int, list[str]] = {}
        for mark, accounts in sorted(marks.items()):
            if not (mark >= limits.MIN_CUSTOM_MARK or mark in limits.SPECIAL_MARKS):
                self.add(
                    file,
                    (*path, mark),
                    f"{label}: mark {mark} is not valid: custom marks are numbers >= "
                    f"{limits.MIN_CUSTOM_MARK}; 500 and 600 are the special marks",
                    "key",
                )
            if len(accounts) > limits.MAX_ACCOUNTS_PER_MARK:
                self.add(
                    file,
                    (*path, mark),
                    f"{label}: mark {mark} has {len(accounts)} accounts; at most "
                    f"{limits.MAX_ACCOUNTS_PER_MARK} per mark",
                    "key",
                )
            first: dict[str, int] = {}
            for j, account in enumerate(accounts):
                problem = account_problem(account)
                if problem:
                    self.add(file, (*path, mark, j), f"{label}: marks.{mark}[{j}]: {problem}")
                if account in first:
                    self.add(
                        file,
                        (*path, mark, j),
                        f"{label}: {account!r} is listed twice under mark {mark} (first at "
                        f"{AT}); keep one",
                        related=(file, (*path, mark, first[account]), "value"),
                    )
                else:
                    first[account] = j
            out[mark] = sorted(first)
        return out


def _prune(raw: Any, err: ValidationError) -> dict[str, Any] | None:
    """A copy of ``raw`` without the parts that failed (None if the group cannot be checked)."""
    if not isinstance(raw, dict):
        return None
    out = dict(raw)
    members = list(out["members"]) if isinstance(out.get("members"), list) else None
    topics = list(out["topics"]) if isinstance(out.get("topics"), list) else None
    pgs = list(out["permission_groups"]) if isinstance(out.get("permission_groups"), list) else None
    marks = dict(out["marks"]) if isinstance(out.get("marks"), dict) else None
    for error in err.errors(include_url=False):
        loc = error["loc"]
        if not loc or loc[0] in ("id", "type"):
            return None
        head = loc[0]
        item = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None  # in a list
        key = loc[2] if len(loc) > 2 else "id"  # the item's failed key ("id": the whole item)
        if head == "members" and members is not None and item is not None:
            members[item] = PRUNED
        elif head == "topics" and topics is not None and item is not None and key != "id":
            topics[item] = {k: v for k, v in topics[item].items() if k != key}
        elif head == "topics" and topics is not None and item is not None:
            topics[item] = {"id": PRUNED}
        elif head == "permission_groups" and pgs is not None and item is not None and key != "id":
            pgs[item] = {k: v for k, v in pgs[item].items() if k != key}
        elif head == "permission_groups" and pgs is not None and item is not None:
            pgs[item] = {"id": PRUNED}
        elif head == "marks" and marks is not None and len(loc) > 1:
            marks.pop(loc[1], None)
        else:
            out.pop(head, None)
    if members is not None:
        out["members"] = members
    if marks is not None:
        out["marks"] = marks
    if topics is not None:
        out["topics"] = topics
    if pgs is not None:
        out["permission_groups"] = pgs
    return out


__all__ = ["GroupChecker", "account_problem", "dotted"]
