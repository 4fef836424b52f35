"""The generated app of the scale benchmark: live state, desired config, and its minimums.

Everything here is computed from the generated shape and the documented limits (shared/
reference/tencent-chat-rest-api.md), never from the reconciler's planner, so the benchmark does
not compare the code with itself.

Member attributes are tuples ``(role, name_card, msg_flag, muted_until, dept)``; ``dept`` is the
member custom key ``Dept`` ("" = unset).
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Documented limits (reference §3-§10); the member page size is the current page text's maximum
# (the field table says 6,000; the page text says 200; the client sends 200).
GROUP_INFO_BATCH = 50
MEMBER_PAGE = 200
ONLINE_PAGE = 500  # get_members page
ONLINE_LIST_CAP = 1000  # get_members without Mark lists the latest 1,000 online members
ACCOUNT_BATCH = 100
CREATE_MEMBERS = 100
IMPORT_BATCH = 300
DELETE_BATCH = 100
MARKS_BATCH = 500
MUTE_BATCH = 500  # forbid_send_msg: accounts per call, one MuteTime for all of them
BY_NAME_BATCH = 50  # get_specified_group_member_info: accounts named per call (CN-112002)

# The account APIs' documented rate (CN 248/4919, EN-34956); the others run at the app's rate.
ACCOUNT_RATE = 100.0
ACCOUNT_APIS = ("account_check", "multiaccount_import")


@dataclass(frozen=True)
class Reading:
    """What one reading of the vendor's docs says where the revisions disagree (reference
    §16.1), as the emulator's profile of the same name enforces it."""

    import_batch: int  # import_group_member accounts per call
    info_list_max: int  # the biggest group get_group_info lists the members of


READINGS = {
    # The seed pages: 300 per import; get_group_info lists up to 6,000 members (every
    # Work/Public/Meeting group whole).
    "default": Reading(import_batch=IMPORT_BATCH, info_list_max=6000),
    # CN-1636 (2026-01): 20 per import; CN-1616 (2025-12): big groups are paged.
    "latest": Reading(import_batch=20, info_list_max=500),
}

# The guard the generated config sets (policy.max_removal_fraction, min_group_size_for_guard).
GUARD_FRACTION = 0.25
GUARD_MIN_SIZE = 10

DEFAULT = ("Member", "", "AcceptAndNotify", 0, "")
TYPES = (  # (config name, API name, share of groups)
    ("Work", "Private", 0.30),
    ("Public", "Public", 0.25),
    ("Meeting", "ChatRoom", 0.20),
    ("AVChatRoom", "AVChatRoom", 0.10),
    ("Community", "Community", 0.15),
)
CAP = {"Private": 6000, "Public": 6000, "ChatRoom": 6000, "Community": 100_000}

# Dependent steps inside a group, in the order DESIGN.md gives.
CHAIN = (
    "create",
    "raise_max",
    "import",
    "change_owner",
    "modify",
    "set_marks",
    "delete_marks",
    "remove",
    "lower_max",
    "destroy",
)


@dataclass(slots=True)
class GroupShape:
    gid: str
    display: str  # the config's type name
    api_type: str
    owner: str
    exists: bool  # live before the run
    state: str = "present"  # in the config
    live_profile: tuple[str, str, str] = ("", "", "")  # name, introduction, custom Level
    want_profile: tuple[str, str, str] = ("", "", "")
    live: dict[str, tuple] | None = None  # account -> attributes (owner included)
    want: dict[str, tuple] | None = None
    online: list[str] = field(default_factory=list)  # AVChatRoom: online accounts
    live_marks: dict[int, list[str]] | None = None
    want_marks: dict[int, list[str]] | None = None
    # additive: the config lists only some members (the giant Communities list their owner
    # and admins: people join them by themselves), and nobody else is removed.
    mode: str = "authoritative"


@dataclass
class Shape:
    groups: list[GroupShape]
    accounts: list[str]  # imported in the app before the run
    missing: set[str]  # accounts the config adds that do not exist yet
    now: int

    @property
    def live_groups(self) -> list[GroupShape]:
        return [g for g in self.groups if g.exists]

    def memberships(self) -> int:
        return sum(len(g.live or ()) for g in self.groups if g.exists)


# --- generation --------------------------------------------------------------------------------


def _sizes(rng: random.Random, n: int, total: int, low: int, high: int) -> list[int]:
    """``n`` sizes from a log-normal (many small, few large) clipped to [low, high], ~``total``."""
    if n == 0:
        return []
    weights = [rng.lognormvariate(0, 1.3) for _ in range(n)]
    lo, hi = 0.0, 10.0 * max(total, n) / sum(weights)
    for _ in range(40):  # bisect the scale so the clipped sizes add up to the total
        mid = (lo + hi) / 2
        if sum(min(high, max(low, round(w * mid))) for w in weights) < total:
            lo = mid
        else:
            hi = mid
    return [min(high, max(low, round(w * hi))) for w in weights]


class _Gen:
    def __init__(self, seed: int, now: int, drift: float) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.drift = drift
        self.new_accounts = 0
        self.missing: set[str] = set()

    def attrs(self, api_type: str, owner: bool) -> tuple:
        r = self.rng.random
        role = "Owner" if owner else ("Admin" if r() < 0.05 else "Member")
        card = f"Card {self.rng.randrange(10**6)}" if r() < 0.2 else ""
        f = r()
        flag = "AcceptNotNotify" if f < 0.08 else "Discard" if f < 0.10 else "AcceptAndNotify"
        mute = 0
        if api_type != "Private" and not owner and r() < 0.02:
            mute = self.now + self.rng.randrange(30 * 86400, 60 * 86400)
        dept = f"d{self.rng.randrange(50)}" if r() < 0.1 else ""
        return (role, card, flag, mute, dept)

    def modified(self, api_type: str, t: tuple, owner: bool) -> tuple:
        """The same member with one attribute changed (never the owner's role)."""
        role, card, flag, mute, dept = t
        kinds = ["card", "flag", "dept"] + ([] if owner else ["role"])
        if api_type != "Private" and not owner:
            kinds.append("mute")
        kind = self.rng.choice(kinds)
        if kind == "card":
            card = f"Card {self.rng.randrange(10**6)}x"
        elif kind == "flag":
            flag = "Discard" if flag == "AcceptNotNotify" else "AcceptNotNotify"
        elif kind == "dept":
            dept = f"e{self.rng.randrange(50)}"
        elif kind == "role":
            role = "Member" if role == "Admin" else "Admin"
        else:
            mute = 0 if mute else self.now + self.rng.randrange(30 * 86400, 60 * 86400)
        return (role, card, flag, mute, dept)

    def new_account(self, pool: int, taken: dict | set) -> str:
        """An account joining a group: 90% existing, 10% not yet imported in the app."""
        if self.rng.random() < 0.1:
            self.new_accounts += 1
            account = f"n{self.new_accounts:07d}"
            self.missing.add(account)
            return account
        while True:
            account = f"u{self.rng.randrange(pool):07d}"
            if account not in taken:
                return account


def generate(
    groups: int, members: int, drift: float, seed: int, now: int, guarded: bool = True
) -> Shape:
    """A realistic app of ``groups`` groups holding about ``members`` memberships, and a config
    that differs from it by the ``drift`` fraction. ``guarded``: no group loses more members
    than the config's removal guard allows."""
    gen = _Gen(seed, now, drift)
    rng = gen.rng
    # Types: one of each first, then by share.
    names = [t for t in TYPES]
    types = [names[i] for i in range(min(groups, len(names)))]
    types += rng.choices(names, weights=[t[2] for t in names], k=groups - len(types))
    rng.shuffle(types)
    listed = [i for i, t in enumerate(types) if t[1] != "AVChatRoom"]
    community = [i for i in listed if types[i][1] == "Community"]
    small_types = [i for i in listed if types[i][1] != "Community"]

    sizes: dict[int, int] = {}
    budget = members
    # A few Community groups in the tens of thousands (at most 30% of all memberships).
    giants = community[: max(1, round(groups / 2500))] if community else []
    want = [rng.randint(10_000, 60_000) for _ in giants]
    factor = min(1.0, 0.3 * members / max(1, sum(want)))
    for i, s in zip(giants, want, strict=True):
        sizes[i] = max(2, int(s * factor))
    # A few Work/Public/Meeting groups near the 6,000 ceiling (at most 15%).
    bigs = small_types[: max(1, round(groups / 500))] if small_types else []
    want = [rng.randint(2_000, 6_000) for _ in bigs]
    factor = min(1.0, 0.15 * members / max(1, sum(want)))
    for i, s in zip(bigs, want, strict=True):
        sizes[i] = max(2, int(s * factor))
    budget -= sum(sizes.values())
    rest = [i for i in listed if i not in sizes]
    for i, s in zip(rest, _sizes(rng, len(rest), max(budget, 2 * len(rest)), 2, 1500), strict=True):
        sizes[i] = s
    pool = max(1000, members // 4, 2 * max(sizes.values(), default=0))

    shapes: list[GroupShape] = []
    for i, (display, api_type, _) in enumerate(types):
        gid = f"@TGS#_c{i:06d}" if api_type == "Community" else f"{display[0].lower()}{i:06d}"
        level = str(i % 9) if i % 3 == 0 else ""
        profile = (f"Group {i} {display}"[:30], f"Generated {display} group {i}", level)
        g = GroupShape(gid, display, api_type, "", True, "present", profile, profile)
        if api_type == "AVChatRoom":
            g.owner = f"u{rng.randrange(pool):07d}"
            n_online = min(800, max(3, int(rng.lognormvariate(3.5, 1.0))))
            g.online = [f"u{a:07d}" for a in rng.sample(range(pool), n_online)]
            if rng.random() < 0.7:
                marks = {}
                for m in range(1000, 1000 + rng.randint(1, 3)):
                    k = max(1, min(200, int(n_online * rng.uniform(0.02, 0.2))))
                    marks[m] = sorted(rng.sample(g.online, k))
                g.live_marks = marks
        else:
            accounts = [f"u{a:07d}" for a in rng.sample(range(pool), sizes[i])]
            g.owner = accounts[0]
            # Seeding makes the owner a plain Owner (EmulatorStore.seed adds it that way).
            g.live = {a: gen.attrs(api_type, False) for a in accounts[1:]}
            g.live = {g.owner: ("Owner", *DEFAULT[1:]), **g.live}
        shapes.append(g)
    accounts = sorted(
        {a for g in shapes for a in (*(g.live or ()), *g.online, g.owner)} | {"administrator"}
    )

    # --- drift -------------------------------------------------------------------------------
    live = list(shapes)
    big_ids = {shapes[i].gid for i in (*giants, *bigs)}
    for i in giants:
        shapes[i].mode = "additive"
    candidates = [g for g in live if g.gid not in big_ids]
    destroyed = set(
        id(g) for g in rng.sample(candidates, min(len(candidates), round(groups * drift / 2)))
    )
    present = [g for g in live if id(g) not in destroyed]
    edited = set(id(g) for g in rng.sample(present, min(len(present), round(groups * drift))))
    p = drift / 3
    for g in live:
        if id(g) in destroyed:
            g.state = "absent"
            g.want = dict(g.live) if g.live is not None else None
            g.want_marks = g.live_marks
            continue
        if id(g) in edited:
            name, intro, level = g.live_profile
            what = rng.randrange(3)
            if what == 0:
                intro = intro + " (edited)"
            elif what == 1:
                level = str((int(level or 0) + 1) % 9 or 9)
            else:
                name = f"Renamed {g.gid}"[:30]
            g.want_profile = (name, intro, level)
        if g.live is not None:
            want: dict[str, tuple] = {}
            listed = g.live
            if g.mode == "additive":
                listed = {a: t for a, t in g.live.items() if a == g.owner or t[0] == "Admin"}
            removable = len(g.live) - 1
            cap = removable
            if guarded and len(g.live) >= GUARD_MIN_SIZE:
                cap = int(GUARD_FRACTION * len(g.live))
            removed = 0
            adds = 0
            for account, t in listed.items():
                owner = account == g.owner
                u = rng.random()
                if u < p and not owner and removed < cap:
                    removed += 1
                    continue
                if p <= u < 2 * p:
                    want[account] = gen.modified(g.api_type, t, owner)
                else:
                    want[account] = t
                if 2 * p <= u < 3 * p:
                    adds += 1
            for _ in range(adds):
                account = gen.new_account(pool, g.live.keys() | want.keys())
                if account in want:
                    continue
                want[account] = gen.attrs(g.api_type, False)
            g.want = want
        if g.live_marks is not None:
            marks = {}
            for mark, accounts_ in g.live_marks.items():
                keep = [a for a in accounts_ if rng.random() >= drift]
                unmarked = sorted(set(g.online) - set(accounts_))
                add = sum(rng.random() < drift for _ in accounts_)
                marks[mark] = sorted(keep + rng.sample(unmarked, min(add, len(unmarked))))
            g.want_marks = marks
    # New groups, sized like the rest.
    n_new = round(groups * drift)
    new_types = rng.choices(names, weights=[t[2] for t in names], k=n_new)
    new_sizes = _sizes(rng, n_new, max(2 * n_new, members * n_new // max(1, groups)), 2, 1500)
    for j, ((display, api_type, _), size) in enumerate(zip(new_types, new_sizes, strict=True)):
        gid = f"@TGS#_cnew{j:05d}" if api_type == "Community" else f"{display[0].lower()}new{j:05d}"
        profile = (f"New {display} {j}"[:30], f"Created by the benchmark, {j}", str(j % 9))
        owner = f"u{rng.randrange(pool):07d}"
        g = GroupShape(gid, display, api_type, owner, False, "present", ("", "", ""), profile)
        if api_type != "AVChatRoom":
            want = {owner: gen.attrs(api_type, True)}
            while len(want) < size:
                account = gen.new_account(pool, want)
                want[account] = gen.attrs(api_type, False)
            g.want = want
        shapes.append(g)
    return Shape(shapes, accounts, gen.missing, now)


# --- writing -----------------------------------------------------------------------------------


def seed_items(shape: Shape):
    """The live groups as EmulatorStore.seed items (REST field names)."""
    for g in shape.groups:
        if not g.exists:
            continue
        name, intro, level = g.live_profile
        item = {
            "GroupId": g.gid,
            "Type": g.api_type,
            "Owner_Account": g.owner,
            "Name": name,
            "Introduction": intro,
            "CreateTime": shape.now - 86400,
        }
        if level:
            item["AppDefinedData"] = [{"Key": "Level", "Value": level}]
        if g.live is not None:
            item["MemberList"] = [_seed_member(a, t) for a, t in g.live.items()]
        else:
            marks: dict[str, list[int]] = {}
            for mark, accounts in (g.live_marks or {}).items():
                for a in accounts:
                    marks.setdefault(a, []).append(mark)
            item["MemberList"] = [
                {"Member_Account": a, "Online": True, "Marks": marks.get(a, [])} for a in g.online
            ]
        yield item


def _seed_member(account: str, t: tuple) -> dict:
    role, card, flag, mute, dept = t
    m = {"Member_Account": account, "Role": role, "JoinTime": 1_700_000_000}
    if card:
        m["NameCard"] = card
    if flag != "AcceptAndNotify":
        m["MsgFlag"] = flag
    if mute:
        m["MuteUntil"] = mute
    if dept:
        m["AppMemberDefinedData"] = [{"Key": "Dept", "Value": dept}]
    return m


def _member_yaml(account: str, t: tuple, was: tuple | None, owner: bool) -> str:
    """A member entry declaring every attribute that is set or that changes."""
    was = was or DEFAULT
    role, card, flag, mute, dept = t
    fields = []
    if not owner and (role != "Member" or was[0] != role):
        fields.append(f"role: {role}")
    if card or was[1] != card:
        fields.append(f"name_card: {json.dumps(card)}")
    if flag != "AcceptAndNotify" or was[2] != flag:
        fields.append(f"msg_flag: {flag}")
    if mute or was[3] != mute:
        fields.append(f"muted_until: {mute}")
    if dept or was[4] != dept:
        fields.append(f"custom: {{Dept: {json.dumps(dept) if dept else 'null'}}}")
    if not fields:
        return f"      - {account}\n"
    return f"      - {{account: {account}, {', '.join(fields)}}}\n"


def write_config(
    shape: Shape,
    directory: Path,
    endpoint: str,
    rate_limit: float,
    batch: dict[str, int] | None = None,
) -> list[Path]:
    """app.yaml and one groups file per type, as a team would keep them; ``batch``: the
    app.limits.batch sizes to declare."""
    directory.mkdir(parents=True, exist_ok=True)
    limits = ""
    if batch:
        sizes = ", ".join(f"{api}: {n}" for api, n in batch.items())
        limits = f"  limits:\n    batch: {{{sizes}}}\n"
    (directory / "app.yaml").write_text(
        "app:\n"
        "  sdkappid: 1400000002\n"
        "  admin: administrator\n"
        f"  endpoint: {endpoint}\n"
        "  secret_key_env: TIM_SECRET_KEY\n"
        f"  rate_limit: {rate_limit:g}\n"
        "  create_missing_accounts: true\n"
        f"{limits}"
        "policy:\n"
        f"  max_removal_fraction: {GUARD_FRACTION}\n"
        f"  min_group_size_for_guard: {GUARD_MIN_SIZE}\n"
    )
    files = [directory / "app.yaml"]
    for display, _, _ in TYPES:
        out = ["groups:\n"]
        for g in shape.groups:
            if g.display != display:
                continue
            name, intro, level = g.want_profile
            out.append(f"  - id: {json.dumps(g.gid)}\n    type: {display}\n")
            if g.mode != "authoritative":
                out.append(f"    members_mode: {g.mode}\n")
            if g.state == "absent":
                out.append("    state: absent\n")
            out.append(f"    name: {json.dumps(name)}\n    owner: {g.owner}\n")
            out.append(f"    introduction: {json.dumps(intro)}\n")
            if level:
                out.append(f'    custom: {{Level: "{level}"}}\n')
            if g.want is not None:
                out.append("    members:\n")
                live = g.live or {}
                out.extend(_member_yaml(a, t, live.get(a), a == g.owner) for a, t in g.want.items())
            if g.want_marks is not None:
                out.append("    marks:\n")
                for mark, accounts in g.want_marks.items():
                    out.append(f"      {mark}: [{', '.join(accounts)}]\n")
        path = directory / f"groups-{display.lower()}.yaml"
        path.write_text("".join(out))
        files.append(path)
    return files


# --- the minimum, from the shape and the documented limits -------------------------------------


def _pages(n: int, size: int) -> int:
    return max(1, math.ceil(n / size))


def _ceil(n: int, size: int) -> int:
    return math.ceil(n / size)


def _member_reads(named: int, live: int, chosen: Counter) -> tuple[str, int]:
    """The fewest calls that read ``named`` accounts of a group of ``live`` members that
    get_group_info does not list whole: by name, 50 a call, or every member, 200 a page; on a
    tie, the API with fewer calls in ``chosen`` so far (each has its own rate limit), where the
    choice is added. Which API a tie goes to depends on the order groups are read in, so only
    the sum of the two is exact."""
    by_name, pages = _ceil(named, BY_NAME_BATCH), _pages(live, MEMBER_PAGE)
    if by_name < pages or (
        by_name == pages
        and chosen["get_specified_group_member_info"] <= chosen["get_group_member_info"]
    ):
        api, n = "get_specified_group_member_info", by_name
    else:
        api, n = "get_group_member_info", pages
    chosen[api] += n
    return api, n


def _mark_reads(g: GroupShape, marks) -> int:
    """get_members calls that read who carries each of an AVChatRoom's ``marks`` (500 a page)."""
    return sum(_pages(len((g.live_marks or {}).get(mark, ())), ONLINE_PAGE) for mark in marks)


def _online_reads(g: GroupShape, marks) -> int:
    """get_members calls that read an AVChatRoom's ``marks`` for a plan: the online list (500 a
    page, the latest 1,000), then each mark."""
    return _pages(min(len(g.online), ONLINE_LIST_CAP), ONLINE_PAGE) + _mark_reads(g, marks)


@dataclass
class Minimum:
    observe: Counter  # api -> calls
    apply: Counter
    # apply --plan's stale check: what the plan touches, read again (get_group_info 50 groups a
    # call; the touched members of groups not listed whole, by name or paged; declared marks)
    stale: Counter
    depth: int  # longest chain of dependent steps in one group (+1 for the account import)
    changes: Counter  # what changes, for the table
    joining: int
    # The stale check's dependent read steps: the get_group_info batch, then the longest chain
    # of member or mark reads that follows it (a Community's pages come one ``Next`` after
    # another; reads by name, and pages by offset, side by side).
    stale_depth: int = 0

    def floor_s(self, rate: float, latency_s: float) -> float:
        """The apply's floor: its busiest API at the rate limit, plus its dependent steps."""
        return busiest_s(self.apply, rate) + latency_s * self.depth

    def stale_floor_s(self, rate: float, latency_s: float) -> float:
        """The stale check's own floor: its busiest read API at the limit, plus its chain."""
        return busiest_s(self.stale, rate) + latency_s * self.stale_depth


def busiest_s(calls: Counter | dict[str, int], rate: float) -> float:
    """Seconds the busiest API of ``calls`` takes at its rate limit (the account APIs' is
    ACCOUNT_RATE at most, the others' ``rate``)."""

    def rate_of(api: str) -> float:
        return min(rate, ACCOUNT_RATE) if api in ACCOUNT_APIS else rate

    return max((n / rate_of(api) for api, n in calls.items()), default=0.0)


def minimum(shape: Shape, reading: Reading = READINGS["default"]) -> Minimum:
    """Fewest calls to observe the declared groups and to apply the change, and the chain depth.

    Observe: get_group_info 50 groups a call; Community member lists paged 200 a call (Work,
    Public and Meeting groups come whole with get_group_info up to ``reading.info_list_max``
    members, and are paged 200 a call beyond it), except that an additive group's declared
    accounts and owner are read by name, 50 a call, when that takes no more calls (it removes
    nobody, so nobody else matters); AVChatRoom marks read
    with get_members: the online list (500 a page, the latest 1,000) and each declared mark;
    account_check 100 a call for every account that would join a group. Nothing is read for
    groups to be destroyed beyond their existence.

    Apply: multiaccount_import 100 a call for accounts that do not exist; create_group with up to
    100 initial members (Role Admin and custom data ride along; members with custom data go
    first), the rest imported 300 a call; import_group_member 300 a call (it carries Role Admin,
    not name card, message flag, mute or custom data); one modify_group_member_info per member
    whose name card, message flag or custom data change or are set on joining beyond what the
    joining call carries (a mute rides along with it); forbid_send_msg for the other mutes, 500
    accounts a call per distinct deadline (all unmutes of a group share calls); one
    delete_group_member per 100; one modify_group_base_info per group whose profile changes;
    modify_user_info 500 accounts a call per command type; destroy_group 1.

    Stale check (apply --plan): get_group_info 50 a call for every group the plan touches; for
    a touched group get_group_info does not list whole, the members the plan modifies, by name
    50 a call or paged when fewer; of an AVChatRoom, the marks the plan sets or deletes (not its
    online list: fingerprints cover marks, not who is online). Its chain: ``stale_depth``.
    """
    obs: Counter = Counter()
    app: Counter = Counter()
    stale: Counter = Counter()
    obs_chosen: Counter = Counter()  # reads by name or paged, chosen per group (ties split)
    stale_chosen: Counter = Counter()
    touched = 0
    stale_steps = 0  # the longest chain of the stale check's reads after get_group_info
    rule_new: Counter = Counter()  # new groups' imports, modifies and mutes
    changes: Counter = Counter()
    declared = shape.groups
    obs["get_group_info"] = _ceil(len(declared), GROUP_INFO_BATCH)
    joining: set[str] = set()
    depth = 0
    for g in declared:
        steps: set[str] = set()
        if g.state == "absent":
            if g.exists:
                app["destroy_group"] += 1
                changes["groups_destroy"] += 1
                steps.add("destroy")
                touched += 1
            depth = max(depth, len(steps))
            continue
        paged = g.live is not None and (
            g.api_type == "Community" or len(g.live) > reading.info_list_max
        )
        if g.exists and g.want is not None and g.live is not None and paged:
            if g.mode == "additive":
                named = len(g.want) + (g.owner not in g.want)
                api, n = _member_reads(named, len(g.live), obs_chosen)
            else:
                api, n = "get_group_member_info", _pages(len(g.live), MEMBER_PAGE)
            obs[api] += n
        if g.exists and g.api_type == "AVChatRoom" and g.want_marks is not None:
            obs["get_members"] += _online_reads(g, g.want_marks)
        live = g.live if g.exists and g.live is not None else {}
        if g.want is not None:
            joining.update(a for a in g.want if a not in live)
        if not g.exists:
            joining.add(g.owner)  # create_group needs the owner's account
        if g.exists and g.want_profile != g.live_profile:
            app["modify_group_base_info"] += 1
            changes["groups_profile"] += 1
        if not g.exists:
            app["create_group"] += 1
            changes["groups_create"] += 1
            steps.add("create")
            touched += 1
            if g.want is not None:
                joiners = [(a, t) for a, t in g.want.items() if a != g.owner]
                n = len(joiners)
                changes["members_add"] += n
                # 100 join in create_group, which carries custom data (import does not): first
                # those whose custom data is all that would need a modify call; the rest are
                # imported 300 a call.
                if n > CREATE_MEMBERS:
                    imported = n - CREATE_MEMBERS
                    rule_new["import_group_member"] += _ceil(imported, reading.import_batch)
                    steps.add("import")
                # The owner joins through Owner_Account: its card, flag and custom data need a
                # modify call. A joiner needs one for a card or flag, or for custom data that
                # did not fit in create_group.
                needing = {a for a, t in joiners if t[1] or t[2] != DEFAULT[2]}
                plain_custom = [a for a, t in joiners if t[4] and a not in needing]
                needing.update(plain_custom[CREATE_MEMBERS:])
                owner_t = g.want[g.owner]
                if owner_t[1] or owner_t[2] != DEFAULT[2] or owner_t[4]:
                    needing.add(g.owner)
                mutes = Counter(
                    t[3] for a, t in g.want.items() if t[3] > shape.now and a not in needing
                )
                if needing:
                    rule_new["modify_group_member_info"] += len(needing)
                    steps.add("modify")
                if mutes:
                    rule_new["forbid_send_msg"] += sum(_ceil(k, MUTE_BATCH) for k in mutes.values())
                    steps.add("modify")
            depth = max(depth, len(steps))
            continue
        if g.want is not None:
            added = [a for a in g.want if a not in live]
            removed = [a for a in live if a not in g.want] if g.mode == "authoritative" else []
            modified = [a for a, t in g.want.items() if a in live and t != live[a]]
            # The stale check reads again the members the plan modifies (imports and removals
            # that find their work done count as done).
            if modified and paged:
                api, n = _member_reads(len(modified), len(live), stale_chosen)
                stale[api] += n
                cursor = api == "get_group_member_info" and g.api_type == "Community"
                stale_steps = max(stale_steps, n if cursor else 1)
            changes["members_add"] += len(added)
            changes["members_remove"] += len(removed)
            changes["members_modify"] += len(modified)
            # A member needs modify_group_member_info for a role, card, flag or custom data that
            # changes (or is set on joining: import carries only Role Admin); a mute rides
            # along with it. The other mutes go to forbid_send_msg by deadline.
            needing: set[str] = set()
            mutes: Counter = Counter()
            for a, t in g.want.items():
                was = live.get(a, DEFAULT if a in added else t)
                role_changes = a in live and t[0] != was[0]
                if role_changes or t[1] != was[1] or t[2] != was[2] or t[4] != was[4]:
                    needing.add(a)
                elif t[3] != was[3] and (t[3] > shape.now or was[3] > shape.now):
                    mutes[t[3] if t[3] > shape.now else 0] += 1
            if added:
                app["import_group_member"] += _ceil(len(added), reading.import_batch)
                steps.add("import")
            if needing:
                app["modify_group_member_info"] += len(needing)
                steps.add("modify")
            if mutes:
                app["forbid_send_msg"] += sum(_ceil(k, MUTE_BATCH) for k in mutes.values())
                steps.add("modify")
            if removed:
                app["delete_group_member"] += _ceil(len(removed), DELETE_BATCH)
                steps.add("remove")
        if g.want_marks is not None:
            live_marks = g.live_marks or {}
            online = set(g.online)
            gain: set[str] = set()
            lose: set[str] = set()
            changed: list[int] = []  # the marks the plan sets or deletes
            for mark, accounts in g.want_marks.items():
                have = set(live_marks.get(mark, ()))
                sets = {a for a in set(accounts) - have if a in online}
                gain.update(sets)
                lose.update(have - set(accounts))
                if sets or have - set(accounts):
                    changed.append(mark)
            changes["marks_set"] += len(gain)
            changes["marks_delete"] += len(lose)
            if gain:
                app["modify_user_info"] += _ceil(len(gain), MARKS_BATCH)
                steps.add("set_marks")
            if lose:
                app["modify_user_info"] += _ceil(len(lose), MARKS_BATCH)
                steps.add("delete_marks")
            if changed:
                stale["get_members"] += _mark_reads(g, changed)
                stale_steps = max(stale_steps, *(_mark_reads(g, [m]) for m in changed))
        if steps or g.want_profile != g.live_profile:
            touched += 1
        depth = max(depth, len(steps))
    existing = set(shape.accounts)
    missing = {a for a in joining if a not in existing}
    if joining:
        obs["account_check"] = _ceil(len(joining), ACCOUNT_BATCH)
    if missing:
        app["multiaccount_import"] = _ceil(len(missing), ACCOUNT_BATCH)
        changes["accounts_import"] = len(missing)
        depth += 1  # accounts are imported before any group step
    app += rule_new
    stale["get_group_info"] = _ceil(touched, GROUP_INFO_BATCH)
    stale_depth = (1 + stale_steps) if touched else 0
    return Minimum(+obs, +app, +stale, depth, changes, len(joining), stale_depth)


def naive_expected_calls(shape: Shape) -> int:
    """What benchmarks.naive makes for this change (one account per call, sequentially)."""
    calls = 0
    existing = set(shape.accounts)
    imported: set[str] = set()

    def join(account: str, t: tuple) -> int:
        n = 1
        if account not in existing and account not in imported:
            imported.add(account)
            n += 2  # the add fails (account missing), import it, add again
        if t[0] == "Admin" or t[1:] != DEFAULT[1:]:
            n += 1
        return n

    for g in shape.groups:
        calls += 1  # get_group_info of the one group
        if g.state == "absent":
            calls += 1 if g.exists else 0
            continue
        if not g.exists:
            calls += 1
            if g.owner not in existing and g.owner not in imported:
                imported.add(g.owner)
                calls += 2  # create fails (owner missing), import it, create again
            if g.want is not None:
                if g.want[g.owner][1:] != DEFAULT[1:]:
                    calls += 1
                calls += sum(join(a, t) for a, t in g.want.items() if a != g.owner)
            continue
        if g.want_profile != g.live_profile:
            calls += 1
        if g.want is not None:
            live = g.live or {}
            calls += _pages(len(live), MEMBER_PAGE)
            calls += sum(join(a, t) for a, t in g.want.items() if a not in live)
            if g.mode == "authoritative":
                calls += sum(1 for a in live if a not in g.want)
            calls += sum(1 for a, t in g.want.items() if a in live and t != live[a])
        if g.want_marks is not None:
            calls += _pages(min(len(g.online), ONLINE_LIST_CAP), ONLINE_PAGE)
            live_marks = g.live_marks or {}
            online = set(g.online)
            for mark, accounts in g.want_marks.items():
                have = set(live_marks.get(mark, ()))
                calls += _pages(len(have), ONLINE_PAGE)
                calls += sum(1 for a in set(accounts) - have if a in online)
                calls += len(have - set(accounts))
    return calls
