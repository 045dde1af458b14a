"""The rewrite's copying of the draft (bot/tone/prompting.py CopyPointer, bot/tone/genai.py's
loop), with a scripted language model: it follows the draft by position, copies facts exactly,
and goes back when it passes over a fact. Each scripted model makes one of the slips the 135M
model made on the demo set."""

from __future__ import annotations

import numpy as np
import pytest

from bot.tone import prompting
from bot.tone.genai import GenaiModel
from bot.tone.guard import check, fact_spans


def test_the_pointer_follows_the_draft_by_position_not_by_the_first_match():
    # "Max : $" occurs twice; after copying the second row, the second row's number comes next
    draft = ["Max", ":", "$", "1", ".", "Max", ":", "$", "2", "."]
    pointer = prompting.CopyPointer(draft)
    out = []
    for token in ["Hi", "!", "Max", ":", "$", "1", ".", "Max", ":", "$"]:
        out.append(token)
        pointer.advance(out)
    assert pointer.next_token() == "2"
    assert pointer.proposal(5) == ["2", "."]


def test_the_pointer_prefers_the_next_unwritten_place_and_flags_a_skipped_fact():
    draft = ["a", "b", "[", "1", "]", "a", "b", "[", "2", "]"]
    pointer = prompting.CopyPointer(draft, exact=frozenset({2, 3, 4, 7, 8, 9}))
    out = ["a", "b", "[", "1", "]"]
    for i in range(1, len(out) + 1):
        pointer.advance(out[:i])
    assert (pointer.cursor, pointer.anchor, pointer.skipped) == (5, (5, 5), False)
    out += ["a", "b"]  # the second sentence, in order: no skip
    pointer.advance(out[:6])
    pointer.advance(out)
    assert (pointer.cursor, pointer.skipped) == (7, False)
    assert pointer.must_copy() and pointer.next_token() == "["

    skipper = prompting.CopyPointer(["x", "y", "[", "1", "]", "z", "w", "[", "2", "]"],
                                    exact=frozenset({2, 3, 4, 7, 8, 9}))
    written = []
    for token in ["x", "y", "z", "w"]:  # drops "[1]"
        written.append(token)
        skipper.advance(written)
    assert skipper.skipped
    assert skipper.anchor == (2, 2)  # back to after "x y", where "[" comes next


def test_before_copying_anything_the_anchor_is_the_end_of_the_opener():
    pointer = prompting.CopyPointer(["That", "was", "25", "days", ";", "if", "you", "see"],
                                    exact=frozenset({2}), sentence_ends=frozenset({"!"}))
    out = []
    for token in ["No", "problem", "!", "If", "you", "see"]:
        out.append(token)
        pointer.advance(out)
    assert pointer.skipped and pointer.anchor == (3, 0)


def test_fact_spans_cover_what_the_guard_compares():
    text = "Max: $178,000 at https://x.example/a in Okta and #it-help, see `make run`. [1]"
    covered = {text[a:b] for a, b in fact_spans(text)}
    assert {"$178,000", "https://x.example/a", "Okta", "#it-help", "`make run`", "[1]"} <= covered
    assert "Max" not in covered  # a sentence-start word is not a name


# -- the decoding loop, with a scripted model ----------------------------------------------------

def _tokenizer(words: list[str]):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit

    vocab = {w: i for i, w in enumerate(dict.fromkeys(["[UNK]", prompting.END_OF_TURN, *words]))}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = WhitespaceSplit()
    return tokenizer


class ScriptedModel(GenaiModel):
    """GenaiModel's own loop over a fake network: it wants to write `script` (a flawed
    rewrite); once off the script it copies the draft on from the latest place of its last two
    tokens, and ends at the draft's end. The "KV cache" holds the token ids themselves."""

    def __init__(self, draft: str, script: str) -> None:
        words = (draft + " " + script).split()
        self.tokenizer = _tokenizer(words)
        self.eos_id = self.tokenizer.token_to_id(prompting.END_OF_TURN)
        self.sentence_ends = frozenset(i for t, i in self.tokenizer.get_vocab().items()
                                       if t.endswith((".", "!", "?")))
        self.layers, self._np = 1, np
        self.head, self.head_past = [], None  # no cached prompt head: the whole prompt is fed
        self.draft, self.script = self.encode(draft), self.encode(script)
        self.prompt_len = len(self.encode(prompting.chat_prompt(draft)))
        self.kv_shape, self.fed = (1, 1, 0, 1), []

    def _wants(self, written: list[int]) -> int:
        if written == self.script[:len(written)] and len(written) < len(self.script):
            return self.script[len(written)]
        tail = tuple(written[-2:])
        for i in range(len(self.draft) - 2, -1, -1):
            if tuple(self.draft[i:i + 2]) == tail:
                return self.draft[i + 2] if i + 2 < len(self.draft) else self.eos_id
        return self.eos_id

    def _forward(self, ids, past):
        seen = [int(t) for t in past[0][0, 0, :, 0]] + list(ids)
        self.fed.append(len(ids))
        logits = np.zeros((len(ids), self.tokenizer.get_vocab_size()), dtype=np.float32)
        for j in range(len(ids)):
            upto = len(seen) - len(ids) + j + 1
            logits[j, self._wants(seen[self.prompt_len:upto])] = 10.0
        cache = np.array(seen, dtype=np.float32).reshape(1, 1, -1, 1)
        return logits, [cache, cache]

    def rewrite(self, draft: str, **kw) -> str:
        ids, finished, _ = self.generate(draft, max_new=200, deadline=None, copy_bias=2.0, **kw)
        assert finished
        return self.decode(ids)


PASSWORD = ("Choose a new password . [1] Minimum length is 14 characters . [1] "
            "You can't reuse any of your last 8 passwords . [1]")


@pytest.mark.parametrize("draft, script", [
    # jumps from the first sentence to the third: "Minimum length is 14 characters. [1]" lost
    (PASSWORD, "Sure thing ! Choose a new password . [1] You can't reuse any"),
    # the last row's number in the middle row (a table: "Max : $" in every row)
    ("Level L3 Max : $ 146 . [1] Level L4 Max : $ 178 . [1] Level L5 Max : $ 214 . [1]",
     "Happy to help ! Level L3 Max : $ 146 . [1] Level L4 Max : $ 214 ."),
    # drops the clause that holds the number, right after its opener
    ("That was replaced by the flat 25 days ; if you see 20 days it's outdated . [1]",
     "No problem ! If you see 20 days it's outdated . [1] Hope that helps !"),
    # ends before the last sentence
    (PASSWORD, "Sure ! Choose a new password . [1] Minimum length is 14 characters . [1]"),
])
def test_the_rewrite_keeps_every_fact_the_model_would_have_dropped(draft, script):
    model = ScriptedModel(draft, script)
    rewrite = model.rewrite(draft)
    assert check(draft, rewrite).ok, rewrite
    assert rewrite.split()[:2] == script.split()[:2]  # the opener is the model's


BENEFITS = "Long-term disability : 60% of salary , free . [1]"


def test_a_clause_dropped_without_its_numbers_is_written_back():
    # "Long-term disability:" holds no number or name: the guard cannot see it go
    script = "Sure thing ! You'll get 60% of salary , free . [1] Hope that helps !"
    rewrite = ScriptedModel(BENEFITS, script).rewrite(BENEFITS)
    assert rewrite.startswith("Sure thing ! Long-term disability : 60% of salary"), rewrite
    assert check(BENEFITS, script).ok  # what the pointer prevents would have been sent


def test_a_voice_change_that_keeps_the_words_is_left_alone():
    draft = "Expenses are submitted in Expensify within 30 days . [1]"
    script = "Sure ! You submit expenses in Expensify within 30 days . [1] Hope that helps !"
    assert ScriptedModel(draft, script).rewrite(draft) == script


def test_without_the_copy_bias_the_model_writes_what_it_wants():
    model = ScriptedModel(PASSWORD, "Sure thing ! Choose a new password . [1] You can't reuse any")
    ids, _, _ = model.generate(PASSWORD, max_new=200, deadline=None, copy_bias=0.0)
    assert "Minimum" not in model.decode(ids)  # the slip the pointer and the roll-back undo


def test_the_prompt_head_is_prefilled_once_and_reused():
    script = "Sure thing ! Choose a new password . [1] You can't reuse any"
    model = ScriptedModel(PASSWORD, script)
    whole = model.rewrite(PASSWORD)
    first_feed = model.fed[0]
    model.head = model.encode(prompting.chat_prompt_head())
    empty = np.zeros(model.kv_shape, dtype=np.float32)
    model.head_past = model._forward(model.head, [empty, empty])[1]
    model.fed = []
    assert model.rewrite(PASSWORD) == whole
    assert model.fed[0] == first_feed - len(model.head)  # only the draft's part is prefilled
    assert prompting.chat_prompt(PASSWORD).startswith(prompting.chat_prompt_head())
