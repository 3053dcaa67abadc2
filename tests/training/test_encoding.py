"""Loss masks cover only the assistant's tokens; packed rows keep their samples apart; RAFT prompts."""

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.language import DECLINE_EN, DECLINE_ZH
from core.prompt import SOURCES_INSTRUCTION
from training.data import Conversation
from training.encoding import IGNORE, PackedCollator, encode, pack
from training.raft import with_sources


@pytest.fixture(scope="module")
def tokenizer(chat_model_path):
    return AutoTokenizer.from_pretrained(chat_model_path)


def conversation(*turns, **labels):
    roles = ["user", "assistant"] * len(turns)
    return Conversation(messages=[{"role": r, "content": t} for r, t in zip(roles, turns)], **labels)


def labelled_text(example, tokenizer) -> list[str]:
    """The labelled stretches of tokens, decoded."""
    stretches, current = [], []
    for token, label in zip(example["input_ids"], example["labels"]):
        if label != IGNORE:
            current.append(token)
        elif current:
            stretches.append(tokenizer.decode(current))
            current = []
    return stretches + ([tokenizer.decode(current)] if current else [])


def test_labels_cover_only_assistant_answers(tokenizer):
    sample = conversation(
        "Hi, is the lamp dimmable?", "Yes, in three steps.", "And the colour?", "Warm white.", style="concise"
    )
    example = encode(sample, None, tokenizer=tokenizer, system_prompt="You help.", max_len=512)
    assert labelled_text(example, tokenizer) == ["Yes, in three steps.<|im_end|>", "Warm white.<|im_end|>"]
    prompt = tokenizer.decode(example["input_ids"])
    assert prompt.startswith("<|im_start|>system\nYou help.\n\nStyle: concise<|im_end|>")
    assert len(example["labels"]) == len(example["input_ids"])


def test_sample_too_long_for_max_len_is_left_out(tokenizer):
    sample = conversation("Tell me everything.", "word " * 400)
    assert encode(sample, None, tokenizer=tokenizer, system_prompt="S", max_len=128) is None


def test_packed_row_gives_each_sample_the_logits_it_has_alone(tiny_model, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    examples = [
        encode(conversation(q, a), None, tokenizer=tokenizer, system_prompt="S", max_len=256)
        for q, a in [("Short?", "Yes."), ("A longer question about the kettle?", "It boils in 2 minutes.")]
    ]
    for example in examples:
        example["position_ids"] = list(range(len(example["input_ids"])))
    rows = pack(examples, max_len=256)
    assert len(rows) == 1 and rows[0]["labels"].count(IGNORE) < len(rows[0]["labels"])
    batch = PackedCollator(tokenizer.pad_token_id)(rows + [examples[0]])  # second row is padded
    with torch.no_grad():
        packed = model(**{key: value for key, value in batch.items() if key != "labels"}).logits
        alone = [model(input_ids=torch.tensor([e["input_ids"]])).logits[0] for e in examples]
    longer, shorter = sorted(alone, key=len, reverse=True)  # first-fit-decreasing puts the longer first
    assert torch.allclose(packed[0, : len(longer)], longer, atol=1e-4)
    assert torch.allclose(packed[0, len(longer) : len(longer) + len(shorter)], shorter, atol=1e-4)
    assert torch.allclose(packed[1, : len(shorter)], shorter, atol=1e-4)
    assert (batch["labels"][1, len(shorter) :] == IGNORE).all()


def hit(source, text):
    return SimpleNamespace(source=source, doc_id=source, title=source.split(".")[0], text=text)


def test_raft_puts_gold_among_distractors_and_declines_without_it(tokenizer):
    hits = [
        hit("shipping.md", "Ships in 2 days."),
        hit("returns.md", "30 day returns."),
        hit("warranty.md", "Two year warranty."),
        hit("contact.md", "Call us."),
    ]
    samples = [
        conversation(f"Can I return it? ({i})", "Yes, within 30 days [1].", gold_sources=["returns.md"])
        for i in range(40)
    ]
    samples.append(conversation("可以退货吗？", "可以。", gold_sources=["returns.md"]))
    pairs, counts = with_sources(samples, lambda question: hits, k=3, decline_share=0.25, seed=3)
    assert counts["with_gold"] + counts["declined"] == 41 and 4 <= counts["declined"] <= 18
    for sample, sources in pairs:
        has_gold = any(s.source == "returns.md" for s in sources)
        assert len(sources) == 3
        assert has_gold != (sample.messages[-1]["content"] in (DECLINE_EN, DECLINE_ZH))
    assert (
        len(
            {
                [s.source for s in sources].index("returns.md")
                for _, sources in pairs
                if any(s.source == "returns.md" for s in sources)
            }
        )
        > 1
    )  # gold not always first
    example = encode(*pairs[0], tokenizer=tokenizer, system_prompt="S", max_len=512)
    assert SOURCES_INSTRUCTION in tokenizer.decode(example["input_ids"])
    nested = [hit("/srv/examples/knowledge/policies/returns.md", "30 day returns."), *hits[2:]]
    [(_, sources)], counts = with_sources(
        [conversation("Return?", "Yes.", gold_sources=["policies/returns.md"])],
        lambda q: nested,
        k=2,
        decline_share=0.0,
        seed=0,
    )
    assert counts["with_gold"] == 1 and nested[0].source in [s.source for s in sources]
    unknown = conversation("Unrelated?", "Answer.", gold_sources=["nothing.md"])
    [(kept, sources)], counts = with_sources([unknown], lambda q: hits, k=2, decline_share=1.0, seed=0)
    assert counts["no_gold"] == 1 and kept.messages[-1]["content"] == "Answer." and len(sources) == 2


def test_raft_answers_learn_to_cite_their_gold_source_and_decline_in_the_given_wording():
    hits = [hit("shipping.md", "Ships in 2 days."), hit("returns.md", "30 day returns."), hit("faq.md", "Call.")]
    samples = [
        conversation(f"Can I return it? ({i})", "Yes, within 30 days.", gold_sources=["returns.md"])
        for i in range(30)
    ]
    samples.append(conversation("可以退货吗？", "可以，30 天内。", gold_sources=["returns.md"]))
    wording = {"en": "Not in our documents, sorry.", "zh": "资料里没有。"}
    pairs, counts = with_sources(samples, lambda q: hits, k=3, decline_share=0.3, seed=1, declines=wording)
    assert counts["with_gold"] and counts["declined"]
    for sample, sources in pairs:
        answer = sample.messages[-1]["content"]
        if any(s.source == "returns.md" for s in sources):
            number = [s.source for s in sources].index("returns.md") + 1
            assert answer in (f"Yes, within 30 days [{number}].", f"可以，30 天内[{number}]。"), answer
        else:
            assert answer == wording["zh" if "退货" in sample.last_user() else "en"]
    cited = conversation("Return?", "Yes [2].", gold_sources=["returns.md"])
    [(kept, _)], _ = with_sources([cited], lambda q: hits, k=3, decline_share=0.0, seed=0)
    assert kept.messages[-1]["content"] == "Yes [2]."  # an answer that cites already is left as it is
