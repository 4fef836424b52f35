"""The emulator's state: one SQLite file (WAL), one connection per store, one lock.

Every API call runs as one transaction (``BEGIN IMMEDIATE`` for writes), and a call that fails
rolls back, so a failed call never half-applies. The lock serialises callers inside a process;
SQLite's own locking (with a busy timeout) serialises processes that open the same file, e.g. a
test or benchmark seeding a file that a running server also uses.

``EmulatorStore.seed`` writes bulk state (thousands of groups and members) in one transaction
without going through HTTP; ``dump`` reads it back for assertions.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import rules

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts(
    user_id TEXT PRIMARY KEY,
    nick TEXT NOT NULL DEFAULT '',
    face_url TEXT NOT NULL DEFAULT '',
    create_time INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    introduction TEXT NOT NULL DEFAULT '',
    notification TEXT NOT NULL DEFAULT '',
    face_url TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    create_time INTEGER NOT NULL,
    info_seq INTEGER NOT NULL DEFAULT 1,
    last_info_time INTEGER NOT NULL,
    last_msg_time INTEGER NOT NULL DEFAULT 0,
    next_msg_seq INTEGER NOT NULL DEFAULT 1,
    max_member_num INTEGER NOT NULL,
    apply_join TEXT NOT NULL,
    invite_join TEXT NOT NULL DEFAULT '',
    mute_all INTEGER NOT NULL DEFAULT 0,
    app_data TEXT NOT NULL DEFAULT '{}',
    support_topic INTEGER NOT NULL DEFAULT 0,
    enable_permission INTEGER NOT NULL DEFAULT 0,
    default_permission INTEGER NOT NULL DEFAULT 0,
    history_before_join TEXT NOT NULL DEFAULT 'Off'
);
CREATE INDEX IF NOT EXISTS groups_by_type ON groups(type, seq);
CREATE TABLE IF NOT EXISTS members(
    id INTEGER PRIMARY KEY,
    group_seq INTEGER NOT NULL,
    account TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'Member',
    join_time INTEGER NOT NULL,
    msg_seq INTEGER NOT NULL DEFAULT 0,
    msg_flag TEXT NOT NULL DEFAULT 'AcceptAndNotify',
    last_send_msg_time INTEGER NOT NULL DEFAULT 0,
    mute_until INTEGER NOT NULL DEFAULT 0,
    name_card TEXT NOT NULL DEFAULT '',
    app_data TEXT NOT NULL DEFAULT '{}',
    online INTEGER NOT NULL DEFAULT 0,
    marks TEXT NOT NULL DEFAULT '[]',
    mark500_until INTEGER NOT NULL DEFAULT 0,
    UNIQUE(group_seq, account)
);
-- Members in join order without a sort: every member list and page reads them so (a Community
-- page of a 50,000-member group sorted the rest of the group each time: 7.9 ms, now 1.8 ms).
CREATE INDEX IF NOT EXISTS members_by_group ON members(group_seq, id);
CREATE TABLE IF NOT EXISTS room_admins(
    group_seq INTEGER NOT NULL,
    account TEXT NOT NULL,
    PRIMARY KEY(group_seq, account)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room_mutes(
    group_seq INTEGER NOT NULL,
    account TEXT NOT NULL,
    mute_until INTEGER NOT NULL,
    PRIMARY KEY(group_seq, account)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room_bans(
    group_seq INTEGER NOT NULL,
    account TEXT NOT NULL,
    banned_until INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(group_seq, account)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS topic_mutes(
    group_seq INTEGER NOT NULL,
    topic_id TEXT NOT NULL,
    account TEXT NOT NULL,
    mute_until INTEGER NOT NULL,
    PRIMARY KEY(group_seq, topic_id, account)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS topics(
    group_seq INTEGER NOT NULL,
    topic_id TEXT NOT NULL,
    name TEXT NOT NULL,
    introduction TEXT NOT NULL DEFAULT '',
    notification TEXT NOT NULL DEFAULT '',
    face_url TEXT NOT NULL DEFAULT '',
    custom_string TEXT NOT NULL DEFAULT '',
    mute_all INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '',
    create_time INTEGER NOT NULL,
    PRIMARY KEY(group_seq, topic_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS permission_groups(
    group_seq INTEGER NOT NULL,
    pg_id TEXT NOT NULL,
    name TEXT NOT NULL,
    permission INTEGER NOT NULL DEFAULT 0,
    custom_string TEXT NOT NULL DEFAULT '',
    create_time INTEGER NOT NULL,
    PRIMARY KEY(group_seq, pg_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS permission_members(
    group_seq INTEGER NOT NULL,
    pg_id TEXT NOT NULL,
    account TEXT NOT NULL,
    PRIMARY KEY(group_seq, pg_id, account)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS topic_permissions(
    group_seq INTEGER NOT NULL,
    pg_id TEXT NOT NULL,
    topic_id TEXT NOT NULL,
    permission INTEGER NOT NULL,
    PRIMARY KEY(group_seq, pg_id, topic_id)
) WITHOUT ROWID;
"""
# Community topics: a table added after the first release (created in older files when they are
# opened, as the room tables are); a topic lives and dies with its group.
GROUP_TABLES = (
    "topics",
    "topic_mutes",
    "permission_groups",
    "permission_members",
    "topic_permissions",
)
# State that outlives a member's presence (admins, mutes and bans are kept across leaving and
# rejoining; room_mutes holds every AVChatRoom mute, and the mutes of other groups' members
# while they are away, CN-1627): tables added after the first release, created in older
# files when they are opened (the CREATE ... IF NOT EXISTS above).
ROOM_TABLES = ("room_admins", "room_mutes", "room_bans")

GROUP_COLUMNS = (
    "seq, group_id, type, name, introduction, notification, face_url, owner, create_time,"
    " info_seq, last_info_time, last_msg_time, next_msg_seq, max_member_num, apply_join,"
    " invite_join, mute_all, app_data, support_topic, enable_permission, default_permission,"
    " history_before_join"
)
# Columns added after the first release: added to older files when they are opened.
_ADDED_GROUP_COLUMNS = {
    "enable_permission": "INTEGER NOT NULL DEFAULT 0",
    "default_permission": "INTEGER NOT NULL DEFAULT 0",
    "history_before_join": "TEXT NOT NULL DEFAULT 'Off'",
}
MEMBER_COLUMNS = (
    "id, account, role, join_time, msg_seq, msg_flag, last_send_msg_time, mute_until,"
    " name_card, app_data, online, marks, mark500_until"
)

# PRAGMA application_id of every store file ("TIMR"): the mark that a file is the emulator's.
APPLICATION_ID = 0x54494D52
_TABLES = {"meta", "accounts", "groups", "members"}
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreRefused(ValueError):
    """The path given for the store is not one the emulator may open (nothing was changed)."""


def check_store_path(path: str) -> bool:
    """Refuse, before anything touches it, a path that is not an emulator store: it must be an
    SQLite file this emulator created (its application_id, or the tables of a store made before
    the mark existed), an empty file, or a new file in an existing directory. True if new."""
    if path == ":memory:" or path.startswith("file:"):
        return False
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise StoreRefused(f"local_db {path}: a dangling symlink; fix or remove it") from None
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise StoreRefused(
                f"local_db {path}: the directory {parent} does not exist; create it, or point "
                "local_db into an existing directory"
            ) from None
        return True
    except OSError as err:
        raise StoreRefused(f"local_db {path}: cannot use it: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise StoreRefused(
            f"local_db {path}: {kind}; local_db must be the emulator's SQLite file (or a new "
            "file in an existing directory)"
        )
    if info.st_size == 0:
        return True
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as err:
        raise StoreRefused(f"local_db {path}: cannot read it: {err.strerror}") from None
    if not header.startswith(_SQLITE_MAGIC) or len(header) < 72:
        raise StoreRefused(
            f"local_db {path}: not an SQLite file, so not the emulator's store; the emulator "
            "never writes to other files: point local_db at a new file"
        )
    if int.from_bytes(header[68:72], "big") == APPLICATION_ID:
        return False
    if _legacy_store(path):
        return False
    raise StoreRefused(
        f"local_db {path}: an SQLite database the emulator did not create; it is left "
        "untouched: point local_db at a new file"
    )


def _legacy_store(path: str) -> bool:
    """A store written before the application_id mark: exactly the emulator's tables."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            mark = conn.execute("PRAGMA application_id").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return mark == APPLICATION_ID or names - {"sqlite_sequence"} == _TABLES


_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ID_SPACE = 36**8
_ID_PREFIX = {
    rules.PRIVATE: "@TGS#1",
    rules.PUBLIC: "@TGS#2",
    rules.CHATROOM: "@TGS#3",
    rules.AVCHATROOM: "@TGS#a",
    rules.COMMUNITY: "@TGS#_@TGS#c",
}


def _scrambled(n: int) -> str:
    x = (n * 2_147_483_647 + 0x5DEECE66D) % _ID_SPACE  # a bijection on [0, 36**8)
    chars = []
    for _ in range(8):
        x, r = divmod(x, 36)
        chars.append(_ID_ALPHABET[r])
    return "".join(chars)


def server_group_id(group_type: str, n: int) -> str:
    """The n-th server-assigned ID: a fixed prefix per type and 8 scrambled base-36 characters."""
    return _ID_PREFIX[group_type] + _scrambled(n)


def server_topic_suffix(n: int) -> str:
    """The custom part of the n-th server-assigned topic ID (EN-49469's sample:
    ``<group>@TOPIC#_@TOPIC#cRTE3HIM62C5``)."""
    return "@TOPIC#c" + _scrambled(n)


class EmulatorStore:
    """The SQLite-backed state of one emulated app. Safe to share between threads."""

    def __init__(self, db_path: str | Path, *, admin: str = "administrator") -> None:
        self.path = str(db_path)
        self.admin = admin
        self._lock = threading.RLock()
        check_store_path(self.path)
        conn = self._connect()
        # Marked before WAL is on, so the mark is in the main file's header from the start.
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        self._conn = conn
        self._reader = threading.local()  # each reading thread's own connection
        self._readers: list[sqlite3.Connection] = []
        with self.transaction(write=True) as c:
            for statement in _statements(SCHEMA):
                c.execute(statement)
            have = {r[1] for r in c.execute("PRAGMA table_info(groups)")}
            for column, decl in _ADDED_GROUP_COLUMNS.items():
                if column not in have:
                    c.execute(f"ALTER TABLE groups ADD COLUMN {column} {decl}")
            self._ensure_admin(c)

    # -- plumbing -------------------------------------------------------------------------
    def _connect(self, read_only: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-32000")
        conn.execute("PRAGMA temp_store=MEMORY")
        if read_only:  # one per reading thread: a smaller cache each (the OS caches the file)
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA cache_size=-8000")
        return conn

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction on the store's connection; rolled back if the block raises."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read-only transaction on the calling thread's own connection, so reads run beside
        each other and beside a write (WAL: they see the last commit); on the shared connection
        for an in-memory store, which no other connection can open."""
        if self.path == ":memory:":
            with self.transaction() as shared:
                yield shared
            return
        c = getattr(self._reader, "conn", None)
        if c is None:
            c = self._reader.conn = self._connect(read_only=True)
            with self._lock:
                self._readers.append(c)
        c.execute("BEGIN")
        try:
            yield c
        finally:
            c.execute("ROLLBACK")  # nothing to keep (query_only refuses any write)

    def close(self) -> None:
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._conn.close()

    def _ensure_admin(self, c: sqlite3.Connection) -> None:
        c.execute(
            "INSERT OR IGNORE INTO accounts(user_id, create_time) VALUES (?, ?)",
            (self.admin, int(time.time())),
        )

    def reset(self) -> None:
        """Forget everything: groups, members, accounts (the admin account is kept)."""
        with self.transaction(write=True) as c:
            for table in (*ROOM_TABLES, *GROUP_TABLES, "members", "groups", "accounts", "meta"):
                c.execute(f"DELETE FROM {table}")
            c.execute("DELETE FROM sqlite_sequence WHERE name = 'groups'")
            self._ensure_admin(c)

    @staticmethod
    def next_counter(c: sqlite3.Connection, key: str) -> int:
        row = c.execute(
            "INSERT INTO meta(key, value) VALUES (?, 1)"
            " ON CONFLICT(key) DO UPDATE SET value = value + 1 RETURNING value",
            (key,),
        ).fetchone()
        return int(row[0])

    @classmethod
    def new_group_id(cls, c: sqlite3.Connection, group_type: str) -> str:
        while True:
            gid = server_group_id(group_type, cls.next_counter(c, "group_id"))
            if c.execute("SELECT 1 FROM groups WHERE group_id = ?", (gid,)).fetchone() is None:
                return gid

    # -- bulk seeding ---------------------------------------------------------------------
    def seed(
        self,
        groups: Iterable[dict[str, Any]] = (),
        accounts: Iterable[str | dict[str, Any]] = (),
        *,
        create_accounts: bool = True,
        now: int | None = None,
    ) -> list[str]:
        """Write groups, members and accounts directly, in one transaction; return group IDs.

        Items use the REST API's own field names. ``accounts``: user IDs, or
        ``{"UserID", "Nick", "FaceUrl"}``. Each group: ``Type`` (required; Work/Meeting
        accepted), ``GroupId`` (omit for a server-assigned one), ``Name``, ``Owner_Account``,
        ``Introduction``, ``Notification``, ``FaceUrl``, ``MaxMemberNum``, ``ApplyJoinOption``,
        ``InviteJoinOption``, ``MuteAllMember`` ("On"/"Off"), ``AppDefinedData``, ``CreateTime``,
        ``SupportTopic``, ``EnablePermission``, ``DefaultPermission``, ``HistoryMsgBeforeJoin``,
        and ``MemberList`` of ``{"Member_Account", "Role", "JoinTime", "MsgFlag", "NameCard",
        "MuteUntil", "AppMemberDefinedData", "Online", "Marks"}`` (``Online``/``Marks`` are for
        AVChatRoom). The owner is added as a member with role Owner (not in AVChatRoom). With
        ``create_accounts`` every member and owner is imported as an account too.
        Raises ValueError on an unknown type, a duplicate group ID or a role other than
        Owner/Admin/Member; limits are not checked (seeding may build any state).
        """
        now = int(time.time()) if now is None else int(now)
        account_rows: dict[str, tuple[str, str, str, int]] = {}
        for item in accounts:
            if isinstance(item, str):
                account_rows[item] = (item, "", "", now)
            else:
                uid = str(item["UserID"])
                account_rows[uid] = (
                    uid,
                    str(item.get("Nick", "")),
                    str(item.get("FaceUrl", "")),
                    now,
                )
        created: list[str] = []
        with self.transaction(write=True) as c:
            for g in groups:
                created.append(self._seed_group(c, g, now, account_rows, create_accounts))
            c.executemany(
                "INSERT INTO accounts(user_id, nick, face_url, create_time) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(user_id) DO NOTHING",
                account_rows.values(),
            )
        return created

    def _seed_group(
        self,
        c: sqlite3.Connection,
        g: dict[str, Any],
        now: int,
        account_rows: dict[str, tuple[str, str, str, int]],
        create_accounts: bool,
    ) -> str:
        gtype = rules.CREATABLE_TYPES.get(g.get("Type", ""))
        if gtype is None:
            raise ValueError(f"seed: unknown group type {g.get('Type')!r}")
        gid = g.get("GroupId") or self.new_group_id(c, gtype)
        owner = g.get("Owner_Account") or ""
        app_data = {kv["Key"]: kv["Value"] for kv in g.get("AppDefinedData", ()) if kv["Value"]}
        try:
            cur = c.execute(
                "INSERT INTO groups(group_id, type, name, introduction, notification, face_url,"
                " owner, create_time, last_info_time, max_member_num, apply_join, invite_join,"
                " mute_all, app_data, support_topic, enable_permission, default_permission,"
                " history_before_join) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    gid,
                    gtype,
                    g.get("Name", gid[:30]),
                    g.get("Introduction", ""),
                    g.get("Notification", ""),
                    g.get("FaceUrl", ""),
                    owner,
                    int(g.get("CreateTime", now)),
                    int(g.get("CreateTime", now)),
                    int(g.get("MaxMemberNum", rules.MAX_MEMBERS[gtype])),
                    g.get("ApplyJoinOption", rules.DEFAULT_APPLY_JOIN[gtype]),
                    g.get("InviteJoinOption", rules.DEFAULT_INVITE_JOIN.get(gtype, "")),
                    1 if g.get("MuteAllMember") == "On" else 0,
                    json.dumps(app_data),
                    int(g.get("SupportTopic", 0)),
                    int(g.get("EnablePermission", 0)),
                    int(g.get("DefaultPermission", 0)),
                    g.get("HistoryMsgBeforeJoin", "Off"),
                ),
            )
        except sqlite3.IntegrityError:
            raise ValueError(f"seed: group ID {gid!r} already exists") from None
        seq = cur.lastrowid
        members: list[dict[str, Any]] = list(g.get("MemberList", ()))
        if owner and gtype != rules.AVCHATROOM:
            members = [{"Member_Account": owner, "Role": "Owner"}] + [
                m for m in members if m["Member_Account"] != owner
            ]
        rows = []
        for m in members:
            account = m["Member_Account"]
            role = m.get("Role", "Member")
            if role not in ("Owner", "Admin", "Member"):
                raise ValueError(f"seed: {gid}/{account}: unknown role {role!r}")
            marks = sorted(set(m.get("Marks", ())))
            data = {
                kv["Key"]: kv["Value"] for kv in m.get("AppMemberDefinedData", ()) if kv["Value"]
            }
            rows.append(
                (
                    seq,
                    account,
                    role,
                    int(m.get("JoinTime", now)),
                    m.get("MsgFlag", "AcceptAndNotify"),
                    int(m.get("MuteUntil", 0)),
                    m.get("NameCard", ""),
                    json.dumps(data),
                    1 if m.get("Online", gtype == rules.AVCHATROOM) else 0,
                    json.dumps(marks),
                    now + rules.MARK_500_SECONDS if rules.MARK_ALWAYS_ONLINE in marks else 0,
                )
            )
            if create_accounts and account not in account_rows:
                account_rows[account] = (account, "", "", now)
        if owner and create_accounts and owner not in account_rows:
            account_rows[owner] = (owner, "", "", now)
        c.executemany(
            "INSERT INTO members(group_seq, account, role, join_time, msg_flag, mute_until,"
            " name_card, app_data, online, marks, mark500_until) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(group_seq, account) DO NOTHING",
            rows,
        )
        return gid

    # -- reading back ---------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """All state, in API field names: ``{"accounts": [...], "groups": {id: {...}}}``."""
        with self.transaction() as c:
            accounts = [r[0] for r in c.execute("SELECT user_id FROM accounts ORDER BY user_id")]
            groups: dict[str, Any] = {}
            for g in c.execute(f"SELECT {GROUP_COLUMNS} FROM groups ORDER BY seq").fetchall():
                members = [
                    {
                        "Member_Account": m["account"],
                        "Role": m["role"],
                        "JoinTime": m["join_time"],
                        "MsgFlag": m["msg_flag"],
                        "MuteUntil": m["mute_until"],
                        "NameCard": m["name_card"],
                        "AppMemberDefinedData": json.loads(m["app_data"]),
                        "Online": bool(m["online"]),
                        "Marks": json.loads(m["marks"]),
                    }
                    for m in c.execute(
                        f"SELECT {MEMBER_COLUMNS} FROM members WHERE group_seq = ? ORDER BY id",
                        (g["seq"],),
                    )
                ]
                room = {
                    "AdminList": [
                        r[0]
                        for r in c.execute(
                            "SELECT account FROM room_admins WHERE group_seq = ? ORDER BY account",
                            (g["seq"],),
                        )
                    ],
                    "MutedAccounts": dict(
                        c.execute(
                            "SELECT account, mute_until FROM room_mutes WHERE group_seq = ?",
                            (g["seq"],),
                        ).fetchall()
                    ),
                    "BannedAccounts": dict(
                        c.execute(
                            "SELECT account, banned_until FROM room_bans WHERE group_seq = ?",
                            (g["seq"],),
                        ).fetchall()
                    ),
                }
                topics = {
                    r[0]: {"TopicName": r[1], "CustomString": r[2], "ShutUpAllMember": r[3]}
                    for r in c.execute(
                        "SELECT topic_id, name, custom_string, mute_all FROM topics"
                        " WHERE group_seq = ? ORDER BY topic_id",
                        (g["seq"],),
                    )
                }
                pgs = {
                    r[0]: {
                        "PermissionGroupName": r[1],
                        "Permission": r[2],
                        "Members": [],
                        "TopicPermission": {},
                    }  # fmt: skip
                    for r in c.execute(
                        "SELECT pg_id, name, permission FROM permission_groups WHERE group_seq = ?",
                        (g["seq"],),
                    )
                }
                for pg, account in c.execute(
                    "SELECT pg_id, account FROM permission_members WHERE group_seq = ?"
                    " ORDER BY account",
                    (g["seq"],),
                ):
                    pgs[pg]["Members"].append(account)
                for pg, topic, bits in c.execute(
                    "SELECT pg_id, topic_id, permission FROM topic_permissions WHERE group_seq = ?",
                    (g["seq"],),
                ):
                    pgs[pg]["TopicPermission"][topic] = bits
                groups[g["group_id"]] = {
                    "GroupId": g["group_id"],
                    "Type": g["type"],
                    "Name": g["name"],
                    "Introduction": g["introduction"],
                    "Notification": g["notification"],
                    "FaceUrl": g["face_url"],
                    "Owner_Account": g["owner"],
                    "InfoSeq": g["info_seq"],
                    "MaxMemberNum": g["max_member_num"],
                    "ApplyJoinOption": g["apply_join"],
                    "InviteJoinOption": g["invite_join"],
                    "MuteAllMember": "On" if g["mute_all"] else "Off",
                    "SupportTopic": g["support_topic"],
                    "EnablePermission": g["enable_permission"],
                    "DefaultPermission": g["default_permission"],
                    "HistoryMsgBeforeJoin": g["history_before_join"],
                    "AppDefinedData": json.loads(g["app_data"]),
                    "MemberList": members,
                    **(room if g["type"] == rules.AVCHATROOM else {}),
                    **({"Topics": topics, "PermissionGroups": pgs} if g["support_topic"] else {}),
                }
        return {"accounts": accounts, "groups": groups}

    def counts(self) -> dict[str, int]:
        with self.transaction() as c:
            return {
                "groups": c.execute("SELECT count(*) FROM groups").fetchone()[0],
                "members": c.execute("SELECT count(*) FROM members").fetchone()[0],
                "accounts": c.execute("SELECT count(*) FROM accounts").fetchone()[0],
            }


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
