"""The judge's reply is read leniently: JSON inside prose is found, scores outside 1-5 are dropped."""

from evaluation.judge import parse_scores


def test_scores_are_read_from_a_chatty_reply():
    reply = 'Here is my grade: {"correctness": 4, "helpfulness": 5, "style": 3}. Thanks!'
    assert parse_scores(reply) == {"correctness": 4, "helpfulness": 5, "style": 3}


def test_missing_or_out_of_range_scores_are_none():
    assert parse_scores('{"correctness": 9, "style": 2}') == {"correctness": None, "helpfulness": None, "style": 2}
    assert parse_scores("I cannot grade this.") == {"correctness": None, "helpfulness": None, "style": None}
