"""The Great Expectations runner: pass, fail, and a raised expectation counted as failed."""

import great_expectations.expectations as gxe
import pandas as pd

from orchestration.defs.gates import check_result, validate_frame


def test_a_clean_frame_passes():
    frame = pd.DataFrame({"message_id": ["a", "b"], "sent": [3, 2], "delivered": [3, 1]})
    outcome = validate_frame(
        "clean",
        frame,
        [
            gxe.ExpectColumnValuesToBeUnique(column="message_id"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="sent", column_B="delivered", or_equal=True
            ),
        ],
    )
    assert outcome.passed
    assert outcome.failures == []
    assert check_result([outcome]).passed


def test_failing_rows_are_named_with_a_sample():
    frame = pd.DataFrame({"message_id": ["a", "a", None], "status_epoch": [0, 1_700_000_000, 5]})
    outcome = validate_frame(
        "bad",
        frame,
        [
            gxe.ExpectColumnValuesToBeUnique(column="message_id"),
            gxe.ExpectColumnValuesToBeBetween(column="status_epoch", min_value=1_230_768_000),
        ],
    )
    assert not outcome.passed
    by_expectation = {f["expectation"]: f for f in outcome.failures}
    assert by_expectation["expect_column_values_to_be_between"]["unexpected_count"] == 2
    assert by_expectation["expect_column_values_to_be_between"]["sample"] == ["0", "5"]
    assert by_expectation["expect_column_values_to_be_unique"]["sample"] == ["a", "a"]
    result = check_result([outcome])
    assert not result.passed
    assert "status_epoch" in result.description
    assert "e.g. ['0', '5']" in result.description


def test_an_expectation_that_raises_fails_the_gate():
    frame = pd.DataFrame({"message_id": ["a"]})
    outcome = validate_frame("raises", frame, [gxe.ExpectColumnValuesToNotBeNull(column="missing")])
    assert not outcome.passed
    assert outcome.failures[0]["error"]
    assert "raised" in check_result([outcome]).description


def test_one_failing_suite_fails_the_whole_check():
    good = validate_frame(
        "good", pd.DataFrame({"x": [1]}), [gxe.ExpectColumnValuesToNotBeNull(column="x")]
    )
    bad = validate_frame(
        "bad", pd.DataFrame({"x": [None]}), [gxe.ExpectColumnValuesToNotBeNull(column="x")]
    )
    assert not check_result([good, bad]).passed
