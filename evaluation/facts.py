"""Key facts: does an answer state the numbers, durations, codes and names a correct answer must give?

Answer and fact are both reduced to the same token stream and the fact's tokens must appear in a row in
the answer's. The reduction makes the forms people write for one fact equal:
- numbers: "thirty" = "30" = "三十", "forty-five" = "四十五" = "45", "两千" = "2,000" = "2000" = "2000.00";
- units after a number, in either language: "30 days" = "30-day" = "30 天" = "30天" = "30日";
  "5–10 个工作日" = "5 to 10 business days"; "$59" = "59 dollars"; "¥2,000" = "2000 元"; "5 °C" = "5℃";
- codes and names: case and hyphens do not count ("E-117" = "E117" = "e-117", "AeroBuds" = "aerobuds");
- "n't" = " not", so "doesn't fit" states "not fit".
Numbers are whole tokens, so "3 days" does not state "30 days" and neither does "130 days".
A fact may list alternatives separated by " | " ("not covered | not cover"): stating any one is enough."""

import re
import unicodedata

from core.language import HAN, KANA

_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
# A Chinese numeral starts with a digit or 十 ("十五" = 15); 百/千/万 alone are words ("千万", "万一").
_ZH_NUMERAL = re.compile("[零〇一二两三四五六七八九十][零〇一二两三四五六七八九十百千万]*")

# Units written after a number, mapped to one spelling. Longer words first, so 工作日 wins over 日.
_ZH_UNIT_WORDS = {
    "个工作日": "business day", "工作日": "business day", "个小时": "hour", "小时": "hour",
    "分钟": "minute", "个星期": "week", "星期": "week", "个月": "month", "毫米": "mm", "积分": "point",
    "天": "day", "日": "day", "周": "week", "年": "year", "月": "month", "米": "m", "元": "¥", "块": "¥",
}
_ZH_UNIT = re.compile(r"(\d)\s*(" + "|".join(_ZH_UNIT_WORDS) + ")")
_CELSIUS = re.compile(r"(\d)\s*(?:°\s*c(?![a-z])|degrees?\s+(?:celsius|c(?![a-z]))|摄氏度|度)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_WHOLE = re.compile(r"(?<![\d.])(\d+)\.0+(?!\.?\d)")  # "$59.00" = "$59"; a version's "3.2.0" stays
_WHOLE_HOUR = re.compile(r"(?<=\d):00(?!\d)")  # "8:00 pm" = "8 pm"
_NOT = re.compile(r"n't\b")
_CANNOT = re.compile(r"\bcannot\b")

# A number (with its decimals or version parts: "3.2.1"), a Latin word, one CJK character, or a sign that is
# part of a fact ($, ¥, €, £, %); everything else (spaces, hyphens, punctuation) only separates.
_TOKEN = re.compile(rf"\d+(?:\.\d+)*|[a-z]+|[{KANA}{HAN}]|[$¥€£%]")

_EN_UNITS = {word: n for n, word in enumerate([
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])}
_EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
            "ninety": 90}
_EN_NUMBER_WORDS = {*_EN_UNITS, *_EN_TENS, "hundred", "thousand"}

# Words after a number that name the same unit as a sign or a shorter word.
_AFTER_NUMBER = {"dollar": "$", "usd": "$", "euro": "€", "eur": "€", "rmb": "¥", "yuan": "¥", "cny": "¥",
                 "percent": "%", "meter": "m", "metre": "m", "millimeter": "mm", "millimetre": "mm",
                 "watt": "w", "hr": "hour", "min": "minute", "yr": "year", "celsius": "celsius"}
_CURRENCY = {"$", "¥", "€", "£"}
_RANGE_WORDS = {"to", "and", "至", "到"}  # "5 to 10" = "5–10" = "5 至 10"


def _zh_number(numeral: str) -> int:
    """"四十五" -> 45, "一百零五" -> 105, "两千" -> 2000, "十" -> 10; "二〇二五" (digit by digit) -> 2025."""
    if not any(ch in _ZH_UNITS for ch in numeral):
        return int("".join(str(_ZH_DIGITS[ch]) for ch in numeral))
    total, section, digit = 0, 0, None
    for ch in numeral:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        elif ch == "万":
            total += (section + (digit or 0)) * 10_000
            section, digit = 0, None
        else:
            section += (1 if digit is None else digit) * _ZH_UNITS[ch]
            digit = None
    return total + section + (digit or 0)


def _english_numbers(tokens: list[str]) -> list[str]:
    """Runs of number words become one number: "forty five" -> "45", "one hundred twenty" -> "120"."""
    out, i = [], 0
    while i < len(tokens):
        if tokens[i] not in _EN_NUMBER_WORDS:
            out.append(tokens[i])
            i += 1
            continue
        total, group, last = 0, 0, None
        while i < len(tokens) and tokens[i] in _EN_NUMBER_WORDS:
            word = tokens[i]
            if word == "hundred":
                group, last = (group or 1) * 100, "hundred"
            elif word == "thousand":
                total, group, last = total + (group or 1) * 1000, 0, "thousand"
            elif word in _EN_TENS and last in (None, "hundred", "thousand"):
                group, last = group + _EN_TENS[word], "tens"
            elif word in _EN_UNITS and (last in (None, "hundred", "thousand")
                                         or (last == "tens" and _EN_UNITS[word] < 10)):
                group, last = group + _EN_UNITS[word], "unit"
            else:
                break  # "five ten" are two numbers
            i += 1
        out.append(str(total + group))
    return out


def _singular(word: str) -> str:
    """"days" -> "day", "codes" -> "code"; "business", "celsius", "gps" and other short words stay."""
    plural = len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is"))
    return word[:-1] if plural else word


def tokens(text: str) -> list[str]:
    """The normalised token stream that facts are looked for in."""
    # full-width digits and signs become ASCII, ℃ becomes °c
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    text = _WHOLE.sub(r"\1", _THOUSANDS.sub("", text))
    text = _WHOLE_HOUR.sub("", text)
    text = _NOT.sub(" not", _CANNOT.sub("can not", text))
    text = _ZH_NUMERAL.sub(lambda m: str(_zh_number(m.group())), text)
    text = _CELSIUS.sub(r"\1 celsius ", text)
    text = _ZH_UNIT.sub(lambda m: f"{m.group(1)} {_ZH_UNIT_WORDS[m.group(2)]} ", text)
    raw = _english_numbers(_TOKEN.findall(text))
    out: list[str] = []
    for n, token in enumerate(raw):
        is_number = token[0].isdigit()
        after_number = bool(out) and out[-1][0].isdigit()
        if token in _RANGE_WORDS and after_number and n + 1 < len(raw) and raw[n + 1][0].isdigit():
            continue
        if not is_number and token not in _CURRENCY:
            token = _singular(token)
            if after_number:
                token = _AFTER_NUMBER.get(token, token)
        if is_number and out and out[-1] in _CURRENCY:  # "$59" -> "59 $", as "59 dollars" reads
            out.insert(len(out) - 1, token)
            continue
        out.append(token)
    return out


def _contains(haystack: list[str], needle: list[str]) -> bool:
    width = len(needle)
    return any(haystack[i:i + width] == needle for i in range(len(haystack) - width + 1))


def states(answer: str | list[str], fact: str) -> bool:
    """The answer (text or its tokens) states the fact, or one of its " | " alternatives."""
    have = tokens(answer) if isinstance(answer, str) else answer
    return any(_contains(have, want) for want in (tokens(alt) for alt in fact.split(" | ")) if want)


def missing_facts(answer: str, facts: list[str]) -> list[str]:
    """The facts the answer does not state, in the given order."""
    have = tokens(answer)
    return [fact for fact in facts if not states(have, fact)]


def check_fact(fact: str) -> str | None:
    """Why a fact written in a question file can never be matched (None: it can)."""
    if not any(tokens(alt) for alt in fact.split(" | ")):
        return f"key fact {fact!r} has no letters, digits or signs to look for"
    return None
