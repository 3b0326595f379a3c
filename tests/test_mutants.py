"""The mutation check's list (scripts/mutants.py) fits the code: each breakage's old text is found once.

``make mutants`` runs the breakages themselves (each against the tests that must catch it); this only
keeps the list from rotting between those runs, and checks that its check reports rot."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _module():
    spec = importlib.util.spec_from_file_location("mutants", REPO / "scripts" / "mutants.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mutants"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_every_breakage_still_fits_the_code_and_names_existing_test_files():
    mod = _module()
    assert len(mod.MUTANTS) >= 25
    assert mod.check_list(mod.MUTANTS) == []
    for m in mod.MUTANTS:
        for test in m.tests:
            path, _, name = test.partition("::")
            assert (REPO / path).is_file(), f"{m.name}: {path} does not exist"
            assert f"def {name.split('[')[0]}(" in (REPO / path).read_text(), f"{m.name}: no test {name}"


def test_a_rotted_or_empty_breakage_is_reported():
    mod = _module()
    gone = mod.Mutant("gone", "fashionlib/report.py", "text that is not there", "x", ("tests/test_report.py",))
    noop = mod.Mutant("noop", "fashionlib/claims.py", "TOLERANCE = 1.5", "TOLERANCE = 1.5", ())
    problems = mod.check_list([gone, noop, noop])
    assert any("gone: its old text is found 0 times in fashionlib/report.py" in p for p in problems)
    assert any("noop: the new text equals the old" in p for p in problems)
    assert any("noop: no test named" in p for p in problems)
    assert any("noop: the name is used twice" in p for p in problems)
