"""A faithful local stand-in for the Tencent Cloud Chat REST API, with its state in SQLite.

Public API:

* ``create_app(db_path, *, sdkappid, secret_key, admin="administrator", latency_ms=0,
  rate_limit=None, fault_rate=0.0, seed=None, stall_s=30.0) -> Starlette``: use it in-process
  through ``httpx.ASGITransport`` or behind any ASGI server (``reconciler.emulator.app``
  documents the request pipeline, faults, rate limiting and the ``/emulator/*`` controls).
* ``serve(host, port, db, sdkappid, admin, secret_key, latency_ms=0, rate_limit=None,
  fault_rate=0.0, seed=None)``: the same app over real HTTP (uvicorn).
* ``EmulatorStore(db_path).seed(groups=[...], accounts=[...])``: bulk state without HTTP, on
  the same SQLite file; ``dump()`` reads it all back.
* ``reconciler.emulator.testing``: ``serve_in_thread(app)`` (uvicorn on a free loopback port)
  and ``RestCaller`` (a minimal httpx + UserSig caller) for tests and benchmarks.

Every rule comes from the vendor documentation (shared/seeds, shared/reference). Where the
documentation is silent or unconfirmed, the emulator makes the choices below, accepting both
forms in requests and answering in the current form.

Wire format
  * Responses carry ``ActionStatus``, ``ErrorInfo``, ``ErrorCode`` (no ``RequestId``), HTTP 200
    except injected faults. Names are the current ones: ``MuteAllMember``, ``MuteUntil``.
    Requests may use ``MuteAllMember`` or ``ShutUpAllMember``, ``MuteTime`` or ``ShutUpTime``;
    response filters may name ``ShutUpUntil``/``ShutUpAllMember``. Unknown fields are ignored,
    as a server would: create_group reads only ``MaxMemberCount``, modify_group_base_info only
    ``MaxMemberNum`` (sending the other name silently does nothing).
  * Bad path or unknown service: 60009. Unknown command of a known service: 10003. Not POST:
    60002. A body that is not JSON (empty included) is refused by the REST layer with 60003; a
    JSON body that is not an object with 10011 (account service: 70402). JSON is strict: the
    ``//`` comments and trailing commas in the documentation's samples are annotations.
  * Query parameters: sdkappid missing 60012 / not this app 60006; identifier or usersig
    missing 60004; random not a uint32 or contenttype not ``json``: 60002. UserSig: 70001
    expired, 70003 unparseable, 70009 wrong key, 70013 made for another identifier, 70014 for
    another app. An identifier with a valid UserSig of its own that is not the admin: 60010.
    The admin account always exists (as if imported).

Groups
  * Types: Private, Public, ChatRoom, AVChatRoom, Community, plus the console names Work and
    Meeting on input (create_group ``Type``, the ``GroupType`` filter); answers use the API
    names. BChatRoom is accepted only as a filter.
  * Server-assigned IDs: ``@TGS#1`` (Private), ``@TGS#2`` (Public), ``@TGS#3`` (ChatRoom),
    ``@TGS#a`` (AVChatRoom), ``@TGS#_@TGS#c`` (Community) + 8 characters of [0-9A-Z], from a
    deterministic sequence. Custom IDs: 1-48 bytes of printable ASCII, not starting with
    ``@TGS#``; Community ones must start with ``@TGS#_``; otherwise 10015. A used ID: 10021,
    or 10025 when the request's Owner_Account already owns that group. A destroyed group's ID
    can be reused at once.
  * A missing group, for every command and per group in get_group_info: 10010 when the ID is
    well formed (never created or destroyed), 10015 when it cannot be an ID (not 1-48 bytes of
    printable ASCII). get_group_info's top-level code stays 0.
  * Member caps (default and maximum; 10004 above it): 6,000 for Private/Public/ChatRoom,
    100,000 for Community (the documented paid ceilings). AVChatRoom is unlimited: the cap
    fields are ignored and MaxMemberNum is reported as 0. Lowering MaxMemberNum below the
    current member count: 10004. Adding past the cap: 10014, nothing added.
  * Join options when omitted: ApplyJoinOption DisableApply (Private), NeedPermission
    (Public), FreeAccess (others); InviteJoinOption NeedPermission (Public), FreeAccess
    (others), none for AVChatRoom. ApplyJoinOption on a Community: modify 10004 (seed page),
    create ignores it. InviteJoinOption on an AVChatRoom: 10004.
  * An API the group type does not support: 10007 (add/import/get_group_member_info/
    modify_group_member_info/change_group_owner on AVChatRoom; modify_user_info on other
    types; get_members on types other than AVChatRoom and Community), except
    delete_group_member on AVChatRoom: 10004 (reference). A field the type does not support
    (MemberList on AVChatRoom, MuteTime on Private): 10004.
  * Byte limits (UTF-8): Name 30 (required, non-empty), Introduction 240, Notification 300,
    FaceUrl 100, NameCard 50: 10004. Custom fields: any key is accepted (no console
    declaration), ``Value: ""`` deletes the key, no size limits (unconfirmed).
  * Batches: create_group MemberList 100, add/import 300, delete 100, marks 500 accounts:
    10005. get_group_info 50 groups: 10004. Account calls 100: 70402.
  * Accounts must be imported (owner, members, NewOwner_Account, From_Account), else 10019
    for the whole call. Re-importing an account succeeds (account_import updates Nick and
    FaceUrl). UserIDs: 1-32 bytes of printable ASCII (multiaccount_import lists bad ones in
    FailAccounts).
  * Members: Owner_Account joins as Owner (not in AVChatRoom, whose members join via the SDK).
    Import/add Result 1 added, 2 already a member (also for a repeat in the same call).
    Import keeps JoinTime; Role may only be Admin. Deleting non-members succeeds; deleting
    the owner: 10007. modify_group_member_info: the member must exist (10004), the owner's
    role cannot change (10004), Role is Admin or Member, ``MuteTime`` seconds become the
    absolute ``MuteUntil`` (0 = unmute). change_group_owner: the new owner must be a member
    (10004), the old owner becomes Member. InfoSeq increments on each successful
    modify_group_base_info and change_group_owner.
  * get_group_info: without ResponseFilter everything is returned; with one, only the listed
    base fields, MemberList only with MemberInfoFilter, custom fields only with their filter.
    MemberList holds at most the first 6,000 members (join order): compare its length with
    MemberNum and page the rest with get_group_member_info. AVChatRoom: no MemberList,
    MemberNum or InviteJoinOption.
  * Paging. get_appid_group_list: Limit 1-10000, ``Next`` opaque and above 2**32 (creation
    order; stable while groups come and go), 0 = done; TotalCount ignores paging.
    get_group_member_info: Limit up to 6,000 (0 or omitted = all), Offset; Community pages
    with ``Next`` only (``""`` to start and when done; a non-zero Offset is 10004). Answers
    over 1 MB: 10018. get_members: Timestamp (required) / NextTimestamp, an opaque join-order
    cursor, 0 = done, 500 per page.

AVChatRoom marks and online members
  * Marks are >= 1000, or the special 500 and 600; only online AVChatRoom members take them:
    offline or unknown accounts are left out of the answer, all of them: 10004. After the
    call, at most 10 distinct custom marks per group (500/600 not counted) and 1,000 members
    per mark, else 10004 and nothing applied.
  * Mark 500 keeps a member online through disconnections for three days from when it was
    set (setting it again renews). Mark 600 hides a member from get_members unless asked for
    with ``Mark: 600``. A disconnection (``/emulator/online``) drops the member and its marks
    unless mark 500 holds it.
  * get_members lists online members with ``Member_Account``, ``JoinTime``, ``NickName``,
    ``Avatar`` and ``Marks`` (unconfirmed; included); without ``Mark`` only the latest 1,000
    online joiners. Community is accepted too (its members' online flag is set through
    ``/emulator/online``).
"""

from .app import Emulator, create_app
from .server import serve
from .store import EmulatorStore

__all__ = ["Emulator", "EmulatorStore", "create_app", "serve"]
