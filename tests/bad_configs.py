"""A corpus of malformed configurations: (id, files, expected location, expected message).

Each case is a directory of files; `c.yaml` is the usual one. The location is
"file:line:col" (or "file:line" for template errors); the message is a substring of the error.
"""

APP = "app:\n  sdkappid: 1400000000\n"


def grp(body: str, gtype: str = "Public", gid: str = "g1") -> str:
    """One group under `groups:` with `body` indented as group keys."""
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    return f"{APP}groups:\n  - id: {gid}\n    type: {gtype}\n{lines}"


# Eight levels of ten aliases each: 10**8 nodes if expanded ("billion laughs").
ALIAS_BOMB = (
    "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]\n" for n in range(1, 8))
    + "groups: []\n"
)

CASES: list[tuple[str, dict[str, str | bytes], str, str]] = [
    # YAML syntax
    (
        "unclosed-bracket",
        {"c.yaml": APP + "groups: [\n"},
        "c.yaml:3:9",
        "YAML syntax error: unclosed bracket '['",
    ),
    (
        "bad-indent",
        {"c.yaml": APP + "groups:\n  - id: g1\n     type: Public\n"},
        "c.yaml:5:10",
        "YAML syntax error: mapping values are not allowed in this context",
    ),
    (
        "tab-indent",
        {"c.yaml": APP + "groups:\n\t- id: g1\n"},
        "c.yaml:4:2",
        "YAML syntax error: tabs disallowed within this context (block indentat",
    ),
    (
        "unterminated-quote",
        {"c.yaml": grp('name: "Class 7A\n')},
        "c.yaml:7:1",
        "YAML syntax error: invalid indentation in multiline quoted scalar",
    ),
    (
        "mapping-in-scalar",
        {"c.yaml": grp("name: a: b")},
        "c.yaml:6:12",
        "YAML syntax error: mapping values are not allowed in this context",
    ),
    (
        "duplicate-yaml-key",
        {"c.yaml": grp("name: A\nname: B")},
        "c.yaml:7:5",
        "duplicate key 'name' (first at line 6); remove one of them",
    ),
    # wrong types
    (
        "sdkappid-string",
        {"c.yaml": "app:\n  sdkappid: abc\ngroups: []\n"},
        "c.yaml:2:13",
        "app: sdkappid: expected a whole number, got a string 'abc'",
    ),
    (
        "sdkappid-missing",
        {"c.yaml": "app:\n  admin: administrator\ngroups: []\n"},
        "c.yaml:2:3",
        "app: missing required key 'sdkappid'",
    ),
    (
        "max-members-string",
        {"c.yaml": grp("name: A\nmax_members: many")},
        "c.yaml:7:18",
        "group 'g1': max_members: expected a whole number, got a string 'many'",
    ),
    (
        "mute-all-string",
        {"c.yaml": grp("name: A\nmute_all: sometimes")},
        "c.yaml:7:15",
        "group 'g1': mute_all: expected true or false, got a string 'sometimes'",
    ),
    (
        "members-not-list",
        {"c.yaml": grp("name: A\nmembers: alice")},
        "c.yaml:7:14",
        "group 'g1': members: expected a list, got a string 'alice'",
    ),
    (
        "custom-not-mapping",
        {"c.yaml": grp("name: A\ncustom: [a, b]")},
        "c.yaml:7:13",
        "group 'g1': custom: expected a mapping (key: value), got a list ['a', ",
    ),
    (
        "custom-value-list",
        {"c.yaml": grp("name: A\ncustom:\n  Key: [1, 2]")},
        "c.yaml:8:12",
        "group 'g1': custom.Key: expected a string, got a list [1, 2]",
    ),
    (
        "marks-not-mapping",
        {"c.yaml": grp("name: A\nmarks: [1000]", "AVChatRoom")},
        "c.yaml:7:12",
        "group 'g1': marks: expected a mapping (key: value), got a list [1000]",
    ),
    (
        "protect-string",
        {"c.yaml": grp("name: A\nprotect: maybe")},
        "c.yaml:7:14",
        "group 'g1': protect: expected true or false, got a string 'maybe'",
    ),
    (
        "member-number-account",
        {"c.yaml": grp("name: A\nmembers:\n  - account: [x]")},
        "c.yaml:8:18",
        "group 'g1': members[0].account: expected a string, got a list ['x']",
    ),
    (
        "groups-not-list",
        {"c.yaml": APP + "groups:\n  id: g1\n"},
        "c.yaml:4:3",
        "groups: expected a list of groups (each item starting with `- id:`)",
    ),
    (
        "group-not-mapping",
        {"c.yaml": APP + "groups:\n  - g1\n"},
        "c.yaml:4:5",
        "groups[0]: expected a mapping (key: value), got a string 'g1'",
    ),
    (
        "id-missing",
        {"c.yaml": APP + "groups:\n  - type: Public\n    name: A\n"},
        "c.yaml:4:5",
        "groups[0]: missing required key 'id'",
    ),
    (
        "type-missing",
        {"c.yaml": APP + "groups:\n  - id: g1\n    name: A\n"},
        "c.yaml:4:5",
        "group 'g1': missing required key 'type'",
    ),
    (
        "join-time-negative",
        {"c.yaml": grp("name: A\nmembers:\n  - account: a\n    join_time: -5")},
        "c.yaml:9:20",
        "group 'g1': members[0].join_time: value should be greater than or equa",
    ),
    (
        "muted-until-bad-date",
        {"c.yaml": grp("name: A\nmembers:\n  - account: a\n    muted_until: next tuesday")},
        "c.yaml:9:22",
        "group 'g1': members[0].muted_until: 'next tuesday' is not a date-time;",
    ),
    (
        "fraction-too-big",
        {"c.yaml": APP + "policy:\n  max_removal_fraction: 1.5\ngroups: []\n"},
        "c.yaml:4:25",
        "policy: max_removal_fraction: value should be less than or equal to 1 ",
    ),
    (
        "rate-limit-zero",
        {"c.yaml": "app:\n  sdkappid: 1400000000\n  rate_limit: 0\ngroups: []\n"},
        "c.yaml:3:15",
        "app: rate_limit: value should be greater than 0 (got 0)",
    ),
    # unknown keys
    (
        "unknown-group-key",
        {"c.yaml": grp("nmae: A")},
        "c.yaml:6:5",
        "group 'g1': nmae: unknown key 'nmae'; did you mean 'name'?",
    ),
    (
        "unknown-member-key",
        {"c.yaml": grp("name: A\nmembers:\n  - acount: a")},
        "c.yaml:8:9",
        "unknown key 'acount'",
    ),
    (
        "unknown-app-key",
        {"c.yaml": "app:\n  sdkappid: 1400000000\n  endpont: local\ngroups: []\n"},
        "c.yaml:3:3",
        "app: endpont: unknown key 'endpont'; did you mean 'endpoint'?",
    ),
    (
        "unknown-policy-key",
        {"c.yaml": APP + "policy:\n  max_removal: 0.1\ngroups: []\n"},
        "c.yaml:4:3",
        "policy: max_removal: unknown key 'max_removal'; did you mean 'max_remo",
    ),
    (
        "unknown-top-key",
        {"c.yaml": APP + "grups: []\n"},
        "c.yaml:3:1",
        "unknown top-level key 'grups'; did you mean 'groups'?",
    ),
    (
        "secret-in-yaml",
        {"c.yaml": "app:\n  sdkappid: 1400000000\n  secret_key: s3cr3t-value\ngroups: []\n"},
        "c.yaml:3:3",
        "app: secret_key: unknown key 'secret_key': the secret key never goes i",
    ),
    # enum values
    (
        "bad-type",
        {"c.yaml": grp("name: A", "Privte")},
        "c.yaml:5:11",
        "group 'g1': type: 'Privte' is not allowed; expected 'Work', 'Public', ",
    ),
    (
        "bad-apply-join",
        {"c.yaml": grp("name: A\napply_join: Free")},
        "c.yaml:7:17",
        "group 'g1': apply_join: 'Free' is not allowed; expected 'FreeAccess', ",
    ),
    (
        "bad-invite-join",
        {"c.yaml": grp("name: A\ninvite_join: Everyone")},
        "c.yaml:7:18",
        "group 'g1': invite_join: 'Everyone' is not allowed; expected 'FreeAcce",
    ),
    (
        "bad-msg-flag",
        {"c.yaml": grp("name: A\nmembers:\n  - account: a\n    msg_flag: Mute")},
        "c.yaml:9:19",
        "group 'g1': members[0].msg_flag: 'Mute' is not allowed; expected 'Acce",
    ),
    (
        "bad-role",
        {"c.yaml": grp("name: A\nmembers:\n  - account: a\n    role: Boss")},
        "c.yaml:9:15",
        "group 'g1': members[0].role: 'Boss' is not allowed; expected 'Owner', ",
    ),
    (
        "bad-members-mode",
        {"c.yaml": grp("name: A\nmembers_mode: partial")},
        "c.yaml:7:19",
        "group 'g1': members_mode: 'partial' is not allowed; expected 'authorit",
    ),
    (
        "bad-state",
        {"c.yaml": grp("name: A\nstate: gone")},
        "c.yaml:7:12",
        "group 'g1': state: 'gone' is not allowed; expected 'present' or 'absen",
    ),
    (
        "bad-endpoint",
        {"c.yaml": "app:\n  sdkappid: 1400000000\n  endpoint: mars\ngroups: []\n"},
        "c.yaml:3:13",
        "app: endpoint: unknown endpoint 'mars'; expected a region (china, sing",
    ),
    (
        "http-remote-endpoint",
        {"c.yaml": "app:\n  sdkappid: 1400000000\n  endpoint: http://example.com\ngroups: []\n"},
        "c.yaml:3:13",
        "app: endpoint: endpoint 'http://example.com' uses plain http on a non-",
    ),
    # duplicates
    (
        "dup-group-same-file",
        {
            "c.yaml": APP
            + "groups:\n  - {id: g1, type: Public, name: A}\n  - {id: g1, type: Public, name: B}\n"
        },
        "c.yaml:5:10",
        "group ID 'g1' is declared twice: here and at line 4; group IDs must be",
    ),
    (
        "dup-group-two-files",
        {
            "a.yaml": APP + "groups:\n  - {id: g1, type: Public, name: A}\n",
            "b.yaml": "groups:\n  - {id: g1, type: Public, name: B}\n",
        },
        "b.yaml:2:10",
        "group ID 'g1' is declared twice: here and at a.yaml:4:10; group IDs must be",
    ),
    (
        "dup-member",
        {"c.yaml": grp("name: A\nmembers:\n  - a\n  - account: a")},
        "c.yaml:9:9",
        "group 'g1': member 'a' is listed twice (first at line 8); keep one ent",
    ),
    (
        "dup-mark-account",
        {"c.yaml": grp("name: A\nmarks:\n  1000: [a, a]", "AVChatRoom")},
        "c.yaml:8:17",
        "group 'g1': 'a' is listed twice under mark 1000 (first at line 8); kee",
    ),
    (
        "app-twice",
        {"a.yaml": APP + "groups: []\n", "b.yaml": APP},
        "b.yaml:1:1",
        "`app` is declared twice: here and at",
    ),
    (
        "policy-twice",
        {
            "a.yaml": APP + "policy: {max_removal_fraction: 0.1}\n",
            "b.yaml": "policy: {max_removal_fraction: 0.2}\n",
        },
        "b.yaml:1:1",
        "`policy` is declared twice: here and at",
    ),
    # UTF-8 byte limits
    (
        "name-31-bytes",
        {"c.yaml": grp("name: " + "x" * 31)},
        "c.yaml:6:11",
        "group 'g1': name is 31 bytes; at most 30 bytes (UTF-8; a CJK character",
    ),
    (
        "name-cjk-33-bytes",
        {"c.yaml": grp("name: " + "班" * 11)},
        "c.yaml:6:11",
        "group 'g1': name is 33 bytes; at most 30 bytes (UTF-8; a CJK character",
    ),
    (
        "introduction-241",
        {"c.yaml": grp("name: A\nintroduction: " + "i" * 241)},
        "c.yaml:7:19",
        "group 'g1': introduction is 241 bytes; at most 240 bytes (UTF-8; a CJK",
    ),
    (
        "notification-cjk",
        {"c.yaml": grp("name: A\nnotification: " + "通" * 101)},
        "c.yaml:7:19",
        "group 'g1': notification is 303 bytes; at most 300 bytes (UTF-8; a CJK",
    ),
    (
        "face-url-101",
        {"c.yaml": grp("name: A\nface_url: https://e.com/" + "f" * 87)},
        "c.yaml:7:15",
        "group 'g1': face_url is 101 bytes; at most 100 bytes (UTF-8; a CJK cha",
    ),
    (
        "name-card-cjk-51",
        {"c.yaml": grp("name: A\nmembers:\n  - account: a\n    name_card: " + "名" * 17)},
        "c.yaml:9:20",
        "group 'g1': members[0] ('a'): name_card is 51 bytes; at most 50 bytes ",
    ),
    (
        "account-33-bytes",
        {"c.yaml": grp("name: A\nmembers:\n  - " + "a" * 33)},
        "c.yaml:8:9",
        "group 'g1': members[0]: account ID 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
    ),
    (
        "owner-too-long",
        {"c.yaml": grp("name: A\nowner: " + "o" * 33)},
        "c.yaml:7:12",
        "group 'g1': owner: account ID 'ooooooooooooooooooooooooooooooooo' is 3",
    ),
    (
        "group-id-49-bytes",
        {"c.yaml": grp("name: A", gid="g" * 49)},
        "c.yaml:4:9",
        "group 'ggggggggggggggggggggggggggggggggggggggggggggggggg': group ID 'ggg",
    ),
    (
        "group-id-non-ascii",
        {"c.yaml": grp("name: A", gid="班级")},
        "c.yaml:4:9",
        "group '班级': group ID '班级' contains '班' (U+73ED): IDs are printable ASCII",
    ),
    (
        "community-id-prefix",
        {"c.yaml": grp("name: A", "Community", gid="guild")},
        "c.yaml:4:9",
        "group 'guild': Community group IDs must start with @TGS#_ (e.g. '@TGS#",
    ),
    (
        "tgs-underscore-not-community",
        {"c.yaml": grp("name: A", gid='"@TGS#_x"')},
        "c.yaml:4:9",
        "group '@TGS#_x': IDs starting with @TGS#_ are Community IDs; this grou",
    ),
    # marks
    (
        "mark-below-1000",
        {"c.yaml": grp("name: A\nmarks:\n  999: [a]", "AVChatRoom")},
        "c.yaml:8:7",
        "group 'g1': mark 999 is not valid: custom marks are numbers >= 1000; 5",
    ),
    (
        "mark-eleven-distinct",
        {
            "c.yaml": grp(
                "name: A\nmarks:\n" + "".join(f"  {1000 + i}: [a]\n" for i in range(11)),
                "AVChatRoom",
            )
        },
        "c.yaml:8:7",
        "group 'g1': 11 distinct marks; at most 10 per group - merge or drop so",
    ),
    (
        "mark-1001-accounts",
        {
            "c.yaml": grp(
                "name: A\nmarks:\n  1000: [" + ", ".join(f"u{i}" for i in range(1001)) + "]",
                "AVChatRoom",
            )
        },
        "c.yaml:8:7",
        "group 'g1': mark 1000 has 1001 accounts; at most 1000 per mark",
    ),
    (
        "marks-on-public",
        {"c.yaml": grp("name: A\nmarks:\n  1000: [a]")},
        "c.yaml:7:5",
        "group 'g1': marks are for AVChatRoom groups only (this group is Public",
    ),
    (
        "mark-not-number",
        {"c.yaml": grp("name: A\nmarks:\n  host: [a]", "AVChatRoom")},
        "c.yaml:8:7",
        "group 'g1': marks.host: marks are whole numbers (1000 to 2^63-1, or the special 500",
    ),
    # group-type rules
    (
        "members-on-avchatroom",
        {"c.yaml": grp("name: A\nmembers: [a]", "AVChatRoom")},
        "c.yaml:7:5",
        "group 'g1': AVChatRoom groups have no member list (members join throug",
    ),
    (
        "mute-member-in-work",
        {
            "c.yaml": grp(
                "name: A\nmembers:\n  - account: a\n    muted_until: 2030-01-01T00:00:00Z", "Work"
            )
        },
        "c.yaml:9:22",
        "group 'g1': members[0] ('a'): members of Work groups cannot be muted; ",
    ),
    (
        "invite-join-avchatroom",
        {"c.yaml": grp("name: A\ninvite_join: FreeAccess", "AVChatRoom")},
        "c.yaml:7:5",
        "group 'g1': invite_join does not apply to AVChatRoom groups; remove it",
    ),
    (
        "apply-join-community",
        {"c.yaml": grp("name: A\napply_join: FreeAccess", "Community", gid='"@TGS#_c"')},
        "c.yaml:7:5",
        "group '@TGS#_c': apply_join does not apply to Community groups; remove",
    ),
    (
        "max-members-below-declared",
        {"c.yaml": grp("name: A\nmax_members: 2\nowner: o\nmembers: [o, a, b]")},
        "c.yaml:7:18",
        "group 'g1': max_members 2 is below the 3 members declared (3 listed); ",
    ),
    (
        "role-owner-in-members",
        {"c.yaml": grp("name: A\nmembers:\n  - account: a\n    role: Owner")},
        "c.yaml:9:15",
        "group 'g1': members[0] ('a'): role Owner is set with the group's `owne",
    ),
    (
        "protected-absent",
        {"c.yaml": grp("name: A\nprotect: true\nstate: absent")},
        "c.yaml:8:12",
        "group 'g1': a protected group cannot be absent; set protect: false fir",
    ),
    # templates
    (
        "template-syntax",
        {"c.yaml.j2": APP + "groups:\n{% for g in groups %}\n  - id: {{ g }}\n"},
        "c.yaml.j2:5:1",
        "template syntax error: Unexpected end of template. Jinja was looking f",
    ),
    (
        "template-undefined",
        {"c.yaml.j2": APP + "groups:\n  - id: {{ missing_var }}\n    type: Public\n"},
        "c.yaml.j2:4:12",
        "template variable 'missing_var' is undefined; pass it with --var missi",
    ),
    (
        "template-internals",
        {"c.yaml.j2": APP + "groups: []\n# {{ ''.__class__.__mro__[1].__subclasses__() }}\n"},
        "c.yaml.j2:4:3",
        "template blocked by the sandbox: access to attribute '__class__' of 's",
    ),
    (
        "template-include-outside",
        {"c.yaml.j2": APP + "{% include '../../etc/passwd' %}\n"},
        "c.yaml.j2:3:1",
        "template '../../etc/passwd' not found in the config directory (include",
    ),
    (
        "template-unknown-filter",
        {"c.yaml.j2": APP + "groups: []\n# {{ 'x' | shout }}\n"},
        "c.yaml.j2:4:1",
        "template syntax error: No filter named 'shout'.",
    ),
    (
        "template-renders-bad-yaml",
        {"c.yaml.j2": APP + "groups:\n  - id: g1\n    type: {{ '[' }}\n"},
        "c.yaml.j2:5:11",
        "YAML syntax error: unclosed bracket '[' [line:col in the rendered temp",
    ),
    # encodings, tags, aliases
    (
        "non-utf8",
        {"c.yaml": APP.encode() + b"groups:\n  - id: g1\n    type: Public\n    name: caf\xe9\n"},
        "c.yaml:6:14",
        "not valid UTF-8 (byte 0xe9); save the file as UTF-8",
    ),
    (
        "python-object-tag",
        {"c.yaml": APP + "groups: !!python/object/apply:os.system ['true']\n"},
        "c.yaml:3:9",
        "tag !!python/object/apply:os.system is not allowed: configs are plain ",
    ),
    (
        "python-name-tag",
        {"c.yaml": grp("name: !!python/name:os.system")},
        "c.yaml:6:11",
        "tag !!python/name:os.system is not allowed: configs are plain data (no",
    ),
    (
        "alias-bomb",
        {"c.yaml": APP + ALIAS_BOMB},
        "c.yaml:9:10",
        "too much alias expansion",
    ),
    (
        "empty-directory-file",
        {"c.txt": "not config"},
        "",
        "no config files (*.yaml, *.yml, *.yaml.j2, *.yml.j2)",
    ),
]
