"""A second corpus of hostile configurations (beyond tests/bad_configs.py): bytes, encodings,
YAML structure, templates, files, strict types, bounds and IDs. Same shape as bad_configs:
(id, files, expected "file:line:col" prefix, expected message substring). A file value of
None makes a FIFO; ("link", target) makes a symlink."""

from bad_configs import APP, grp

BIG = "x" * 100_000
T = "c.yaml.j2"


def community(body: str) -> dict:
    """A Community with members o1 and a, a topic `rules`, and permission group `ed` + body."""
    head = grp(
        "owner: o1\nmembers: [o1, a]\nsupport_topic: true\nenable_permission: true\n"
        "topics:\n  - id: rules\n    name: Rules\npermission_groups:\n  - id: ed\n    name: Ed",
        "Community",
        '"@TGS#_c1"',
    )
    return {"c.yaml": head + "".join(f"        {line}\n" for line in body.splitlines())}


def tpl(expr: str) -> dict:
    return {T: grp(f'name: "{expr}"')}


CASES: list[tuple[str, dict, str, str]] = [
    # bytes and encodings
    (
        "nul-after-members",
        {"c.yaml": grp("members: [a, b]\x00\n  - id: g2")},
        "c.yaml:6:20",
        "a NUL byte (0x00) is not allowed",
    ),
    ("nul-first-byte", {"c.yaml": "\x00" + APP}, "c.yaml:1:1", "NUL byte"),
    ("nul-in-quoted", {"c.yaml": grp('name: "a\x00b"')}, "c.yaml:6:13", "NUL byte"),
    ("nul-in-comment", {"c.yaml": APP + "# note \x00\n"}, "c.yaml:3:8", "NUL byte"),
    ("ctrl-soh", {"c.yaml": grp("name: a\x01b")}, "c.yaml:6:12", "control character U+0001"),
    ("ctrl-esc", {"c.yaml": grp("name: \x1b[31mred")}, "c.yaml:6:11", "control character U+001B"),
    ("ctrl-del", {"c.yaml": grp("name: a\x7f")}, "c.yaml:6:12", "control character U+007F"),
    ("ctrl-c1", {"c.yaml": grp("name: a\x9b")}, "c.yaml:6:12", "control character U+009B"),
    ("ctrl-vt", {"c.yaml": APP + "\x0b\n"}, "c.yaml:3:1", "control character U+000B"),
    ("ctrl-ff", {"c.yaml": APP + "groups: []\x0c\n"}, "c.yaml:3:11", "U+000C"),
    ("nonchar-fffe", {"c.yaml": grp("name: a\ufffe")}, "c.yaml:6:12", "U+FFFE"),
    ("utf16-le-bom", {"c.yaml": b"\xff\xfe" + APP.encode("utf-16-le")}, "c.yaml:1:1", "UTF-16"),
    ("utf16-be-bom", {"c.yaml": b"\xfe\xff" + APP.encode("utf-16-be")}, "c.yaml:1:1", "UTF-16"),
    (
        "utf32-bom",
        {"c.yaml": b"\xff\xfe\x00\x00" + APP.encode("utf-32-le")},
        "c.yaml:1:1",
        "UTF-32",
    ),
    (
        "latin1",
        {"c.yaml": APP.encode() + b"groups:\n  - id: g\n    name: caf\xe9\n"},
        "c.yaml:5:14",
        "not valid UTF-8 (byte 0xe9)",
    ),
    ("overlong-utf8", {"c.yaml": APP.encode() + b"# \xc0\xaf\n"}, "c.yaml:3:3", "not valid UTF-8"),
    (
        "surrogate-bytes",
        {"c.yaml": APP.encode() + b"# \xed\xa0\x80\n"},
        "c.yaml:3:3",
        "not valid UTF-8",
    ),
    ("truncated-utf8", {"c.yaml": APP.encode() + b"# \xe4\xb8"}, "c.yaml:3:3", "not valid UTF-8"),
    # YAML structure
    ("tag-after-anchor", {"c.yaml": grp("name: &n !foo bar")}, "c.yaml:6:14", "tag !foo"),
    ("tag-after-hash-key", {"c.yaml": grp('"a#b": !foo bar')}, "c.yaml:6:12", "tag !foo"),
    ("tag-core-str", {"c.yaml": grp("name: !!str bar")}, "c.yaml:6:11", "tag !!str"),
    ("tag-core-int", {"c.yaml": grp('max_members: !!int "50"')}, "c.yaml:6:18", "tag !!int"),
    ("tag-on-group", {"c.yaml": APP + "groups:\n  - !grp\n    id: g\n"}, "c.yaml:4:5", "tag !grp"),
    ("tag-verbatim", {"c.yaml": grp("name: !<tag:x> a")}, "c.yaml:6:11", "tag"),
    ("tag-in-flow", {"c.yaml": grp("members: [a, !x b]")}, "c.yaml:6:18", "tag !x"),
    ("tag-on-key", {"c.yaml": grp("!k name: a")}, "c.yaml:6:5", "tag !k"),
    (
        "tag-directive",
        {"c.yaml": "%TAG !e! tag:e.com:\n---\n" + APP + "x: !e!y 1\n"},
        "c.yaml:5:4",
        "tag !e!y",
    ),
    (
        "second-document",
        {"c.yaml": APP + "---\ngroups: []\n"},
        "c.yaml:3:1",
        "a second YAML document",
    ),
    (
        "document-end-then-content",
        {"c.yaml": APP + "...\ngroups: []\n"},
        "c.yaml:4:1",
        "content after the end",
    ),
    ("complex-key-seq", {"c.yaml": grp("? [a, b]\n: 1")}, "c.yaml:6:7", "a key must be a plain"),
    ("complex-key-flow", {"c.yaml": grp("{a: 1}: x")}, "c.yaml:6:5", "a key must be a plain"),
    ("complex-key-map", {"c.yaml": grp("? {a: 1}\n: x")}, "c.yaml:6:7", "a key must be a plain"),
    (
        "dup-mark-int-float",
        {"c.yaml": grp("marks: {1000: [a], 1000.0: [b]}", "AVChatRoom")},
        "c.yaml:6:24",
        "duplicate key '1000.0'",
    ),
    # located at the offending key or use, not at the map or the anchor (issue 25, item 15)
    (
        "group-repeated-by-alias",
        {"c.yaml": APP + "groups:\n  - &g\n    id: g1\n    type: Public\n  - *g\n"},
        "c.yaml:7:5",
        "group ID 'g1' is declared twice: here and at line 5",
    ),
    ("bool-key-in-group", {"c.yaml": grp("true: x")}, "c.yaml:6:5", "a key must be a name"),
    (
        "dup-mark-hex-and-decimal",
        {"c.yaml": grp("marks:\n  0x3E8: [a]\n  1000: [b]", "AVChatRoom")},
        "c.yaml:8:7",
        "duplicate key '1000' (first at line 7)",
    ),
    (
        "dup-mark-hex-flow",
        {"c.yaml": grp("marks: {0x3E8: [a], 1000: [b]}", "AVChatRoom")},
        "c.yaml:6:25",
        "duplicate key '1000'",
    ),
    (
        "mark-nan-key",
        {"c.yaml": grp("marks:\n  1000: [a]\n  .nan: [b]", "AVChatRoom")},
        "c.yaml:8:7",
        "marks are whole numbers",
    ),
    (
        "alias-amplification",
        {
            "c.yaml": APP
            + f"big: &b {BIG}\ngroups:\n  - id: g\n    type: Public\n    custom:\n"
            + "".join(f"      k{i}: *b\n" for i in range(5000))
        },
        "c.yaml:",
        "too much alias expansion",
    ),
    (
        "alias-nested-bomb",
        {
            "c.yaml": "a0: &a0 ["
            + ", ".join(["xxxxxxxxxx"] * 10)
            + "]\n"
            + "".join(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]\n" for n in range(1, 7))
        },
        "c.yaml:",
        "too much alias expansion",
    ),
    # templates
    ("tpl-power-hang", tpl("{{ (7 ** 123456789) % 10 }}"), "c.yaml.j2:6:12", "too large"),
    ("tpl-power-5000", tpl("{{ 10 ** 5000 }}"), "c.yaml.j2:6:12", "too large"),
    ("tpl-power-chain", tpl("{{ 2 ** 64 ** 64 }}"), "c.yaml.j2:6:12", "too large"),
    ("tpl-string-repeat", tpl("{{ 'x' * 10 ** 9 }}"), "c.yaml.j2:6:12", "over the template budget"),
    ("tpl-list-repeat", tpl("{{ [0] * 10 ** 8 }}"), "c.yaml.j2:6:12", "over the template budget"),
    ("tpl-percent-width", tpl("{{ '%999999999d' % 1 }}"), "c.yaml.j2:6:12", "format width"),
    ("tpl-format-width", tpl("{{ '{:999999999}'.format(1) }}"), "c.yaml.j2:6:12", "format width"),
    ("tpl-center", tpl("{{ 'a'|center(999999999) }}"), "c.yaml.j2:6:12", "center filter"),
    ("tpl-ljust", tpl("{{ 'a'.ljust(999999999) }}"), "c.yaml.j2:6:12", "over the template budget"),
    ("tpl-product", tpl("{{ (2 ** 200) * (2 ** 200) }}"), "c.yaml.j2:6:12", "too large"),
    # every way a template builds text is sized before it is built (issue 25, item 14)
    (
        "tpl-tilde-doubling-macro",
        tpl("{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s }}{% endmacro %}{{ d('x', 40) }}"),
        "c.yaml.j2:6:12",
        "joining with ~ would build",
    ),
    (
        "tpl-plus-doubling",
        tpl(
            "{% set ns = namespace(s='x') %}{% for _ in range(40) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}"
        ),
        "c.yaml.j2:6:12",
        "adding these two values",
    ),
    (
        "tpl-set-block-doubling",
        tpl(
            "{% set ns = namespace(s='x') %}{% for _ in range(40) %}{% set t %}{{ ns.s }}"
            "{{ ns.s }}{% endset %}{% set ns.s = t %}{% endfor %}{{ ns.s }}"
        ),
        "c.yaml.j2:6:12",
        "a macro's or block's output",
    ),
    (
        "tpl-macro-loop",
        tpl(
            "{% macro m(s) %}{% for _ in range(99999) %}{{ s }}{% endfor %}{% endmacro %}"
            "{{ m('x' * 1000000) }}"
        ),
        "c.yaml.j2:6:12",
        "a macro's or block's output",
    ),
    ("tpl-percent-star", tpl("{{ '%.*f' % (10 ** 9, 1.0) }}"), "c.yaml.j2:6:12", "this format"),
    (
        "tpl-percent-star-filter",
        tpl("{{ '%.*f'|format(600000000, 1) }}"),
        "c.yaml.j2:6:12",
        "this format",
    ),
    (
        "tpl-percent-widths-add-up",
        tpl("{{ ('%9999999s' * 99) % ((1,) * 99) }}"),
        "c.yaml.j2:6:12",
        "this format",
    ),
    (
        "tpl-format-nested-width",
        tpl("{{ '{:{}}'.format(1, '999999999') }}"),
        "c.yaml.j2:6:12",
        "this format",
    ),
    ("tpl-join", tpl("{{ (['x' * 1000000] * 1000)|join }}"), "c.yaml.j2:6:12", "join filter"),
    ("tpl-str-join", tpl("{{ ''.join(['x' * 1000000] * 1000) }}"), "c.yaml.j2:6:12", "str.join"),
    (
        "tpl-replace",
        tpl("{{ ('x' * 1000000)|replace('x', 'y' * 1000) }}"),
        "c.yaml.j2:6:12",
        "replace filter",
    ),
    ("tpl-indent", tpl("{{ ('\\n' * 1000000)|indent(1000) }}"), "c.yaml.j2:6:12", "indent filter"),
    (
        "tpl-expandtabs",
        tpl("{{ ('\\t' * 1000000).expandtabs(1000) }}"),
        "c.yaml.j2:6:12",
        "str.expandtabs",
    ),
    (
        "tpl-print-list",
        tpl("{{ ['x' * 1000000] * 1000 }}"),
        "c.yaml.j2:6:12",
        "printing this value",
    ),
    (
        "tpl-sum-lists",
        tpl("{{ ([[0] * 1000000] * 100)|sum(start=[]) }}"),
        "c.yaml.j2:6:12",
        "sum filter",
    ),
    ("tpl-surrogate", tpl("{{ '\\ud800' }}"), "c.yaml.j2:6:12", "lone surrogate"),
    ("tpl-nul", tpl("{{ '\\x00' }}"), "c.yaml.j2:6:12", "NUL byte"),
    ("tpl-tag", {T: grp("name: {{ '!foo' }} x")}, "c.yaml.j2:6:11", "tag !foo"),
    # files
    ("fifo-config", {"app.yaml": APP, "pipe.yaml": None}, "pipe.yaml:1:1", "FIFO"),
    (
        "dangling-link",
        {"app.yaml": APP, "gone.yaml": ("link", "nowhere.yaml")},
        "gone.yaml:1:1",
        "dangling symlink",
    ),
    (
        "link-outside",
        {"app.yaml": APP, "out.yaml": ("link", "/etc/hostname")},
        "out.yaml:1:1",
        "outside the config directory",
    ),
    (
        "template-link-outside",
        {"app.yaml": APP, "t.yaml.j2": ("link", "/etc/hostname")},
        "t.yaml.j2:1:1",
        "outside the config directory",
    ),
    # strict types
    (
        "protect-off-string",
        {"c.yaml": grp('protect: "off"')},
        "c.yaml:6:14",
        "expected true or false, got a string 'off'",
    ),
    ("mute-all-yes", {"c.yaml": grp('mute_all: "yes"')}, "c.yaml:6:15", "expected true or false"),
    ("protect-one", {"c.yaml": grp("protect: 1")}, "c.yaml:6:14", "expected true or false"),
    (
        "max-members-string",
        {"c.yaml": grp('max_members: "50"')},
        "c.yaml:6:18",
        "expected a whole number, got a string",
    ),
    ("max-members-float", {"c.yaml": grp("max_members: 50.0")}, "c.yaml:6:18", "write it as 50"),
    (
        "sdkappid-string",
        {"c.yaml": 'app:\n  sdkappid: "1400000001"\n'},
        "c.yaml:2:13",
        "expected a whole number",
    ),
    ("sdkappid-bool", {"c.yaml": "app:\n  sdkappid: true\n"}, "c.yaml:2:13", "expected a whole"),
    (
        "join-time-string",
        {"c.yaml": grp("members:\n  - account: a\n    join_time: '5'")},
        "c.yaml:8:20",
        "expected a whole number",
    ),
    (
        "fraction-string",
        {"c.yaml": APP + "policy:\n  max_removal_fraction: '0.5'\n"},
        "c.yaml:4:25",
        "expected a number",
    ),
    (
        "create-accounts-string",
        {"c.yaml": APP + "  create_missing_accounts: 'true'\n"},
        "c.yaml:3:28",
        "expected true or false",
    ),
    # bounds
    ("rate-limit-inf", {"c.yaml": APP + "  rate_limit: .inf\n"}, "c.yaml:3:15", "finite"),
    ("rate-limit-nan", {"c.yaml": APP + "  rate_limit: .nan\n"}, "c.yaml:3:15", "finite"),
    (
        "fraction-nan",
        {"c.yaml": APP + "policy:\n  max_removal_fraction: .nan\n"},
        "c.yaml:4:25",
        "finite",
    ),
    (
        "sdkappid-2-64",
        {"c.yaml": "app:\n  sdkappid: 18446744073709551616\n"},
        "c.yaml:2:13",
        "less than or equal to 9223372036854775807",
    ),
    (
        "max-members-2-64",
        {"c.yaml": grp("max_members: 18446744073709551616")},
        "c.yaml:6:18",
        "less than or equal to 100000",
    ),
    (
        "max-members-public-7000",
        {"c.yaml": grp("max_members: 7000")},
        "c.yaml:6:18",
        "above the ceiling for Public groups (6,000)",
    ),
    (
        "max-members-work-6001",
        {"c.yaml": grp("max_members: 6001", "Work")},
        "c.yaml:6:18",
        "ceiling for Work",
    ),
    (
        "join-time-2-64",
        {"c.yaml": grp("members:\n  - account: a\n    join_time: 18446744073709551616")},
        "c.yaml:8:20",
        "less than or equal to 4294967295",
    ),
    (
        "muted-until-2-64",
        {"c.yaml": grp("members:\n  - account: a\n    muted_until: 18446744073709551616")},
        "c.yaml:8:22",
        "after 2106",
    ),
    (
        "muted-until-year-9999",
        {"c.yaml": grp("members:\n  - account: a\n    muted_until: 9999-01-01T00:00:00Z")},
        "c.yaml:8:22",
        "after 2106",
    ),
    (
        "mark-2-64",
        {"c.yaml": grp("marks: {18446744073709551616: [a]}", "AVChatRoom")},
        "c.yaml:6:13",
        "marks are whole numbers",
    ),
    (
        "mark-float",
        {"c.yaml": grp("marks: {1000.5: [a]}", "AVChatRoom")},
        "c.yaml:6:13",
        "marks are whole numbers",
    ),
    (
        "mark-int-and-string",
        {"c.yaml": grp('marks: {1000: [alice], "1000": [bob]}', "AVChatRoom")},
        "c.yaml:6:12",
        "mark 1000 is declared twice",
    ),
    (
        "unread-2-64",
        {"c.yaml": grp("members:\n  - account: a\n    unread: 18446744073709551616")},
        "c.yaml:8:17",
        "less than or equal to",
    ),
    # nothing silently merged or ignored (issue 25, item 16)
    (
        "topic-permission-two-spellings",
        community('topic_permissions:\n  rules: 1\n  "@TGS#_c1@TOPIC#_rules": 3'),
        "c.yaml:18:11",
        "topic 'rules' is listed twice (first at line 17, as 'rules')",
    ),
    (
        "topic-two-spellings",
        {
            "c.yaml": grp(
                'support_topic: true\ntopics:\n  - {id: rules}\n  - {id: "@TGS#_c1@TOPIC#_rules"}',
                "Community",
                '"@TGS#_c1"',
            )
        },
        "c.yaml:9:14",
        "topic 'rules' is listed twice (first at line 8)",
    ),
    (
        "permission-member-not-in-community",
        community("members: [a, stranger]"),
        "c.yaml:16:22",
        "'stranger' is not a member of the Community",
    ),
    (
        "absent-permission-group-members",
        community("state: absent\nmembers: [a]"),
        "c.yaml:17:9",
        "members of a permission group declared `state: absent` would be ignored",
    ),
    (
        "absent-permission-group-topic-permissions",
        community("state: absent\ntopic_permissions: {rules: 1}"),
        "c.yaml:17:9",
        "topic_permissions of a permission group declared `state: absent`",
    ),
    (
        "community-id-prefix-only",
        {"c.yaml": grp("name: C", "Community", '"@TGS#_"')},
        "c.yaml:4:9",
        "a Community ID needs a custom part after @TGS#_",
    ),
    # both *_env keys name a variable; neither holds the secret (issue 25, item 17)
    (
        "callback-token-env-holds-a-token",
        {"c.yaml": APP + "  callback_token_env: 3f9a0c1b7e2d4a5b8c6d9e0f1a2b3c4d5e6f7a8b\n"},
        "c.yaml:3:23",
        "app: callback_token_env: this looks like a callback token, not the name",
    ),
    (
        "callback-token-env-not-a-name",
        {"c.yaml": APP + "  callback_token_env: my-token\n"},
        "c.yaml:3:23",
        "must be an environment variable name",
    ),
    (
        "secret-key-env-not-a-name",
        {"c.yaml": APP + "  secret_key_env: 1KEY\n"},
        "c.yaml:3:19",
        "must be an environment variable name",
    ),
    # IDs and accounts
    (
        "group-id-tab",
        {"c.yaml": grp("name: A", gid='"a\\tb"')},
        "c.yaml:4:9",
        "contains '\\t' (U+0009)",
    ),
    ("group-id-newline", {"c.yaml": grp("name: A", gid='"a\\nb"')}, "c.yaml:4:9", "U+000A"),
    ("group-id-nbsp", {"c.yaml": grp("name: A", gid='"a\\u00a0b"')}, "c.yaml:4:9", "U+00A0"),
    ("group-id-emoji", {"c.yaml": grp("name: A", gid="🙂")}, "c.yaml:4:9", "printable ASCII"),
    ("account-non-ascii", {"c.yaml": grp("members: [jos\u00e9]")}, "c.yaml:6:15", "U+00E9"),
    ("account-control", {"c.yaml": grp('members: ["a\\u0007"]')}, "c.yaml:6:15", "U+0007"),
    (
        "account-33-bytes",
        {"c.yaml": grp("members: [" + "a" * 33 + "]")},
        "c.yaml:6:15",
        "33 bytes; at most 32",
    ),
    ("owner-non-ascii", {"c.yaml": grp("owner: 张三")}, "c.yaml:6:12", "printable ASCII"),
    ("admin-non-ascii", {"c.yaml": APP + "  admin: adm\u00efn\n"}, "c.yaml:3:10", "U+00EF"),
    (
        "mark-account-non-ascii",
        {"c.yaml": grp("marks: {1000: [\u00e9]}", "AVChatRoom")},
        "c.yaml:6:20",
        "printable ASCII",
    ),
]
