"""The rails a chat service runs around generation, built from settings and reloadable without a restart.

    rails = Rails(settings.rails, settings.pii)
    checked = rails.scan_input(question)            # ScanResult: blocked -> answer checked.text
    reason = rails.handoff(question)                # str | None
    turn = rails.dialogue(question)                 # DialogueTurn | None: a greeting, thanks, ...
    stream = rails.output_filter(checked.language)  # StreamFilter: feed(delta) -> str, finish() -> str
    rails.reload()                                  # RagtuneError (file:line) keeps the rules in force

Each call reads one snapshot of the rules, and a stream keeps the rules it started with."""

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import RagtuneError
from core.language import Language, detect_language
from core.pii import PII_KINDS
from core.settings import PiiSettings, RailsSettings
from rails.dialogue import DialogueDetector, DialogueTurn
from rails.handoff import DEFAULT_PHRASES, HandoffDetector
from rails.language import Texts
from rails.loading import SIDES, load_rules_file, word_list_files
from rails.rules import Rule, RuleSet, ScanResult
from rails.stream import StreamFilter
from rails.words import load_word_list

log = logging.getLogger("ragtune.rails")
_DIALOGUE = DialogueDetector()  # fixed phrases: one automaton for every snapshot


@dataclass(frozen=True)
class _Snapshot:
    input: RuleSet
    output: RuleSet
    handoff: HandoffDetector | None
    dialogue: DialogueDetector | None
    texts: Texts


class Rails:
    def __init__(self, settings: RailsSettings, pii: PiiSettings | None = None):
        """pii: its `keep` list is never masked or flagged; unset: PiiSettings' defaults."""
        self.settings, self.pii = settings, pii or PiiSettings()
        self._lock = threading.Lock()
        self._stamps = self._file_stamps()
        self._now = build(settings, self.pii)
        self._checked = time.monotonic()

    def reload(self) -> None:
        """Read the rules file and word lists again; the new rules apply to the next call. On a bad file
        this raises a RagtuneError naming file and line, and the rules in force stay."""
        with self._lock:
            stamps = self._file_stamps()
            self._now = build(self.settings, self.pii)
            self._stamps = stamps

    def reload_if_changed(self, every_s: float = 1.0) -> None:
        """At most once per `every_s`: reload when a rules or word-list file changed on disk (an editor's
        `ragtune rails words` or a deployment), so no restart is needed. A bad file keeps the rules in force
        and is logged (the admin API's reload reports it)."""
        if time.monotonic() - self._checked < every_s:
            return
        self._checked = time.monotonic()
        if self._file_stamps() != self._stamps:
            try:
                self.reload()
            except RagtuneError as err:
                log.warning("rails not reloaded, the rules in force stay: %s", err)

    def word_lists(self) -> dict[str, Path]:
        """Every word-list file by name (its file name without extension): settings' and the rules file's."""
        files = [*self.settings.input_word_lists, *self.settings.output_word_lists]
        if self.settings.rules_file is not None:
            files += word_list_files(self.settings.rules_file)
        return {Path(path).stem: Path(path) for path in files}

    def _file_stamps(self) -> dict[Path, int]:
        files = [*self.word_lists().values()]
        if self.settings.rules_file is not None:
            files.append(Path(self.settings.rules_file))
        return {path: path.stat().st_mtime_ns if path.exists() else -1 for path in files}

    @property
    def texts(self) -> Texts:
        return self._now.texts

    @property
    def input_rules(self) -> RuleSet:
        return self._now.input

    @property
    def output_rules(self) -> RuleSet:
        return self._now.output

    def scan_input(self, text: str) -> ScanResult:
        """The user's message checked; when blocked, `text` is the preset reply in the message's language."""
        return self._now.input.scan(text)

    def handoff(self, text: str) -> str | None:
        """Why the conversation should go to a person (the user asked for one), or None."""
        detector = self._now.handoff
        return detector.check(text) if detector else None

    def dialogue(self, text: str) -> DialogueTurn | None:
        """The conversational act of a user turn (greeting, thanks, ...), or None for a question."""
        detector = self._now.dialogue
        return detector.detect(text) if detector else None

    def output_filter(self, language: Language | None = None) -> StreamFilter:
        """A filter for one streamed answer; language: of its blocked reply (None: the answer's)."""
        return StreamFilter(self._now.output, language)

    def scan_output(self, text: str, language: Language | None = None) -> ScanResult:
        """A whole (non-streamed) answer checked."""
        return self._now.output.scan(text, language)

    def fallback(self, question: str) -> str:
        """The answer when the knowledge base has nothing, in the question's language."""
        return self._now.texts.get("fallback", detect_language(question))


def build(settings: RailsSettings, pii: PiiSettings) -> _Snapshot:
    texts = Texts(settings.texts)
    keep = tuple(pii.keep)
    if settings.rules_file is not None:
        rules = load_rules_file(settings.rules_file, keep)
    else:
        actions = {"input": settings.input_pii_action, "output": settings.output_pii_action}
        rules = {
            side: [Rule(name="personal_data", action=action, pii=PII_KINDS, keep=frozenset(keep))]
            if action
            else []
            for side, action in actions.items()
        }
    lists = {"input": settings.input_word_lists, "output": settings.output_word_lists}
    actions = {"input": settings.input_word_action, "output": settings.output_word_action}
    for side in SIDES:
        for path in lists[side]:
            rules[side].append(_word_list_rule(Path(path), actions[side], rules[side]))
    enabled = {"input": settings.input_enabled, "output": settings.output_enabled}
    sets = {
        side: RuleSet(
            rules[side] if enabled[side] else [], texts.by_language(f"blocked_{side}"), settings.mask
        )
        for side in SIDES
    }
    phrases = settings.handoff_phrases if settings.handoff_phrases is not None else DEFAULT_PHRASES
    handoff = HandoffDetector(phrases) if settings.handoff_enabled else None
    dialogue = _DIALOGUE if settings.dialogue_enabled else None
    return _Snapshot(
        input=sets["input"], output=sets["output"], handoff=handoff, dialogue=dialogue, texts=texts
    )


def _word_list_rule(path: Path, action: str, others: list[Rule]) -> Rule:
    if any(rule.name == path.stem for rule in others):
        raise RagtuneError(f"{path}: a rule named {path.stem!r} exists already; rename the word list")
    return Rule(name=path.stem, action=action, words=tuple(load_word_list(path)))
