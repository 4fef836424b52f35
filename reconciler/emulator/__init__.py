"""A faithful local stand-in for the Tencent Cloud Chat REST API, with its state in SQLite.

Public API:

* ``create_app(db_path, *, sdkappid, secret_key, admin="administrator", latency_ms=0,
  rate_limit=None, fault_rate=0.0, seed=None, stall_s=30.0, profile="default") -> Starlette``:
  use it in-process through ``httpx.ASGITransport`` or behind any ASGI server
  (``reconciler.emulator.app`` documents the request pipeline, faults, rate limiting and the
  ``/emulator/*`` controls).
* ``serve(host, port, db, sdkappid, admin, secret_key, latency_ms=0, rate_limit=None,
  fault_rate=0.0, seed=None, profile="default")``: the same app over real HTTP (uvicorn).
* ``profile``: ``"default"`` follows the seed pages; ``"latest"`` enforces the strictest
  documented reading where the vendor's revisions disagree (20 accounts per add/import call,
  10018 for get_group_info answers over 1 MB, JoinTime rules on import, no InviteJoinOption in
  get_group_info, no MemberList for groups over 500 members, get_group_member_info Limit up to
  200). ``reconciler.emulator.profiles.PROFILES`` is the one table of those facts.
* ``EmulatorStore(db_path).seed(groups=[...], accounts=[...])``: bulk state without HTTP, on
  the same SQLite file; ``dump()`` reads it all back.
* ``reconciler.emulator.testing``: ``serve_in_thread(app)`` (uvicorn on a free loopback port)
  and ``RestCaller`` (a minimal httpx + UserSig caller) for tests and benchmarks.

Every rule comes from the vendor documentation (shared/seeds, shared/reference). Where the
documentation is silent or unconfirmed, the emulator makes the choices below, accepting both
forms in requests and answering in the current form.

Wire format
  * Responses carry ``ActionStatus``, ``ErrorInfo``, ``ErrorCode`` and ``RequestId``
    (``Id-<32 hex>-O-Seq-<n>``, as in the newer samples; in failures too), HTTP 200 except
    injected faults. The mute fields come under both names wherever they appear, since the
    docs of different eras show both and clients read one or the other: ``MuteAllMember`` and
    ``ShutUpAllMember``, ``MuteUntil`` and ``ShutUpUntil``. Requests may use ``MuteAllMember``
    or ``ShutUpAllMember``, ``MuteTime`` or ``ShutUpTime`` (the current name wins); filters
    may name either. Unknown fields are ignored, as a server would: create_group reads only
    ``MaxMemberCount``, modify_group_base_info only ``MaxMemberNum`` (sending the other name
    silently does nothing).
  * What third-party clients send where the docs are silent is accepted: ``Identifier`` for
    account_import's ``UserID`` (UserID wins); multiaccount_import's newer ``AccountList:
    [{UserID, Nick, FaceUrl}]`` beside ``Accounts`` (it updates existing accounts; both forms
    count toward the 100); any integer field as a decimal string (``"20"``; ``rules.as_int``;
    ``"1.5"``, ``" 5"`` or ``true`` are 10004); a trailing comma before ``]`` or ``}`` (seed
    000's own sample has one); any Content-Type header, or none (the body is read as JSON).
  * Bad path or unknown service: 60009. Unknown command of a known service: 10003. Not POST:
    60002. A body that is not JSON (empty included) is refused by the REST layer with 60003; a
    JSON body that is not an object with 10011 (account service: 70402). The ``//`` comments
    in the documentation's samples are annotations: 60003.
  * Query parameters: sdkappid missing 60012 / not this app 60006; identifier or usersig
    missing 60004; random not a uint32 or contenttype not ``json``: 60002 (the overview says
    names and values are case-sensitive, so ``contenttype=JSON`` is refused too). UserSig: 70001
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
  * Documented fields that are stored and returned by get_group_info: ``HistoryMsgBeforeJoin``
    (modify only; On/Off; Work, Public and Meeting only, else 10004; ``Off`` until set, an
    unconfirmed default); ``SupportTopic`` (create only; 0/1, Community only);
    ``EnablePermission`` (0/1, Communities with topics only) and ``DefaultPermission`` (an
    integer bit set, only once EnablePermission is 1), on create and modify, returned for
    Communities.
  * An API the group type does not support: 10007 (add/import/get_group_member_info/
    modify_group_member_info/change_group_owner on AVChatRoom; modify_user_info on other
    types; get_members on types other than AVChatRoom and Community), except
    delete_group_member on AVChatRoom: 10004 (reference). create_group with a MemberList on
    AVChatRoom: 10007 (EN-34895). Other fields the type does not support (MuteTime on
    Private): 10004.
  * Byte limits (UTF-8): Name 30 (required, non-empty), Introduction 240, Notification 300,
    FaceUrl 100, NameCard 50: 10004. Custom fields: any key is accepted (no console
    declaration), ``Value: ""`` deletes the key, no size limits (unconfirmed).
  * Batches: create_group MemberList 100, add/import 300 (profile ``latest``: 20), delete 100,
    marks 500 accounts: 10005. get_group_info 50 groups: 10004. Account calls 100: 70402.
  * Accounts must be imported (owner, members, NewOwner_Account, From_Account), else 10019
    for the whole call. Re-importing an account succeeds (account_import updates Nick and
    FaceUrl). UserIDs: 1-32 bytes of printable ASCII (multiaccount_import lists bad ones in
    FailAccounts).
  * Members: Owner_Account joins as Owner (not in AVChatRoom, whose members join via the SDK).
    Import/add Result 1 added, 2 already a member (also for a repeat in the same call).
    Import keeps JoinTime; Role may only be Admin. Profile ``latest`` (CN-1636): a JoinTime
    not after the group's CreateTime (an equal second is not after it) or in the future gives
    that member Result 0, the others are imported. Deleting non-members succeeds; deleting
    the owner: 10007. modify_group_member_info: the member must exist (10004), the owner's
    role cannot change (10004), Role is Admin or Member, ``MuteTime`` seconds become the
    absolute ``MuteUntil`` (0 = unmute). change_group_owner: the new owner must be a member
    (10004), the old owner becomes Member. InfoSeq increments on each successful
    modify_group_base_info and change_group_owner.
  * get_group_info: without ResponseFilter everything is returned; with one, only the listed
    base fields, MemberList only with MemberInfoFilter, custom fields only with their filter.
    MemberList holds at most the first 6,000 members (join order): compare its length with
    MemberNum and page the rest with get_group_member_info. Profile ``latest``: groups of more
    than 500 members get no MemberList at all, answers carry no InviteJoinOption, and an answer
    over 1 MB is 10018 (ask for fewer groups). AVChatRoom: no MemberList, MemberNum or
    InviteJoinOption.
  * Paging. get_appid_group_list: Limit 1-10000, ``Next`` opaque and above 2**32 (creation
    order; stable while groups come and go), 0 = done; TotalCount ignores paging.
    get_group_member_info: Limit up to 6,000 (profile ``latest``: 200; 0 or omitted = all),
    Offset; Community pages with ``Next`` only: ``""`` to start, and ``""`` again marks the
    end, never after an empty page (chosen by analogy with the permission-group API, which
    documents ``""`` = end); a non-zero Offset is 10004. Answers over 1 MB: 10018.
    get_specified_group_member_info (CN-112002): ``Member_List_Account`` of 1-50 accounts
    (10005 beyond), every type but AVChatRoom (10007), the same filters as
    get_group_member_info; ``MemberList`` holds the named accounts that are members, in join
    order (chosen: the page is silent on non-members; they are left out, not an error).
    get_members: Timestamp (required) / NextTimestamp, an opaque join-order cursor, 0 = done,
    500 per page.

Rate limiting (``rate_limit`` set)
  * Each API has its own 1 s sliding window at ``rate_limit`` calls/s, never above the API's
    own documented rate (``tim/limits.RATES``): get_appid_group_list 1/s, account_check,
    multiaccount_import and account_import 100/s. Beyond it: 60007, HTTP 200.
    ``/emulator/stats``' ``busiest_second`` is the most calls each API admitted in any 1 s.

Mutes, AVChatRoom admins and bans
  * forbid_send_msg: ``Members_Account`` (1-500 accounts, 10005 beyond) and ``MuteTime``
    (older ``ShutUpTime``) seconds, 0 = unmute; Public, ChatRoom, AVChatRoom and Community
    (Private: 10007, the page's "not supported"); accounts must be imported (10019). Chosen:
    in the other types every account must be a member (10004 otherwise, nothing muted), and the
    mute is held on the membership, so removing a member forgets it (the SDK guide says a mute
    outlives leaving and rejoining: only AVChatRoom, whose members come and go, keeps it apart
    from presence). ``TopicId``: topics are not emulated, so any is 10004.
  * get_group_muted_account: ``MutedAccountList`` of ``{Member_Account, MutedUntil}``, only
    mutes still running, for every type (a Work group's is empty).
  * modify_admin / get_admin_list (group_open_avchatroom_http_svc): AVChatRoom only (else
    10007); ``CommandType`` 1 set, 2 revoke; ``Admin_Account`` 1-5 accounts (10005 beyond),
    imported (10019); more than 5 admins after the call: 10004, nothing changed. Admins are
    kept across leaving and rejoining (CN-102857). ``Admin_List`` of ``{Admin_Account,
    Avatar, NickName}`` (CN-102858; profiles are not emulated: Avatar and NickName are empty).
  * ban_group_member / unban_group_member / get_group_ban_member: AVChatRoom only (chosen:
    other types 10007; the pages list only AVChatRoom); 1-20 accounts (10005 beyond);
    ``Duration`` 1 s to 2^32-1 s (required); ``Description`` at most 1,000 bytes (10004). A
    ban removes the account from the room (and its marks), and it cannot come online there
    (``/emulator/online``: 10007) until the ban ends or is lifted; unbanning an account that
    is not banned succeeds. get_group_ban_member: ``Limit`` 1-100 (default 100), ``Offset``;
    ``BannedAccountList`` of ``{Member_Account, BannedUntil}`` by account; ``NextOffset`` 0 =
    done.

Community topics (million_group_open_http_svc)
  * create_topic / modify_topic / destroy_topic / get_topic: only Communities created with
    ``SupportTopic`` 1 (other groups and Communities without topics: 10007, the pages' "not
    supported"). ``SupportTopic`` is returned by get_group_info for Communities (unconfirmed
    that the real answer carries it; the client treats a missing one as unknown).
  * Topic IDs: ``<GroupId>@TOPIC#_`` then the custom part (EN-49471); chosen: the custom part
    is 1-48 bytes of printable ASCII, the whole ID at most 96 bytes, and the custom part
    without "@TGS#_" or "@TOPIC#_" (trtc.io 33529), else 10004. Without a TopicId
    one is assigned, ``<GroupId>@TOPIC#_@TOPIC#c`` + 8 characters (EN-49469's sample). A used
    custom TopicId: 10021 (chosen: the group code). Topics per Community: not limited (the
    pages give no number; unconfirmed).
  * TopicName required on create, 1-30 bytes; Introduction 240, Notification 300, FaceUrl 100,
    CustomString 3,000 bytes (DO): 10004 beyond. create_topic takes no mute-all; modify_topic
    takes ``ShutUpAllMember`` (or ``MuteAllMember``) On/Off. From_Account, when given, must be
    imported (10019); get_topic requires it (10004 without), its per-user fields are not
    emulated.
  * A missing topic: modify 10010; destroy_topic (``TopicIdList``, 1-20 topics, a chosen
    limit; 10004 beyond) answers ``DestroyResultItem`` with each topic's own ErrorCode (110003
    for one already deleted, EN-49470; a Community with no topics at all: 11000); get_topic
    with a ``TopicIdList`` gives a missing topic its own ErrorCode 10010 in ``TopicInfo``.
    Answers carry both mute names. Destroying a group destroys its topics.
    ``forbid_send_msg``/``get_group_muted_account`` with a ``TopicId``: topic-level mutes are
    not emulated (10004).

Community permission groups (group_open_http_svc, EN-61232...61242)
  * create/modify/destroy/get_permission_group, add/delete_permission_group_member,
    get_permission_group_member_list,
    add/set/get_topic_permission_group. Chosen: only Communities with topics have them (the
    pages name Communities and seed 003 ties EnablePermission to topics; others 10007).
  * ``PermissionGroupId``: ``@PMG#_`` then 1-48 bytes of printable ASCII (the custom part's
    limit is chosen), else 10004; a custom one may not start ``@PMG#_@PMG#`` (the server's,
    trtc.io 33529; 10004); assigned when omitted; a used one 10021 (chosen).
    ``PermissionGroupName`` required, 1-150 bytes, and ``Permission`` required on create
    (CN-103966); ``CustomString`` held to a topic's 3,000 bytes (unconfirmed). Permission
    groups per Community: not limited (unconfirmed).
  * Members: ``MemberList`` of ``{Member_Account}``, 1-100 a call (documented; 10005 beyond);
    add answers each account's ``Result`` (CN-103974): 1 added, 2 already in it, 0 refused
    (chosen: not a member of the Community). Deleting one not in the group is no error;
    leaving or being removed from the Community leaves its permission groups.
    get_permission_group_member_list pages ``Limit`` (at most 50, CN-103976) by ``Next``,
    ``""`` to start and at the end.
  * Topic permissions: ``TopicPermissionList`` of ``{TopicId, Permission}``, 1-50 a call
    (EN-61236), answered with ``TopicPermissionResultList``; the topic must exist (10010); add
    only where the permission group has none in that topic and set only where it has one
    (10004 otherwise; chosen, the pages give no codes). get_topic_permission_group takes an
    optional ``TopicIdList`` and answers ``TopicPermissionResultList`` (EN-61239). Destroying a
    topic drops its permissions; destroying a permission group drops its members and topic
    permissions (PermissionGroupIdList, 1-20, EN-61233), answered per group in
    ``PermissionGroupResultList`` (a missing one 10010, chosen).
  * get_permission_group: ``PermissionGroupInfoList`` of ``{PermissionGroupId,
    PermissionGroupName, Permission, CustomString, MemberCount, ErrorCode, ErrorInfo}`` and
    ``Next`` (EN-61235): those of ``PermissionGroupIdList`` (a missing one with its own
    ErrorCode 10010), or all of them ``Limit`` (at most 20; 20 when left out) a page.

AVChatRoom marks and online members
  * Marks are >= 1000, or the special 500 and 600; only online AVChatRoom members take them:
    offline or unknown accounts are left out of the answer, all of them: 10004. After the
    call, at most 10 distinct custom marks per group and 1,000 members per mark, else 10004
    and nothing applied. Chosen: 500 and 600 do not count toward the 10 (seed 000 says "a
    mark is a number >= 1,000" next to the limit, and lists 500/600 apart as special marks).
  * Mark 500 keeps a member online through disconnections for three days from when it was
    set (setting it again renews). Mark 600 hides a member from get_members unless asked for
    with ``Mark: 600``. A disconnection (``/emulator/online``) drops the member and its marks
    unless mark 500 holds it.
  * get_members lists online members with ``Member_Account``, ``JoinTime``, ``NickName``,
    ``Avatar`` and ``Marks`` (unconfirmed; included); without ``Mark`` only the latest 1,000
    online joiners. Community is accepted too (its members' online flag is set through
    ``/emulator/online``).
  * Group.CallbackOnMemberStateChange carries a MemberList; the vendor checks presence
    periodically (EN-48734), but how many members one callback names is unconfirmed. Chosen:
    one callback per ``/emulator/online`` request (``Account``, or ``Accounts`` for several),
    naming every member whose presence it changed.
"""

from .app import Emulator, create_app
from .server import serve
from .store import EmulatorStore

__all__ = ["Emulator", "EmulatorStore", "create_app", "serve"]
