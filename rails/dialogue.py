"""Conversational turns: greetings, thanks, goodbyes, "who are you" and vague openers ("I need help",
"我有个问题") get a support agent's reply, never a search of the knowledge base (which finds nothing for
"hi" and answers with the fallback and a hand-off).

A turn is conversational only when nothing is left of it once its social phrases and filler words are
taken out: "hi, how long do refunds take?" keeps "long refunds take" and is a question. Phrases are matched
like word lists (any case or width, Latin phrases as whole words, Chinese anywhere). Labelled turns measure
it (tests/rails/test_dialogue.py; docs/decisions/conversations.md)."""

import unicodedata
from dataclasses import dataclass
from typing import Literal

from rails.words import WordHit, WordMatcher

Act = Literal["greeting", "thanks", "acknowledge", "goodbye", "identity", "clarify"]
ACTS: tuple[Act, ...] = ("greeting", "thanks", "acknowledge", "goodbye", "identity", "clarify")
# When a turn holds several ("Hello, I need some help"), the reply answers the one that asks the most of us.
_PRIORITY: tuple[Act, ...] = ("clarify", "identity", "goodbye", "thanks", "greeting", "acknowledge")


def _phrases(text: str) -> tuple[str, ...]:
    """Phrases written one after another, separated by "|"."""
    return tuple(phrase.strip() for phrase in text.split("|") if phrase.strip())


PHRASES: dict[Act, tuple[str, ...]] = {
    "greeting": _phrases(
        """
        hi | hello | hey | hiya | howdy | greetings | good morning | good afternoon | good evening |
        hi there | hello there | hey there | how are you | how are you doing | how's it going |
        anyone there | is anyone there | are you there | anyone here | is anyone here | yo | 你好 | 您好 | 嗨 |
        哈喽 | 哈啰 | 早上好 | 上午好 | 中午好 | 下午好 | 晚上好 | 早安 | 在吗 | 在不在 | 有人吗 | 你好吗 | 亲 | 亲在吗 | 亲在不在 | 👋
        """
    ),
    "thanks": _phrases(
        """
        thanks | thank you | thx | ty | cheers | many thanks | thanks a lot | thank you so much |
        much appreciated | appreciate it | 3q | tks | tq | that helps | that helped | that was helpful |
        very helpful | 谢谢 | 多谢 | 感谢 | 谢啦 | 谢了 | 非常感谢 | 太感谢了 | 辛苦了 | 有帮助 | 帮大忙了 | 多谢亲 | 谢谢亲 | 3q | 🙏
        """
    ),
    "acknowledge": _phrases(
        """
        ok | okay | k | got it | i see | understood | alright | all right | sure | fine | great |
        perfect | awesome | cool | nice | good | sounds good | makes sense | noted | yes | no | 好的 | 好 |
        嗯 | 哦 | 噢 | 嗯嗯 | 哦哦 | 好滴 | 好哒 | ok的 | 明白了 | 明白 | 知道了 | 了解 | 收到 | 可以 | 行 | 好吧 | 懂了 | 👍
        """
    ),
    "goodbye": _phrases(
        """
        bye | goodbye | bye bye | see you | see ya | have a nice day | have a good day |
        have a great day | good night | cya | gotta go | got to go | that's everything |
        that is everything | that's all | that is all | that's it | nothing else | no more questions |
        i'm done | all good | 再见 | 拜拜 | 回头见 | 晚安 | 88 | 没有其他问题了 | 没别的问题了 | 没有别的了 | 没有了 | 没了 | 没事了 | 就这些 |
        没有别的问题了 | 没问题了
        """
    ),
    "identity": _phrases(
        """
        who are you | what are you | who am i talking to | who am i speaking with | are you a bot |
        are you a robot | are you human | are you a human | are you real | are you an ai |
        are you a person | what can you do | what do you do | what can you help with |
        what kind of things can you help with | what things can you help with | is this a real person |
        is this a bot | am i talking to a bot | am i talking to a real person |
        what can you help me with | your name | what's your name | what is your name | 你是谁 | 你是什么 | 是真人吗 |
        是真人客服吗 | 是机器人吗 | 你都能帮我干嘛 | 你能帮我干嘛 | 你是机器人吗 | 你是机器人 | 你是真人吗 | 你是人工智能吗 | 你是ai吗 | 你能做什么 | 你会什么 |
        你叫什么 | 你叫什么名字 | 你可以做什么 | 你能帮我做什么
        """
    ),
    "clarify": _phrases(
        """
        help | help me | i need help | i need some help | need help | can you help | can you help me |
        could you help me | please help | please help me | i have a question | i have a few questions |
        i have some questions | quick question | a question | i have a problem | i have an issue |
        i've got a problem | i've got a question | something is wrong | something's wrong |
        it doesn't work | it's not working | i need assistance | i need support | support |
        i want to ask | i'd like to ask | can i ask | can i ask a question | may i ask | 我有个问题 | 我有一个问题 |
        有个问题 | 我有问题 | 我想问 | 我想问一下 | 想问一下 | 问一下 | 请问 | 我想咨询 | 我想咨询一下 | 咨询一下 | 咨询 | 我需要帮助 | 需要帮助 | 帮帮我 |
        帮我 | 能帮我吗 | 可以帮我吗 | 出问题了 | 有问题 | 有点问题 | 帮我看看 | 帮我看一下 | 问个事 | 我要问个事 | 我要问 | 问个问题 | 不能用了 | 坏了
        """
    ),
}
# Words that carry no request of their own; they may surround a social phrase.
FILLER = _phrases(
    """
    a | an | the | i | me | my | you | your | we | our | it | is | am | are | so | very | much | again |
    just | well | oh | um | uh | hmm | please | pls | plz | there | guys | team | everyone | sir | madam |
    friend | with | about | for | and | but | then | today | one | some | a lot | so much | for now |
    all | for that | for your help | for the help | for helping | that's | that | this | here | now |
    too | as well | really | indeed | lol | 啊 | 呀 | 哈 | 哈哈 | 呢 | 吧 | 啦 | 了 | 的 | 我 | 你 | 您 | 们 | 一下 | 吗 |
    么 | 那 | 就 | 也 | 非常 | 很 | 真的 | 先 | 这样 | 那就 | 哈喽哈喽
    """
)
# What a vague opener may be about without saying anything that could be searched: "help with my order".
VAGUE_OBJECTS = _phrases(
    """
    order | orders | account | product | products | device | purchase | item | something | problem |
    issue | question | questions | thing | stuff | 订单 | 产品 | 账户 | 账号 | 东西 | 问题 | 事情 | 事 | 商品
    """
)


@dataclass(frozen=True)
class DialogueTurn:
    act: Act
    acts: tuple[Act, ...]  # every act found, in priority order


class DialogueDetector:
    """Which conversational act a user turn is, or None for a question to search the knowledge base with."""

    def __init__(self, phrases: dict[Act, tuple[str, ...]] | None = None):
        entries: list[tuple[str, Act | None]] = [
            (phrase, act) for act, words in (phrases or PHRASES).items() for phrase in words
        ]
        entries += [(word, None) for word in (*FILLER, *VAGUE_OBJECTS)]
        self._vague = frozenset(VAGUE_OBJECTS)
        self._matcher: WordMatcher[tuple[str, Act | None]] = WordMatcher((w, (w, act)) for w, act in entries)

    def detect(self, text: str) -> DialogueTurn | None:
        hits = self._matcher.find(text)
        covered = [False] * len(text)
        for hit in hits:
            covered[hit.start : hit.end] = [True] * (hit.end - hit.start)
        # A phrase inside a longer one is not said on its own: the "help" of "thanks for the help".
        hits = [h for h in hits if not any(_inside(h, o) for o in hits)]
        social = [hit for hit in hits if hit.value[1] is not None]
        acts: set[Act] = {hit.value[1] for hit in social}
        vague = any(  # "my order", but not the 事 of 没事了
            hit.value[0] in self._vague and not any(s.start <= hit.start and hit.end <= s.end for s in social)
            for hit in hits
        )
        leftover = [ch for ch, cov in zip(text, covered, strict=True) if not cov and _says_something(ch)]
        if leftover:
            return None
        if vague and acts & {"clarify", "greeting", "acknowledge"} or not acts:
            acts.add("clarify")  # "my order", "订单" or nothing legible: ask what it is about
        ordered = tuple(act for act in _PRIORITY if act in acts)
        return DialogueTurn(ordered[0], ordered)


def _inside(hit: WordHit, other: WordHit) -> bool:
    return (
        other.start <= hit.start
        and hit.end <= other.end
        and (other.end - other.start) > (hit.end - hit.start)
    )


def _says_something(char: str) -> bool:
    """Letters and digits say something; spaces, punctuation, symbols and emoji do not."""
    return unicodedata.category(char)[0] in "LN"
