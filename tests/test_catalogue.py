"""Every bad-input case of the catalogue ends in a clear error naming the culprit, nothing half-written."""

import pytest

from fashionlib import catalogue

OUTCOMES: list[dict] = []


@pytest.mark.parametrize("case", catalogue.CASES, ids=[c.name for c in catalogue.CASES])
def test_bad_input_gives_clear_error(case, tmp_path):
    result = catalogue.run_case(case, tmp_path / "case")
    OUTCOMES.append(result)
    assert result["outcome"] in ("clear error", "handled"), f"{case.name}: {result}"
    assert case.mentions.lower() in result["message"].lower()
    assert result["temporary files left"] == 0
    if result["outcome"] == "clear error":
        assert len(result["message"]) > 40, "a clear error says what went wrong and how to fix it"
