"""Bad input never reaches the API: each malformed config exits 1 with a located message, before
any client exists (so no call is made and the emulator's state is untouched)."""

import pytest
from bad_configs import CASES

from reconciler.cli import main


def write(directory, files):
    for name, text in files.items():
        (directory / name).write_bytes(text if isinstance(text, bytes) else text.encode())


def run(capsys, *args):
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize(
    ("files", "where", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_config_is_refused_before_any_call(
    tmp_path, capsys, command, files, where, message
):
    write(tmp_path, files)
    args = [command, str(tmp_path)] + (["--auto-approve"] if command == "apply" else [])
    code, out, err = run(capsys, *args)
    assert code == 1
    expected = f"{tmp_path / where.split(':')[0]}:{where.split(':', 1)[1]}: " if where else ""
    # Paths in messages are the ones the user gave; compare without the temporary directory.
    lines = err.replace(f"{tmp_path}/", "").splitlines()
    expected = expected.replace(f"{tmp_path}/", "")
    assert any(line.startswith(expected) and message in line for line in lines), err
    assert "Traceback" not in err
    # The embedded emulator's state file is made by the first API call; there was none.
    assert not (tmp_path / ".reconciler").exists()


def test_error_in_a_very_large_file_is_located(tmp_path, capsys):
    groups = "".join(
        f"  - id: g{i}\n    type: Public\n    name: Group {i}\n    members: [a{i}, b{i}]\n"
        for i in range(20_000)
    )
    bad = groups.replace(
        "    name: Group 15000\n", "    name: Group 15000\n    max_members: lots\n"
    )
    (tmp_path / "big.yaml").write_text("app:\n  sdkappid: 1400000000\ngroups:\n" + bad)
    code, _, err = run(capsys, "validate", str(tmp_path))
    line = 3 + 15000 * 4 + 4
    assert code == 1
    assert f"big.yaml:{line}:18: group 'g15000': max_members: expected a whole number" in err
