"""Key facts: the forms people write one fact in count as stating it, near misses do not."""

import pytest

from evaluation.facts import check_fact, missing_facts, states


@pytest.mark.parametrize("answer", [
    "You can return it within 30 days of delivery.",
    "There is a 30-day return window.",
    "You have thirty days.",
    "自签收之日起三十天内可以退货。",
    "签收后 30 天内可以退货。",
    "签收后30天内可以退货。",
    "30日内可退货。",
    "You have ３０ days.",  # full-width digits
])
def test_thirty_days_in_every_form(answer):
    assert states(answer, "30 days")
    assert states(answer, "30 天")


@pytest.mark.parametrize("answer", [
    "You can return it within 3 days.",
    "You can return it within 130 days.",
    "You can return it within 30.5 days.",
    "You have 30 hours.",
    "签收后三天内可以退货。",
    "签收后一百三十天内可以退货。",
    "30 is the number of items; days vary.",
])
def test_near_misses_do_not_state_thirty_days(answer):
    assert not states(answer, "30 days")


def test_chinese_numerals():
    assert states("金卡会员有四十五天的退货期。", "45 days")
    assert states("Gold members get 45 days.", "四十五天")
    assert states("forty-five days", "45")
    assert states("一百零五元", "105 元")
    assert states("超过两千元需要签收", "¥2,000")
    assert states("十五分钟后再试", "15 minutes")
    assert states("二〇二五年", "2025")
    assert not states("四十天", "45 days")
    assert not states("十五天", "5 days")


@pytest.mark.parametrize("answer", ["Error E-117 means…", "Error E117 means…", "error e-117 means…",
                                    "错误代码 E-117 表示固件不匹配。", "(e 117)"])
def test_codes_ignore_case_and_hyphens(answer):
    assert states(answer, "E-117")


def test_codes_are_whole():
    assert not states("Error E-1170 means…", "E-117")
    assert not states("Error E-17 means…", "E-117")
    assert not states("Error F-117 means…", "E-117")
    assert states("The battery is NW-8809.", "nw8809")


def test_product_names_ignore_case():
    assert states("The AEROBUDS PRO firmware is 3.2.1.", "AeroBuds Pro")
    assert states("aerobuds pro 的固件", "AeroBuds Pro")
    assert not states("The AeroBuds firmware", "AeroBuds Pro")


def test_money_in_either_order_and_language():
    for answer in ("It costs $59.", "It costs 59 dollars.", "The fee is $59.00.", "US$59"):
        assert states(answer, "$59"), answer
    assert states("订单满 ¥399 免运费", "399 元")
    assert states("超过 2000 元需要本人签收", "¥2,000")
    assert not states("It costs $590.", "$59")
    assert not states("It costs 59 euros.", "$59")


def test_ranges_units_and_temperatures():
    assert states("新疆 5-10 个工作日送达", "5–10 个工作日")
    assert states("新疆五到十个工作日送达", "5–10 个工作日")
    assert states("Delivery takes 5 to 10 business days.", "5–10 个工作日")
    assert not states("Delivery takes 5 to 10 days.", "5–10 个工作日")
    assert states("Standard takes 5-9 business days", "5 to 9")
    assert states("Let it reach between 10 and 35°C.", "35 °C")
    assert states("温度需在 10 到 35 ℃ 之间", "10 to 35 °C")
    assert states("温度需在10～35℃之间", "35 °C")
    assert states("below 5 degrees Celsius", "5 °C")
    assert not states("below 5 °F", "5 °C")
    assert states("waterproof to 10 metres", "10 m")
    assert states("Platinum line: 8:00 am to 10:00 pm ET", "10 pm")
    assert not states("Platinum line: 8:00 am to 10:30 pm ET", "10 pm")


def test_versions_and_phone_numbers_are_exact():
    assert states("The latest firmware is 3.2.1.", "3.2.1")
    assert not states("The latest firmware is 3.2.", "3.2.1")
    assert not states("The latest firmware is 3.2.10.", "3.2.1")
    assert states("Call 1 (800) 555-0199.", "1-800-555-0199")
    assert not states("Call 1-800-555-0142.", "1-800-555-0199")


def test_negations_and_alternatives():
    assert states("Straps from the first PulseBand don't fit.", "not fit")
    assert states("Straps from the first PulseBand won’t fit.", "not fit")
    assert states("Theft isn't covered by Care+.", "not covered | not cover")
    assert states("Care+ does not cover stolen drones.", "not covered | not cover")
    assert not states("Care+ covers stolen drones.", "not covered | not cover")


def test_every_fact_must_be_stated():
    answer = "Gift cards come in $25, $50 and $100."
    assert missing_facts(answer, ["$25", "$50", "$100", "$200"]) == ["$200"]
    assert missing_facts(answer + " And $200.", ["$25", "$50", "$100", "$200"]) == []


def test_a_fact_with_nothing_to_look_for_is_named():
    assert check_fact("30 days") is None
    assert "'—'" in check_fact("—")
