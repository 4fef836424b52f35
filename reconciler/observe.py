"""Read the live state of the declared groups with the fewest calls the API allows.

- get_group_info for every declared group, 50 per call (fewer after an answer over 1 MB). Work,
  Public and Meeting groups come back with their member list; when it is missing or shorter
  than the group's MemberNum (big groups, under the newest reading of the docs), the group is
  paged with get_group_member_info by ``Offset``, so no plan adds or removes on a partial list.
- Community groups whose members are managed: get_group_member_info paged by ``Next``.
- Additive groups (``members_mode: additive``) that would be paged: only the declared accounts
  and the owner, get_specified_group_member_info 50 a call, when that takes no more calls than
  the pages (undeclared members are never removed there, so the plan needs nobody else).
  Authoritative groups are always read whole: their undeclared members are removed.
- AVChatRoom groups whose marks are managed: get_members for the online list, and once per
  declared mark (mark 600 hides members from the plain online list, so marks are read by mark).
  Their admins, mutes and bans, when managed: get_admin_list, get_group_muted_account and
  get_group_ban_member (member lists do not carry them for AVChatRoom).
- Community groups with topics that declare topics: get_topic, one call for all of them; that
  declare permission groups: get_permission_group (one call), and for each declared one its
  members (get_permission_group_member_list) and topic permissions (get_topic_permission_group)
  when those are declared.
- account_check, 100 per call, for accounts that would join a group.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from reconciler.errors import ObserveError
from reconciler.state import COMMUNITY_ID_PREFIX, Group, GroupType, ObservedGroup
from reconciler.tim import wire
from reconciler.tim.client import TimClient
from reconciler.tim.errors import UNAVAILABLE_CODES, TimApiError
from reconciler.tim.limits import MEMBER_PAGE, Limits, chunks, permission_group_id
from reconciler.tim.wire.groups import index_group_info, parse_group_info


@dataclass(repr=False)  # a short repr: asyncio.run formats its result's repr (Python 3.11)
class Observation:
    groups: dict[str, ObservedGroup | None]  # None = the group does not exist
    missing_accounts: set[str] = field(default_factory=set)

    def __repr__(self) -> str:
        return (
            f"<Observation: {len(self.groups)} group(s), "
            f"{len(self.missing_accounts)} missing account(s)>"
        )


async def read_marks(
    client: TimClient, group: ObservedGroup, marks: list[int], online: bool = True
) -> None:
    """Who carries each of ``marks`` in an AVChatRoom, and (``online``) its online members."""
    plain = [wire.avchatroom.online_accounts(client, group.id)] if online else []
    listed = await asyncio.gather(
        *plain, *(wire.avchatroom.online_accounts(client, group.id, m) for m in marks)
    )
    per_mark = listed[len(plain) :]
    observed = {mark: accounts for mark, accounts in zip(marks, per_mark, strict=True) if accounts}
    if online:  # marked members are online by definition (600 only hides them from the list)
        group.online = sorted(set(listed[0]).union(*observed.values()))
    group.marks = observed


def _joining(want: Group, have: ObservedGroup | None) -> list[str]:
    """The accounts that would join the group: declared members not in it, and a new owner."""
    if want.state == "absent":
        return []
    current = ((have.members if have else None) or {}).keys()
    accounts = [a for a in want.declared_members() if a not in current]
    # An owner joins unless it is a member already, or already owns the group (AVChatRoom
    # groups and groups whose members are not read have no member list to look in).
    if want.owner and want.owner not in current and not (have and have.owner == want.owner):
        accounts.append(want.owner)
    # New AVChatRoom admins, mutes and bans name accounts, which must exist (10019 otherwise).
    accounts.extend(a for a in want.admins or () if a not in ((have and have.admins) or ()))
    for key in ("muted", "banned"):
        live = (getattr(have, key) if have else None) or {}
        accounts.extend(
            a for a, until in (getattr(want, key) or {}).items() if until and a not in live
        )
    return accounts


async def unless_unavailable(read: Awaitable[None], unavailable: set[str] | None) -> None:
    """Await ``read``; with ``unavailable`` (export), an API the app's edition does not offer
    (UNAVAILABLE_CODES) leaves what it reads unset and adds its name (the command) instead of
    failing."""
    try:
        await read
    except TimApiError as err:
        if unavailable is None or err.code not in UNAVAILABLE_CODES:
            raise
        unavailable.add(err.api.rsplit("/", 1)[-1])


async def read_room(
    client: TimClient,
    group: ObservedGroup,
    want: Group | None,
    unavailable: set[str] | None = None,
) -> None:
    """An AVChatRoom's admins, mutes and bans: each read only when ``want`` manages it (every
    one when ``want`` is None: export). With ``unavailable`` (export), a read the app's edition
    does not offer (they are Pro-edition APIs) leaves its key unset and adds the API's name."""

    async def read(key: str, call: Callable[[TimClient, str], Awaitable[object]]) -> None:
        async def one() -> None:
            setattr(group, key, await call(client, group.id))

        await unless_unavailable(one(), unavailable)

    reads = [
        read(key, call)
        for key, call in (
            ("admins", wire.avchatroom.get_admin_list),
            ("muted", wire.members.get_group_muted_account),
            ("banned", wire.members.get_group_ban_member),
        )
        if want is None or getattr(want, key) is not None
    ]
    await asyncio.gather(*reads)


def _lists_members(want: Group) -> bool:
    """Whether get_group_info is to list the group's members: they are managed, and the group
    is not an AVChatRoom (whose answer has no member list)."""
    return (
        want.members is not None
        and want.state != "absent"
        and want.type is not GroupType.AVChatRoom
    )


def _room_managed(want: Group) -> bool:
    return any(getattr(want, key) is not None for key in ("marks", "admins", "muted", "banned"))


def _reads_topics(want: Group | None, have: ObservedGroup) -> bool:
    """A Community's topics are read (get_topic, one call) when the config declares topics
    (export: always) and the group may have them. Only listed topics are managed, so an empty
    list needs no read."""
    return (
        have.type is GroupType.Community
        and have.support_topic is not False
        and (want is None or bool(want.topics))
    )


async def read_topics(client: TimClient, group: ObservedGroup) -> None:
    group.topics = await wire.topics.get_topic(client, group.id)


def _reads_permission_groups(want: Group | None, have: ObservedGroup) -> bool:
    return (
        have.type is GroupType.Community
        and have.support_topic is not False
        and (want is None or bool(want.permission_groups))
    )


async def read_permission_groups(
    client: TimClient, group: ObservedGroup, want: Group | None
) -> None:
    """A Community's permission groups (one get_permission_group), then the members and topic
    permissions of those ``want`` declares them for (of every one when ``want`` is None)."""
    live = await wire.permission_groups.get_permission_group(client, group.id)
    declared = want.permission_groups if want is not None else None

    async def details(pid: str) -> None:
        wanted = declared.get(pid) if declared is not None else None
        full = permission_group_id(pid)
        if declared is None or (wanted is not None and wanted.members is not None):
            live[pid].members = await wire.permission_groups.get_permission_group_member_list(
                client, group.id, full
            )
        if declared is None or (wanted is not None and wanted.topic_permissions is not None):
            perms = await wire.permission_groups.get_topic_permission_group(client, group.id, full)
            live[pid].topic_permissions = perms

    wanted_ids = live if declared is None else [p for p, pg in declared.items() if p in live
                                               and pg.state != "absent"]  # fmt: skip
    await asyncio.gather(*(details(pid) for pid in wanted_ids))
    group.permission_groups = live


def _reads_more(want: Group, have: ObservedGroup) -> bool:
    """Community members, and lists get_group_info left out or cut short, come by paging;
    AVChatRoom marks, admins, mutes and bans and Community topics by their own reads
    (destroying a group needs none of them)."""
    if have.type is GroupType.AVChatRoom:
        return _room_managed(want)
    return (
        (want.members is not None and have.members_partial())
        or _reads_topics(want, have)
        or _reads_permission_groups(want, have)
    )


@dataclass
class MemberReads:
    """The calls chosen so far to read members by name and by page. A group is read by name
    (get_specified_group_member_info, 50 accounts a call, the calls side by side) when that
    takes fewer calls than paging it (200 a page, one after another); on a tie, by the API
    chosen less so far: each API has its own rate limit, so reads spread over the two wait
    about half as long."""

    by_name: int = 0
    paged: int = 0

    def choose_by_name(self, limits: Limits, accounts: int, member_num: int | None) -> bool:
        named = math.ceil(accounts / limits.batch_of("get_specified_group_member_info"))
        pages = max(1, math.ceil((member_num or 0) / MEMBER_PAGE))
        by_name = named < pages or (named == pages and self.by_name <= self.paged)
        if by_name:
            self.by_name += named
        else:
            self.paged += pages
        return by_name


def _declared_accounts(want: Group, have: ObservedGroup) -> list[str] | None:
    """The accounts a plan needs of an additive group (its declared members and owner), or
    None when it needs every member."""
    if want.members_mode != "additive" or want.members is None:
        return None
    accounts = list(want.members)
    owner = want.owner or have.owner
    if owner and owner not in want.members:
        accounts.append(owner)  # the plan checks the owner is one, with the Owner role
    return accounts


async def read_members(
    client: TimClient,
    have: ObservedGroup,
    accounts: list[str] | None,
    reads: MemberReads | None = None,
) -> None:
    """Members of a group get_group_info did not list whole: ``accounts`` by name or paged, as
    ``reads`` chooses (see MemberReads); every member, paged, when ``accounts`` is None."""
    reads = reads if reads is not None else MemberReads()
    if accounts is not None and reads.choose_by_name(client.limits, len(accounts), have.member_num):
        have.members = await wire.members.specified_members(client, have.id, accounts)
        have.members_selected = True
    else:
        have.members = await wire.members.paged_members(
            client, have.id, have.type is GroupType.Community, have.member_num
        )


async def read_room_state(
    client: TimClient, have: ObservedGroup, want: Group, online: bool = True
) -> None:
    """An AVChatRoom's admins, mutes and bans as ``want`` manages them, and its declared marks
    (with ``online``, its online list too: a plan sets marks only on online members)."""
    marks = [read_marks(client, have, sorted(want.marks), online)] if want.marks is not None else []
    await asyncio.gather(read_room(client, have, want), *marks)


Settle = Callable[[Group, ObservedGroup | None], None]
T = TypeVar("T")
TURN_AFTER_S = 0.001  # reading a batch, the loop gets a turn at least this often


class Intake(Generic[T]):
    """How get_group_info answers are taken in. At most ``size`` batches are fetched and not
    yet read (the others wait unfetched, so a slow reader holds no pile of answers), and they
    are read one at a time, with a turn for the loop between groups: a batch of whole member
    lists takes tens of ms to read and diff, and with many read at once the calls waiting for
    the limiter meanwhile (the busiest read API's) would go out late. A batch holds items of
    type T (a desired Group, or a bare ID), ``group_id`` of each names its group."""

    def __init__(self, size: int, group_id: Callable[[T], str]) -> None:
        self._in_hand = asyncio.Semaphore(size)
        self._reading = asyncio.Lock()
        self._group_id = group_id

    async def take(
        self,
        batch: Sequence[T],
        fetch: Callable[[], Awaitable[list[dict]]],
        visit: Callable[[T, ObservedGroup | None], Awaitable[None] | None],
        named: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        """Fetch one batch's answer, hand each group of it to ``visit(item, have)``, which
        returns the reads that follow (or None), and then await those. ``named``: the only
        members wanted of each group (parse_group_info)."""
        more = []
        async with self._in_hand:
            answer = await fetch()
            async with self._reading:
                infos = index_group_info([answer])
                del answer
                turn = time.perf_counter()
                for item in batch:
                    gid = self._group_id(item)
                    only = None if named is None else named.get(gid, ())
                    follow = visit(item, parse_group_info(gid, infos.get(gid), only))
                    if follow is not None:
                        more.append(follow)
                    # A turn for the loop once a millisecond has gone by, not after each group:
                    # a batch without member lists is read in less, and a turn of a busy loop
                    # can take several.
                    if time.perf_counter() - turn >= TURN_AFTER_S:
                        await asyncio.sleep(0)
                        turn = time.perf_counter()
        # The answer goes now, not when the batch's longest member list is read: each read
        # holds its own group.
        del infos
        await asyncio.gather(*more)


async def observe(
    client: TimClient, desired: list[Group], settle: Settle | None = None
) -> Observation:
    """Observe every desired group, and check the accounts that would join a group.

    Groups are read 50 per get_group_info call (asking only for what a plan compares), those
    with reads to follow (Community members, AVChatRoom marks) in the first calls, and read on
    as soon as their batch arrives. The accounts that would join are checked 100 a call as
    groups complete, beside the reads.
    ``settle(want, have)``, when given, is called for each group once it is read in full (a
    plan diffs it then, and lets its member list go: see ``ObservedGroup.release_members``).
    """
    observed: dict[str, ObservedGroup | None] = {}
    member_reads = MemberReads()
    intake: Intake[Group] = Intake(client.max_in_flight, lambda want: want.id)
    limits = client.limits
    check_batch = limits.batch_of("account_check")
    to_check: list[str] = []  # joining accounts not yet sent to account_check
    sent: set[str] = set()
    checks: list[asyncio.Future[dict[str, bool]]] = []

    def check(accounts: list[str]) -> None:
        checks.append(asyncio.ensure_future(wire.accounts.account_check(client, accounts)))

    def complete(want: Group, have: ObservedGroup | None) -> None:
        observed[want.id] = have
        for account in _joining(want, have):
            if account not in sent:
                sent.add(account)
                to_check.append(account)
        while len(to_check) >= check_batch:
            check(to_check[:check_batch])
            del to_check[:check_batch]
        if settle is not None:
            settle(want, have)

    async def read_more(want: Group, have: ObservedGroup) -> None:
        if have.type is not GroupType.AVChatRoom:
            reads = []
            if want.members is not None and have.members_partial():
                accounts = _declared_accounts(want, have)
                reads.append(read_members(client, have, accounts, member_reads))
            if _reads_topics(want, have):
                reads.append(read_topics(client, have))
            if _reads_permission_groups(want, have):
                reads.append(read_permission_groups(client, have, want))
            await asyncio.gather(*reads)
        else:
            await read_room_state(client, have, want)
        complete(want, have)

    async def read_batch(batch: list[Group]) -> None:
        # Only what the plan reads: the profile, the declared custom keys and, where members
        # are managed, their lists with the fields and declared custom keys the plan compares
        # (half the bytes of everything).
        group_keys = sorted({key for want in batch for key in want.custom})
        member_keys = None
        if any(_lists_members(want) for want in batch):
            member_keys = sorted(
                {key for want in batch for key in want.declared_members().custom_keys()}
            )
        ids = [g.id for g in batch]

        def visit(want: Group, have: ObservedGroup | None) -> Awaitable[None] | None:
            if have is not None and want.state != "absent" and _reads_more(want, have):
                return read_more(want, have)
            complete(want, have)
            return None

        await intake.take(
            batch,
            lambda: wire.groups.get_group_profiles(client, ids, group_keys, member_keys),
            visit,
        )

    def reads_follow(want: Group) -> bool:
        if want.state == "absent":
            return False
        if want.type is GroupType.AVChatRoom:
            return _room_managed(want)
        return want.type is GroupType.Community and (
            want.members is not None or bool(want.topics) or bool(want.permission_groups)
        )

    # Groups with reads to follow first, so those run beside the other batches (the busiest
    # read API starts at once instead of after every group's profile).
    ordered = sorted(desired, key=lambda want: not reads_follow(want))
    try:
        await asyncio.gather(
            *(read_batch(batch) for batch in chunks(ordered, limits.batch_of("get_group_info")))
        )
        for batch in chunks(to_check, check_batch):
            check(batch)
        results = await asyncio.gather(*checks)
    except BaseException:
        for pending in checks:
            pending.cancel()
        raise
    missing = {acct for res in results for acct, ok in res.items() if not ok}
    groups = {want.id: observed[want.id] for want in desired}  # in the config's order
    return Observation(groups=groups, missing_accounts=missing)


@dataclass(frozen=True)
class Reread:
    """What a group is read again for (a saved plan's stale check): these members and these
    of their attributes, and these custom keys of the group and of those members."""

    accounts: Sequence[str] = ()
    group_keys: Sequence[str] = ()
    member_keys: Sequence[str] = ()
    member_fields: Sequence[str] = ()  # the attributes of those members but custom ones
    topics: bool = False  # a Community's topics (get_topic), when the plan changes some
    permission_groups: bool = False  # and its permission groups

    def reads_more(self, listed: bool) -> bool:
        """Whether reads follow get_group_info: members it did not list, topics, permission
        groups."""
        return (bool(self.accounts) and not listed) or self.topics or self.permission_groups


async def observe_accounts(
    client: TimClient, wanted: list[Group], needs: Mapping[str, Reread], settle: Settle
) -> None:
    """Read each group of ``wanted`` again for what ``needs`` names of it, and nothing more:
    get_group_info 50 groups a call, asking only for the profile, the named custom keys and,
    where members are named, the member fields the state model reads; those members from its
    list when it is whole, else by name or paged, whichever takes fewer calls; AVChatRoom marks,
    admins, mutes and bans as the group manages them. No account is checked.
    ``settle(want, have)`` is called for each group once it is read."""
    empty = Reread()
    member_reads = MemberReads()
    intake: Intake[Group] = Intake(client.max_in_flight, lambda want: want.id)
    # Of a member list get_group_info gives whole, only the named members are kept.
    named = {gid: frozenset(need.accounts) for gid, need in needs.items()}

    def listed(want: Group) -> bool:  # its members come with get_group_info
        named = needs.get(want.id, empty).accounts
        return bool(named) and want.type not in (GroupType.AVChatRoom, GroupType.Community)

    async def read_more(want: Group, have: ObservedGroup) -> None:
        if have.type is GroupType.AVChatRoom:  # fingerprints cover marks, not who is online
            await read_room_state(client, have, want, online=False)
        else:
            need = needs.get(want.id, empty)
            await asyncio.gather(
                *([read_named(have, list(need.accounts))] if need.accounts else []),
                *([read_topics(client, have)] if need.topics else []),
                *([read_permission_groups(client, have, want)] if need.permission_groups else []),
            )
        settle(want, have)

    async def read_named(have: ObservedGroup, named: list[str]) -> None:
        if have.members_partial():  # else get_group_info listed them
            await read_members(client, have, named, member_reads)

    async def read_batch(batch: list[Group], intake: Intake[Group]) -> None:
        group_keys = sorted({k for g in batch for k in needs.get(g.id, empty).group_keys})
        member_keys: list[str] | None = None
        fields: list[str] | None = None
        if any(listed(g) for g in batch):
            member_keys = sorted({k for g in batch for k in needs.get(g.id, empty).member_keys})
            fields = sorted({f for g in batch for f in needs.get(g.id, empty).member_fields})
            fields = fields or ["role"]  # a member list comes only with some field asked for
        ids = [g.id for g in batch]

        def visit(want: Group, have: ObservedGroup | None) -> Awaitable[None] | None:
            if have is None or want.state == "absent":
                settle(want, have)
            elif have.type is GroupType.AVChatRoom:
                if _room_managed(want):
                    return read_more(want, have)
                settle(want, have)
            elif needs.get(want.id, empty).reads_more(not have.members_partial()):
                return read_more(want, have)
            else:
                settle(want, have)
            return None

        await intake.take(
            batch,
            lambda: wire.groups.get_group_profiles(client, ids, group_keys, member_keys, fields),
            visit,
            named,
        )

    def order(want: Group) -> tuple:
        if want.type is GroupType.AVChatRoom:
            return (0,) if _room_managed(want) else (2,)
        need = needs.get(want.id, empty)
        if want.type is GroupType.Community and need.reads_more(listed=False):
            return (0,)
        if listed(want):
            return (1, tuple(need.member_fields), tuple(need.member_keys))
        return (2,)

    # Groups with reads to follow first, so those overlap the other batches; then the groups
    # get_group_info lists the members of, so the other batches carry no member list, and
    # those alike side by side, so each list carries only the fields its groups' need.
    # The batches of the last kind (no member list, no read to follow: small answers, soon
    # read) have an intake of their own, so they go out beside the others instead of all at
    # the end, where they waited for the rate limit alone.
    ordered = sorted(wanted, key=order)
    light: Intake[Group] = Intake(client.max_in_flight, lambda want: want.id)
    batches = chunks(ordered, client.limits.batch_of("get_group_info"))
    await asyncio.gather(
        *(read_batch(b, light if order(b[0]) == (2,) else intake) for b in batches)
    )


async def read_groups(
    client: TimClient,
    ids: list[str],
    unavailable: set[str] | None = None,
    missing: list[str] | None = None,
    take: Callable[[ObservedGroup], None] | None = None,
) -> list[ObservedGroup]:
    """Every group of ``ids`` with its whole member list, and the topics of Communities with
    topics (export); ObserveError if one is missing, unless ``missing`` is given: then the
    missing IDs are added to it. ``unavailable``: see ``read_room``. ``take``: called with each
    group as soon as it is whole, which is then not kept (nothing is returned): export turns it
    into text while the longest member lists are still being read."""
    kept: list[ObservedGroup] = []
    # One answer read while the next is fetched: the reads that follow (a Community's member
    # pages one after another, above all) need the loop and the server more than a pile of
    # profiles waiting to be read does.
    intake: Intake[str] = Intake(2, lambda gid: gid)

    async def whole(group: ObservedGroup) -> None:
        await _read_whole(client, group, unavailable)
        (take or kept.append)(group)

    absent = missing if missing is not None else []

    def visit(gid: str, group: ObservedGroup | None) -> Awaitable[None] | None:
        if group is None:
            absent.append(gid)
            return None
        return whole(group)

    # Communities in the first calls: their member pages follow one another, so the longest
    # chain, which sets the time of the whole read, starts with the first answers.
    ordered = sorted(ids, key=lambda gid: not gid.startswith(COMMUNITY_ID_PREFIX))

    async def batch(part: list[str]) -> None:
        await intake.take(part, lambda: wire.groups.get_group_info(client, part), visit)

    await asyncio.gather(
        *(batch(part) for part in chunks(ordered, client.limits.batch_of("get_group_info")))
    )
    if absent and missing is None:
        raise ObserveError(f"group(s) not found in the app: {', '.join(absent)}")
    order = {gid: i for i, gid in enumerate(ids)}
    return sorted(kept, key=lambda g: order[g.id])


async def _read_whole(
    client: TimClient, group: ObservedGroup, unavailable: set[str] | None
) -> None:
    """What get_group_info leaves out of ``group``: the rest of its members, an AVChatRoom's
    admins, mutes and bans, a Community's topics and permission groups."""
    reads = []
    if group.members_partial():
        reads.append(read_members(client, group, None))
    if group.type is GroupType.AVChatRoom:
        reads.append(read_room(client, group, None, unavailable))
    if group.support_topic:
        reads.append(unless_unavailable(read_topics(client, group), unavailable))
        reads.append(unless_unavailable(read_permission_groups(client, group, None), unavailable))
    await asyncio.gather(*reads)
