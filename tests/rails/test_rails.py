"""Rails from settings: sensible defaults with no files, the demo rules file, overridable texts, and reload
that swaps rules at runtime and keeps the old ones when a file is bad."""

import shutil
from pathlib import Path

import pytest

from core.errors import RagtuneError
from core.settings import RailsSettings
from rails import Decision, Rails
from rails.language import DEFAULT_TEXTS

DEMO = Path(__file__).resolve().parents[2] / "examples" / "rails"


def test_defaults_flag_personal_data_in_questions_and_mask_it_in_answers():
    rails = Rails(RailsSettings())
    checked = rails.scan_input("我的手机是13812345678，订单到哪了？")
    assert checked.text == "我的手机是13812345678，订单到哪了？" and not checked.blocked
    assert checked.decisions == (Decision(rule="personal_data", action="flag", kind="phone", count=1),)
    f = rails.output_filter("zh")
    assert f.feed("请拨打13812345678") + f.finish() == "请拨打[PHONE]"
    assert rails.handoff("转人工") == "asked for a human: '转人工'"
    assert rails.fallback("保修多久？") == DEFAULT_TEXTS["zh"]["fallback"]
    assert rails.fallback("How long is the warranty?") == DEFAULT_TEXTS["en"]["fallback"]


def test_everything_can_be_switched_off():
    rails = Rails(RailsSettings(input_enabled=False, output_enabled=False, handoff_enabled=False))
    assert rails.scan_input("a@b.cn").decisions == ()
    assert rails.scan_output("a@b.cn").text == "a@b.cn"
    assert rails.handoff("talk to a human") is None


def test_settings_word_lists_and_texts(tmp_path):
    (tmp_path / "banned.txt").write_text("傻瓜\nidiot\n", encoding="utf-8")
    settings = RailsSettings(
        input_word_lists=[tmp_path / "banned.txt"],
        texts={"en": {"blocked_input": "Let's keep it friendly."}},
    )
    rails = Rails(settings)
    assert rails.scan_input("you IDIOT").text == "Let's keep it friendly."
    blocked = rails.scan_input("你这个傻瓜")
    assert blocked.blocked and blocked.text == DEFAULT_TEXTS["zh"]["blocked_input"]
    assert blocked.decisions == (Decision(rule="banned", action="block", kind="word", count=1),)


def test_unknown_text_kind_is_an_error():
    with pytest.raises(RagtuneError, match="unknown kind 'welcome'"):
        Rails(RailsSettings(texts={"en": {"welcome": "Hi"}}))


def test_demo_rules_file():
    rails = Rails(RailsSettings(rules_file=DEMO / "rules.yaml"))
    checked = rails.scan_input("笨蛋，订单 NWG-2025-104233 呢？")
    assert set(checked.decisions) == {
        Decision(rule="insults", action="flag", kind="word", count=1),
        Decision(rule="order_number", action="flag", kind="regex", count=1),
    }
    answer = rails.scan_output("Write to support@northwindgadgets.example, not li@example.com, you Idiot")
    assert answer.text == "Write to support@northwindgadgets.example, not [EMAIL], you ***"
    assert rails.scan_output("我们保证退款").text == DEFAULT_TEXTS["zh"]["blocked_output"]


@pytest.fixture
def rules_dir(tmp_path) -> Path:
    for name in ("rules.yaml", "insults.txt", "promises.txt"):
        shutil.copy(DEMO / name, tmp_path / name)
    return tmp_path


def test_reload_applies_new_words_without_restart(rules_dir):
    rails = Rails(RailsSettings(rules_file=rules_dir / "rules.yaml"))
    stream = rails.output_filter()
    with (rules_dir / "insults.txt").open("a", encoding="utf-8") as f:
        f.write("nitwit\n")
    assert rails.scan_output("you nitwit").text == "you nitwit"
    rails.reload()
    assert rails.scan_output("you nitwit").text == "you ***"
    assert stream.feed("you nitwit") + stream.finish() == "you nitwit"  # a stream keeps its rules


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("action: block", "action: ban"), r"rules\.yaml:\d+: rule 'promises': `action`"),
        (
            lambda t: t.replace("max_chars: 15", "max_chars: 15\n    colour: red"),
            r"rules\.yaml:\d+: unknown key",
        ),
        (lambda t: t.replace("'NWG-", "'NWG-(", 1), r"rules\.yaml:\d+: bad regex"),
        (lambda t: t.replace("input:", "input: [", 1), r"rules\.yaml:\d+: not valid YAML"),
        (lambda t: t.replace("pii: all", "pii: passport", 1), r"rules\.yaml:\d+: unknown personal-data kind"),
    ],
)
def test_reload_with_a_bad_rules_file_keeps_the_old_rules_and_names_the_line(rules_dir, edit, message):
    path = rules_dir / "rules.yaml"
    rails = Rails(RailsSettings(rules_file=path))
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(RagtuneError, match=message):
        rails.reload()
    assert rails.scan_output("you idiot").text == "you ***"


def test_the_line_named_is_the_bad_rules_line(rules_dir):
    path = rules_dir / "rules.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    rule_line = lines.index("  - name: promises") + 1
    path.write_text("\n".join(lines).replace("action: block", "action: ban"), encoding="utf-8")
    with pytest.raises(RagtuneError, match=rf"rules\.yaml:{rule_line}: rule 'promises'"):
        Rails(RailsSettings(rules_file=path))


def test_reload_with_a_bad_word_list_names_file_and_line(rules_dir):
    rails = Rails(RailsSettings(rules_file=rules_dir / "rules.yaml"))
    with (rules_dir / "promises.txt").open("ab") as f:
        f.write("永久保修\n".encode("gbk"))
    lines = (rules_dir / "promises.txt").read_bytes().count(b"\n")
    with pytest.raises(
        RagtuneError, match=rf"promises\.txt:{lines}: not UTF-8 \(listed at .*rules\.yaml:\d+\)"
    ):
        rails.reload()
    assert rails.scan_output("我们保证退款").blocked


def test_missing_rules_file_is_named():
    with pytest.raises(RagtuneError, match="nowhere.yaml: cannot read"):
        Rails(RailsSettings(rules_file=Path("nowhere.yaml")))


def test_the_companys_own_addresses_pass_the_personal_data_rule_zh_and_en():
    from core.settings import PiiSettings

    rails = Rails(RailsSettings(), PiiSettings(keep=["support@northwind.example"]))
    answer = rails.scan_output("Write to support@northwind.example or jane.doe@mail.example.")
    assert answer.text == "Write to support@northwind.example or [EMAIL]."
    question = rails.scan_input("客服邮箱是 support@northwind.example 吗？")
    assert question.decisions == ()  # nothing flagged: the kept address is no personal data
