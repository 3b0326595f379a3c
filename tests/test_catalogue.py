"""Every bad-input case of the catalogue ends as registered: a clear error naming the culprit (or handled),
nothing half-written."""

import pytest

from fashionlib import catalogue

OUTCOMES: list[dict] = []


@pytest.mark.parametrize("case", catalogue.CASES, ids=[c.name for c in catalogue.CASES])
def test_bad_input_ends_as_registered(case, tmp_path):
    result = catalogue.run_case(case, tmp_path / "case")
    OUTCOMES.append(result)
    expected = "clear error" if case.expect == "error" else "handled"
    assert result["outcome"] == expected, f"{case.name}: {result}"
    assert result["temporary files left"] == 0
    if case.expect == "error":
        assert len(result["message"]) > 40, "a clear error says what went wrong and how to fix it"


def _registered(**kwargs):
    before = list(catalogue.CASES)
    try:
        catalogue.case(name="probe", area="test", fix="-", **kwargs)(lambda tmp: None)
        return catalogue.CASES[-1]
    finally:
        catalogue.CASES[:] = before


def test_run_case_reports_each_wrong_ending(tmp_path):
    """The runner of cases is itself checked: a missing error, a vague message, the wrong type, an
    error where handling was expected."""
    def raises(exc):
        def trigger(tmp):
            raise exc
        return trigger

    silent = catalogue.Case("x", "t", lambda tmp: None, "error", (ValueError,), ("a",), "-")
    vague = catalogue.Case("x", "t", raises(ValueError("something failed")), "error", (ValueError,), ("x.csv",), "-")
    wrong = catalogue.Case("x", "t", raises(KeyError("k")), "error", (ValueError,), ("k",), "-")
    handled = catalogue.Case("x", "t", raises(ValueError("boom")), "handled", (ValueError,), ("boom",), "-")
    described = catalogue.Case("x", "t", lambda tmp: "converted to RGB", "handled", (), ("RGB",), "-")
    assert catalogue.run_case(silent, tmp_path / "1")["outcome"] == "no error raised"
    assert catalogue.run_case(vague, tmp_path / "2")["outcome"] == "message does not mention 'x.csv'"
    assert catalogue.run_case(wrong, tmp_path / "3")["outcome"] == "unexpected error type"
    assert catalogue.run_case(handled, tmp_path / "4")["outcome"] == "error where handling was expected"
    assert catalogue.run_case(described, tmp_path / "5")["outcome"] == "handled"


def test_registration_takes_keywords_and_refuses_duplicates():
    c = _registered(mentions="m", raises=FileNotFoundError)
    assert c.raises == (FileNotFoundError,) and c.mentions == ("m",) and c.expect == "error"
    with pytest.raises(ValueError, match="expect must be one of"):
        catalogue.case(name="probe", area="t", fix="-", mentions="m", expect="fine")
    with pytest.raises(ValueError, match="registered twice"):
        catalogue.case(name=catalogue.CASES[0].name, area="t", fix="-", mentions="m")(lambda tmp: None)
    with pytest.raises(TypeError):
        catalogue.case("positional", "t", "-", "m")  # keyword arguments only
