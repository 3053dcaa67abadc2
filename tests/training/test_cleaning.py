"""Cleaning report counts, personal-data masking, augmentation marks and the deterministic split."""

import random
from collections import Counter

from training.augment import paraphrase_questions, substitute_entities
from training.cleaning import clean, mask_personal_data
from training.data import Conversation
from training.split import split


def conv(question, answer="A helpful answer.", intent=None, origin=""):
    return Conversation(
        messages=[{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
        intent=intent,
        origin=origin,
    )


def test_report_counts_each_reason():
    samples = [
        conv("<p>Where is my <b>order</b>?</p>"),
        conv("Tabs\tand   spaces  here\x07"),
        conv("Where is my parcel from Berlin today please?"),
        conv("Where is my parcel from Berlin today please?"),  # exact duplicate
        conv("Where is my parcel from Berlin today please!!"),  # near duplicate
        conv("Too short answer", answer="k"),
        conv("A question", answer="x" * 9000),
        conv("My phone is 13812345678, mail li.lei@example.com"),
    ]
    kept, report = clean(samples)
    assert (report.before, report.after) == (8, 4)
    assert report.removed == Counter(exact_duplicate=1, near_duplicate=1, too_short=1, too_long=1)
    assert report.modified["html"] == 1 and report.modified["control_chars"] == 1
    assert report.modified["whitespace"] == 2 and report.modified["personal_data"] == 1
    assert report.masked == Counter(PHONE=1, EMAIL=1)
    assert kept[0].messages[0]["content"] == "Where is my order ?"
    assert kept[1].messages[0]["content"] == "Tabs and spaces here"


def test_masking_of_personal_data():
    text = (
        "手机 +86 138-1234-5678 or 15912345678; email a.b+c@mail.example.cn; "
        "身份证 11010519491231002X; card 4111 1111 1111 1111; office +1 (555) 123-4567"
    )
    masked = mask_personal_data(text)
    assert masked == (
        "手机 [PHONE] or [PHONE]; email [EMAIL]; 身份证 [ID_CARD]; card [BANK_CARD]; office [PHONE]"
    )


def test_near_duplicates_need_every_turn_alike():
    template = "Sorry, I can only help with orders, products, returns and warranty questions."
    samples = [
        conv("Can you translate my contract?", template),
        conv("What is the weather tomorrow?", template),
    ]
    kept, report = clean(samples)
    assert len(kept) == 2 and report.removed["near_duplicate"] == 0


def test_company_contacts_can_be_kept():
    text = "Write to support@northwind.example, not to me at li.lei@example.com"
    keep = ("support@northwind.example",)
    assert mask_personal_data(text, keep=keep) == "Write to support@northwind.example, not to me at [EMAIL]"


def test_masking_keeps_numbers_that_are_not_personal_data():
    text = (
        "Order NW-20240101, 1234 5678 9012 3456 (fails Luhn), price 1299 yuan, on 2024-05-01, "
        "110105194912310021"
    )
    assert mask_personal_data(text) == text


def distinct_questions(n, seed):
    rng = random.Random(seed)
    words = ["invoice", "refund", "parcel", "charger", "cable", "warranty", "screen", "battery", "colour"]
    return [" ".join(rng.sample(words, 6)) + "?" for _ in range(n)]


def test_intent_balance_warning():
    samples = [conv(q, intent="billing") for q in distinct_questions(10, seed=1)]
    samples += [conv(q, intent="returns") for q in distinct_questions(4, seed=2)]
    _, report = clean(samples)
    assert report.intents == Counter(billing=10, returns=4)
    assert len(report.warnings) == 2 and "intent 'returns' has 4 samples, 43% below" in report.warnings[1]


def test_split_is_deterministic_and_stratified():
    samples = [conv(f"question number {i}", intent=["a", "b"][i % 2], origin=f"f:{i}") for i in range(40)]
    train, val = split(samples, 0.25, seed=7)
    shuffled = samples[:]
    random.Random(1).shuffle(shuffled)
    _, val2 = split(shuffled, 0.25, seed=7)
    assert {s.text() for s in val} == {s.text() for s in val2}
    assert Counter(s.intent for s in val) == Counter(a=5, b=5)
    assert len(train) == 30
    assert {s.text() for s in split(samples, 0.25, seed=8)[1]} != {s.text() for s in val}


def test_augmentation_is_marked_and_never_leaks_into_validation():
    samples = [
        conv(f"Do you deliver to Berlin, order {i}?", "Yes, Berlin in 2 days.", origin=f"f:{i}")
        for i in range(10)
    ]
    made = substitute_entities(samples, {"city": ["Berlin", "Paris", "Rome"]})
    assert len(made) == 10 and all(m.augmented.startswith("entity:city:Berlin->") for m in made)
    assert "Berlin" not in made[0].text()
    paraphrased = paraphrase_questions(samples, ["请问，{question}"])
    assert paraphrased[0].messages[0]["content"].startswith("请问，Do you deliver")
    train, val = split(samples + made, 0.2, seed=1)
    val_origins = {s.origin for s in val}
    assert not any(s.augmented for s in val)
    assert not any(s.origin in val_origins for s in train)
