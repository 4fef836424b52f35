"""Hostile input never reaches the API: every case of tests/hostile_configs.py exits 1 with a
located message, before any client exists, within a time limit (none may hang or eat memory)."""

import os
import signal

import pytest
from hostile_configs import CASES

from reconciler.cli import main

TIME_LIMIT_S = 20


def write(directory, files):
    for name, body in files.items():
        path = directory / name
        if body is None:
            os.mkfifo(path)
        elif isinstance(body, tuple):
            path.symlink_to(body[1])
        else:
            path.write_bytes(
                body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
            )


def _timeout(signum, frame):
    raise TimeoutError(f"no answer within {TIME_LIMIT_S} s")


def run(capsys, *args):
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(TIME_LIMIT_S)
    try:
        with pytest.raises(SystemExit) as stop:
            main(list(args))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("files", "where", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_config_is_refused_before_any_call(tmp_path, capsys, files, where, message):
    write(tmp_path, files)
    code, out, err = run(capsys, "plan", str(tmp_path))
    assert code == 1, out + err
    lines = err.replace(f"{tmp_path}/", "").splitlines()
    assert any(line.startswith(where) and message in line for line in lines), err
    assert "Traceback" not in err and "unexpected" not in err
    # The embedded emulator's state file is made by the first API call; there was none.
    assert not (tmp_path / ".reconciler").exists()
