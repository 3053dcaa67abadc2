"""Word lists: any case or width, whole Latin words, Chinese anywhere, files with comments."""

import pytest

from core.errors import RagtuneError
from rails.words import WordMatcher, load_word_list


def found(matcher: WordMatcher, text: str) -> list[str]:
    return [text[h.start : h.end] for h in sorted(matcher.find(text), key=lambda h: h.start)]


def test_case_and_width_do_not_hide_a_word():
    matcher = WordMatcher([("idiot", "insult"), ("傻瓜", "insult")])
    assert found(matcher, "ＩＤＩＯＴ! Idiot, iDiOt. 你这个傻瓜") == ["ＩＤＩＯＴ", "Idiot", "iDiOt", "傻瓜"]


def test_matches_map_back_to_the_original_characters():
    matcher = WordMatcher([("guaranteed refund", "promise"), ("idiot", "insult")])
    text = "A ＧＵＡＲＡＮＴＥＥＤ\n  refund for the id\u200biot"
    assert found(matcher, text) == ["ＧＵＡＲＡＮＴＥＥＤ\n  refund", "id\u200biot"]


def test_latin_words_match_whole_words_only_and_chinese_anywhere():
    matcher = WordMatcher([("ass", 1), ("stupid", 1), ("笨蛋", 1)])
    assert found(matcher, "class assets stupidity") == []
    assert found(matcher, "you ass, stupid!") == ["ass", "stupid"]
    assert found(matcher, "你是大笨蛋吗") == ["笨蛋"]
    assert found(matcher, "stupid笨蛋") == ["stupid", "笨蛋"]


def test_a_word_at_the_end_of_unfinished_text_is_only_tentative():
    matcher = WordMatcher([("idiot", 1), ("傻瓜", 1)])
    assert [h.tentative for h in matcher.find("you idiot", final=False)] == [True]
    assert [h.tentative for h in matcher.find("you idiot", final=True)] == [False]
    assert [h.tentative for h in matcher.find("你傻瓜", final=False)] == [False]


def test_word_list_file_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("\ufeff# insults\n\n傻瓜\n  idiot  \n# guaranteed refund\n", encoding="utf-8")
    assert load_word_list(path) == ["傻瓜", "idiot"]


def test_word_list_that_is_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "words.txt"
    path.write_bytes("傻瓜\nidiot\n".encode() + "笨蛋\n".encode("gbk"))
    with pytest.raises(RagtuneError, match=r"words\.txt:3: not UTF-8"):
        load_word_list(path)


def test_characters_that_expand_or_vanish_keep_offsets_right():
    matcher = WordMatcher([("strasse", 1), ("idiot", 1)])
    text = "Straße\u200b idiot"
    assert found(matcher, text) == ["Straße", "idiot"]
