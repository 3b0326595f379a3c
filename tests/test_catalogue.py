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


def test_cases_html_shows_every_fact_of_each_case_as_a_block_per_area():
    import pandas as pd

    table = pd.DataFrame([
        {"area": "weights", "case": "missing <file>", "outcome": "clear error", "exception": "FileNotFoundError",
         "message": "/tmp/fashionlib-case-ab12/nowhere does not exist" + " x" * 200, "fix": "set A_B & retry"},
        {"area": "weights", "case": "16-bit image", "outcome": "handled", "exception": "",
         "message": "converted to 8-bit", "fix": "nothing"},
        {"area": "parameters", "case": "bad epochs", "outcome": "clear error", "exception": "ParameterError",
         "message": "epochs must be >= 1", "fix": "pass -p epochs 3"}])
    page = catalogue.cases_html(table)
    assert "<table" not in page
    assert page.count('class="error-area"') == 2 and page.count('class="error-case"') == 3
    assert page.index(">weights<") < page.index("missing &lt;file&gt;") < page.index("16-bit image") \
        < page.index(">parameters<") < page.index("bad epochs")
    for text in ("clear error, <code>FileNotFoundError</code>", "(handled)", "<code>ParameterError</code>",
                 "&lt;case folder&gt;/nowhere does not exist", "set A_B &amp; retry", "epochs must be &gt;= 1",
                 "pass -p epochs 3", "converted to 8-bit"):
        assert text in page, text
    assert "fashionlib-case-" not in page, "the building machine's temporary path is hidden"
    cut = page.split('class="error-message">')[1].split("</p>")[0]
    assert cut.endswith("\u2026") and len(cut.replace("&lt;", "<").replace("&gt;", ">")) == 221
