"""Generate the demo training data from the hand-written templates in training_templates.py.

Run with `.venv/bin/python examples/make_training_data.py`; the output is deterministic (fixed seed)
and kept in the repository:
- training/conversations.jsonl: {"messages", "intent", "style", "language"} per line
- training/preferences.jsonl: {"prompt", "chosen", "rejected"} per line (chosen in house voice, rejected not)
"""

import json
import random
from pathlib import Path

from training_templates import SCENARIOS, Scenario

SEED = 20251101
OUT = Path(__file__).parent / "training"
PER_INTENT = {"en": 29, "zh": 7}  # conversations per intent and language (8 intents -> 288, ~19% Chinese)
SECOND_QUESTION_SHARE = 0.15  # share of single-question conversations that get a second question
PREFERENCE_PAIRS = 60

SLOTS = {
    "city": ["Denver", "Austin", "Seattle", "Boston", "Miami", "Phoenix", "Atlanta", "Portland"],
    "country": ["Canada", "Germany", "Australia", "Japan", "France", "Singapore", "New Zealand", "Ireland",
                "Norway", "Mexico"],
    "eu_country": ["Germany", "France", "Spain", "Italy", "the Netherlands", "Ireland", "the UK"],
    "city_zh": ["北京", "上海", "广州", "成都", "杭州", "武汉", "南京"],
}
STYLE = {
    "en": {
        "friendly": (["Hi there!", "Hi, thanks for reaching out!", "Thanks for getting in touch!", "Hello!"],
                     ["Anything else I can help with?", "Let me know if there's anything else!",
                      "Hope that helps!"]),
        "formal": (["Thank you for contacting Northwind Gadgets.", "Thank you for your message.",
                    "Good day, and thank you for reaching out."],
                   ["Please let us know if we can assist you further.",
                    "We are glad to help with any other questions."]),
    },
    "zh": {
        "friendly": (["您好！", "您好，很高兴为您服务！", "亲，您好！"],
                     ["还有其他问题随时找我哦！", "希望对您有帮助！"]),
        "formal": (["您好，感谢您联系 Northwind Gadgets。", "您好，感谢您的咨询。"],
                   ["如有其他问题，欢迎随时联系我们。", "感谢您的耐心。"]),
    },
}
SIGN_OFF = {"en": "— Northwind Support", "zh": "—— Northwind 客服"}
USER_LEAD = {"en": ["", "", "Hi! ", "Hello. ", "Hi there! ", "Good morning! ", "Hey! "],
             "zh": ["", "", "你好，", "您好，", "在吗？"]}
USER_TAIL = {"en": ["", "", " Thanks!", " Thanks in advance.", " Thank you."],
             "zh": ["", "", "谢谢！", "麻烦了。"]}
ORDER_REPLY = {"en": ["It's {order}.", "Sure, it's {order}.", "{order}", "The order number is {order}.",
                      "Here you go: {order}"],
               "zh": ["订单号是 {order}", "{order}", "好的，{order}"]}
CURT = {"en": ["Check the website.", "Not sure. Contact support.", "Look in your account.",
               "Can't help with that.", "It's in the FAQ."],
        "zh": ["自己去官网看。", "不清楚，问别人吧。", "看常见问题。"]}


def fill(template: str, rng: random.Random, scenario: Scenario, values: dict[str, str]) -> str:
    """Fill slots; one conversation reuses the same values so the product and order stay consistent."""
    if scenario.products and "product" not in values:
        values["product"], values["code"] = rng.choice(scenario.products)
    for slot, choices in SLOTS.items():
        if "{" + slot + "}" in template and slot not in values:
            values[slot] = rng.choice(choices)
    if "{order}" in template and "order" not in values:
        values["order"] = f"NWG-{rng.choice([2025, 2026])}-{rng.randint(100000, 999999)}"
    return template.format(**values)


def user_turn(text: str, lang: str, rng: random.Random, greeting: bool) -> str:
    return (rng.choice(USER_LEAD[lang]) if greeting else "") + text + rng.choice(USER_TAIL[lang])


def support_turn(body: str, lang: str, style: str, rng: random.Random, greeting: bool = True,
                 closing: bool = True) -> str:
    """Support's voice: a greeting on the first turn only, the answer, a closing line and the sign-off."""
    openers, closers = STYLE[lang][style]
    sep = "" if lang == "zh" else " "
    text = rng.choice(openers) + sep + body if greeting else body
    if closing:
        text += sep + rng.choice(closers)
    return f"{text}\n\n{SIGN_OFF[lang]}"


def exchange(scenario: Scenario, style: str, rng: random.Random, first: bool = True) -> list[dict]:
    """The messages of one scenario: a question and answer, or the order-number round trip."""
    lang, values = scenario.lang, {}
    messages = [{"role": "user", "content": user_turn(fill(rng.choice(scenario.users), rng, scenario, values),
                                                      lang, rng, first)}]
    reply = fill(scenario.reply, rng, scenario, values)
    if not scenario.after:
        # No closing line where the answer already ends with a question or is a polite refusal.
        closing = scenario.intent != "off_topic" and not reply.endswith(("?", "？"))
        answer = support_turn(reply, lang, style, rng, first, closing)
        return messages + [{"role": "assistant", "content": answer}]
    values.setdefault("order", fill("{order}", rng, scenario, values))
    after = fill(scenario.after, rng, scenario, values)
    return messages + [
        {"role": "assistant", "content": support_turn(reply, lang, style, rng, first, closing=False)},
        {"role": "user", "content": rng.choice(ORDER_REPLY[lang]).format(**values)},
        {"role": "assistant", "content": support_turn(after, lang, style, rng, greeting=False)},
    ]


def conversations(rng: random.Random) -> list[dict]:
    rows, seen = [], set()
    for intent in sorted({s.intent for s in SCENARIOS}):
        for lang, count in PER_INTENT.items():
            pool = [s for s in SCENARIOS if s.intent == intent and s.lang == lang]
            made, attempt = 0, 0
            while made < count:
                scenario = pool[attempt % len(pool)]
                attempt += 1
                style = "friendly" if rng.random() < 0.6 else "formal"
                messages = exchange(scenario, style, rng)
                if not scenario.after and rng.random() < SECOND_QUESTION_SHARE:
                    other = rng.choice([s for s in pool if not s.after and s is not scenario])
                    messages += exchange(other, style, rng, first=False)
                key = json.dumps(messages, ensure_ascii=False)
                if key in seen:
                    continue
                seen.add(key)
                rows.append({"messages": messages, "intent": intent, "style": style, "language": lang})
                made += 1
    rng.shuffle(rows)
    return rows


def preferences(rng: random.Random) -> list[dict]:
    """Chosen: the house answer. Rejected: the scenario's wrong or guessing answer, or a curt brush-off."""
    single = [s for s in SCENARIOS if not s.after]
    pairs = []
    for i in range(PREFERENCE_PAIRS):
        scenario = single[i % len(single)]
        values: dict[str, str] = {}
        prompt = fill(rng.choice(scenario.users), rng, scenario, values)
        chosen = support_turn(fill(scenario.reply, rng, scenario, values), scenario.lang, "friendly", rng)
        wrong = fill(scenario.wrong, rng, scenario, values) if scenario.wrong else ""
        rejected = wrong if wrong and i % 3 else rng.choice(CURT[scenario.lang])
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return pairs


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(out: Path = OUT) -> None:
    rng = random.Random(SEED)
    write_jsonl(out / "conversations.jsonl", conversations(rng))
    write_jsonl(out / "preferences.jsonl", preferences(rng))


if __name__ == "__main__":
    main()
