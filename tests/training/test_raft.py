"""RAFT's answers cite their gold source with the marker the prompt asks for, in either language."""

import pytest

from core.prompt import cited_numbers
from training.raft import cite


@pytest.mark.parametrize(
    ("answer", "cited"),
    [
        ("Returns are free within 30 days.", "Returns are free within 30 days [2]."),
        ("Returns are free within 30 days", "Returns are free within 30 days [2]"),
        ("Is it free? Yes!", "Is it free? Yes [2]!"),
        ("退货期为三十天。", "退货期为三十天[2]。"),
    ],
)
def test_the_gold_sources_marker_goes_before_the_closing_punctuation(answer, cited):
    assert cite(answer, 2) == cited
    assert cited_numbers(cite(answer, 2)) == [2]


@pytest.mark.parametrize("answer", ["Returns are free [1].", "See [12] for the steps.", "退货期为三十天[3]。"])
def test_an_answer_that_already_cites_is_left_as_it_is(answer):
    assert cite(answer, 2) == answer
