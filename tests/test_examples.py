"""Every shipped example validates, applies to the embedded emulator, and then plans empty."""

import shutil
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.emulator import EmulatorStore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out, err = capsys.readouterr()
    return stop.value.code, out, err


@pytest.fixture
def copy_example(tmp_path):
    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns(".reconciler"))
        return target

    return copy


def test_school_two_terms(capsys, copy_example):
    school = copy_example("school")
    term1, term2 = (str(school / "values" / f"term{n}.yaml") for n in (1, 2))
    code, out, _ = run(capsys, "validate", str(school), "--values", term1)
    assert code == 0 and out.startswith("OK: 5 group(s)")
    code, out, _ = run(capsys, "apply", str(school), "--values", term1, "--auto-approve")
    assert code == 0, out
    assert "Apply complete" in out
    code, out, _ = run(capsys, "plan", str(school), "--values", term1, "--detailed-exitcode")
    assert code == 0, out
    assert "mark 1000 pending until online: head.teacher" in out
    store = EmulatorStore(school / ".reconciler" / "local.sqlite3")
    try:
        lecture = store.dump()["groups"]["live-lecture"]
    finally:
        store.close()
    assert lecture["AdminList"] == ["ms.lin"] and set(lecture["MutedAccounts"]) == {"s1099"}

    code, out, _ = run(capsys, "plan", str(school), "--values", term2, "--detailed-exitcode")
    assert code == 2
    assert '~ member s1002: name_card "Ben" -> "Benjamin"' in out
    assert "- member s1003" in out and "+ member s1201" in out
    code, out, _ = run(capsys, "apply", str(school), "--values", term2, "--auto-approve")
    assert code == 0, out
    code, out, _ = run(capsys, "plan", str(school), "--values", term2, "--detailed-exitcode")
    assert code == 0, out


def test_community(capsys, copy_example):
    community = copy_example("community")
    assert run(capsys, "validate", str(community))[0] == 0
    code, out, _ = run(capsys, "apply", str(community), "--auto-approve")
    assert code == 0, out
    code, out, _ = run(capsys, "plan", str(community), "--detailed-exitcode")
    assert code == 0, out


def test_roster_staging_applies_and_production_validates(capsys, copy_example):
    roster = copy_example("roster")
    staging = str(roster / "values" / "staging.yaml")
    production = str(roster / "values" / "production.yaml")
    code, out, _ = run(capsys, "validate", str(roster), "--values", production)
    assert code == 0 and "400 group(s), 12400 membership(s)" in out
    code, out, _ = run(capsys, "apply", str(roster), "--values", staging, "--auto-approve")
    assert code == 0, out
    code, out, _ = run(
        capsys,
        "plan",
        str(roster),
        "--values",
        staging,
        "--var",
        "group_size=9",
        "--detailed-exitcode",
    )
    assert code == 2
    assert "250 to update" in out
