"""The prompt of the local tone model, built the same way for training and for inference.

The system prompt is a one-line instruction, not the style guide: the LoRA adapter learned the
voice from the pairs, and every prompt token is paid for on each reply (prefill on 2 CPU cores
is ~3 ms a token). Changing this text changes what the adapter was trained on: retrain after.
"""

from __future__ import annotations

from bot.tone import guard

SYSTEM_PROMPT = ("Rewrite the answer in our friendly voice: a short opener, \"you\", contractions, "
                 "a short closer. Keep every fact, name, number, link and [n] marker.")
END_OF_TURN = "<|im_end|>"


def messages(draft: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": draft}]


def prompt_text(tokenizer, draft: str) -> str:
    """The chat-formatted prompt up to and including the assistant header."""
    return tokenizer.apply_chat_template(messages(draft), tokenize=False,
                                         add_generation_prompt=True)


def chat_prompt(draft: str) -> str:
    """`prompt_text` without a transformers tokenizer: SmolLM2's ChatML template, written out
    (tests/tone/test_genai.py checks that the two agree)."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}{END_OF_TURN}\n"
                   for m in messages(draft)) + "<|im_start|>assistant\n"


def chat_prompt_head() -> str:
    """The part of every `chat_prompt` before the draft (system prompt and the user header):
    the same for every rewrite, so its KV cache is computed once per process."""
    return chat_prompt("\0").split("\0", 1)[0]


class CopyPointer:
    """Where the rewrite stands in the draft while it copies it: the copy bias and prompt lookup
    follow the draft from *this* position, not from wherever the same words occur.

    The drafts repeat themselves: a table row per sentence ("Max: $146,000. [1] ... Max:
    $178,000. [1]"), the same sentence from two pages ("Rolling back is always allowed, freeze
    or not. [1] Rolling back is always allowed, even during ..."), a marker after every
    sentence. A table of what follows each pair of tokens anywhere in the draft nudged the model
    towards *every* continuation of "Max: $" or "[1]", and the 135M model took the wrong one.

    The pointer is the draft position of the next token to copy. It moves on by one while the
    rewrite copies; when the rewrite leaves the draft ("Employees must" -> "You'll need to") it
    is lost until the last `n` tokens of the rewrite occur in the draft again, and then it takes
    the first such place at or after the furthest point copied so far (`frontier`), so the
    rewrite is steered forward through the draft, never back to a row it already wrote. One
    token equal to the draft's token at the frontier also picks the copy up again.

    `exact` are the draft positions of fact tokens (`fact_positions`: numbers, markers, names,
    URLs, code, quotes: everything the guard compares). While the pointer stands on one, the
    draft's token is copied, not merely favoured (`must_copy`): the guard rejects any other
    token there, and a bonus the model can outvote was not enough (it wrote "Max: $214,000" for
    "$178,000" with a logit margin of 4, "L3" for "L4", dropped "Pro" from "M3 Pro").

    A rewrite that picks the draft up again *past* a fact it has not written (`skipped`: it
    jumped from the first sentence to the third, or dropped the clause holding "25 days" after
    its opener) would lose that fact, so the decoder rolls back to `anchor` (the rewrite's length
    and the draft position when it last copied, or, before it copied anything, after the
    opener's last sentence end) and copies the draft's next token from there
    (bot/tone/genai.py). The same when the model ends the rewrite with facts still unwritten.
    """

    __slots__ = ("source", "n", "starts", "cursor", "frontier", "exact", "sentence_ends",
                 "anchor", "skipped", "jumped")

    def __init__(self, source_ids: list[int], n: int = 2,
                 exact: frozenset[int] | set[int] = frozenset(),
                 sentence_ends: frozenset[int] | set[int] = frozenset()) -> None:
        self.source = list(source_ids)
        self.n = n
        self.exact = exact
        self.sentence_ends = sentence_ends  # token ids that end a sentence ("!", ".", "?")
        self.starts: dict[tuple[int, ...], list[int]] = {}  # n-gram -> positions after it
        for i in range(len(self.source) - n + 1):
            self.starts.setdefault(tuple(self.source[i:i + n]), []).append(i + n)
        self.cursor: int | None = None  # draft position of the next token to copy
        self.frontier = 0  # the furthest draft position copied so far
        self.anchor: tuple[int, int] | None = None  # (rewrite length, draft position) to resume
        self.skipped = False  # the last token took the pointer past an unwritten fact
        # (start, end, anchor before it) of the draft span the last token's realignment passed
        self.jumped: tuple[int, int, tuple[int, int] | None] | None = None

    def advance(self, out: list[int]) -> None:
        """Take the rewrite's newest token (`out[-1]`) into account."""
        token = out[-1]
        self.skipped, self.jumped = False, None
        if self.cursor is not None and self.cursor < len(self.source) \
                and self.source[self.cursor] == token:
            self.cursor += 1
        elif self.cursor is None and self.frontier < len(self.source) \
                and self.source[self.frontier] == token:
            self.cursor = self.frontier + 1
        else:
            places = self.starts.get(tuple(out[-self.n:])) if len(out) >= self.n else None
            if not places:
                self.cursor = None
                if self.frontier == 0 and token in self.sentence_ends:
                    self.anchor = (len(out), 0)  # the end of the opener
                return
            cursor = next((p for p in places if p >= self.frontier), places[-1])
            self.skipped = self.unwritten_fact(self.frontier, cursor - self.n)
            if cursor - self.n > self.frontier:
                self.jumped = (self.frontier, cursor - self.n, self.anchor)
            self.cursor = cursor
        self.frontier = max(self.frontier, self.cursor)
        if not self.skipped:  # a skip keeps the anchor before it, for the roll-back
            self.anchor = (len(out), self.cursor)

    def unwritten_fact(self, start: int, end: int | None = None) -> bool:
        """Whether draft positions start..end (default: to the end) hold a fact token."""
        end = len(self.source) if end is None else end
        return any(start <= i < end for i in self.exact)

    def resume(self, length: int, position: int) -> None:
        """Back to the state after `length` tokens of the rewrite, at draft `position` (the
        caller truncates its output and cache and copies the draft token there next)."""
        self.cursor, self.frontier, self.skipped, self.jumped = position, position, False, None
        self.anchor = (length, position)

    def next_token(self) -> int | None:
        """The draft's token at the pointer: what copying on would write; None when the rewrite
        is not copying (or has copied the draft to its end)."""
        if self.cursor is None or self.cursor >= len(self.source):
            return None
        return self.source[self.cursor]

    def must_copy(self) -> bool:
        """Whether the pointer stands on a fact token: copying it is the only output the guard
        accepts."""
        return self.cursor is not None and self.cursor in self.exact

    def proposal(self, size: int) -> list[int]:
        """Up to `size` draft tokens from the pointer on: the guesses of prompt lookup."""
        return [] if self.cursor is None else self.source[self.cursor:self.cursor + size]

    @classmethod
    def after(cls, source_ids: list[int], out: list[int], n: int = 2,
              exact: frozenset[int] | set[int] = frozenset()) -> "CopyPointer":
        """The pointer once `out` is written (for callers that see the whole prefix each step)."""
        pointer, written = cls(source_ids, n, exact), []
        for token in out:
            written.append(token)
            pointer.advance(written)
        return pointer


def copy_source(draft: str) -> str:
    """The text the rewrite copies from: the draft after a space, as it follows the opener
    ("Happy to help! Level: L3"), so its first word is the same token there ("Ġ Level") and
    the pointer finds the first row rather than the second."""
    return " " + draft


def fact_positions(text: str, offsets: list[tuple[int, int]]) -> frozenset[int]:
    """Indices of the tokens (by their character `offsets` in `text`) that overlap a fact span."""
    fact = [False] * len(text)
    for start, end in guard.fact_spans(text):
        fact[start:end] = [True] * (end - start)
    return frozenset(i for i, (start, end) in enumerate(offsets) if any(fact[start:end]))


def prompt_ids(tokenizer, draft: str) -> list[int]:
    return tokenizer(prompt_text(tokenizer, draft), add_special_tokens=False)["input_ids"]


def training_example(tokenizer, draft: str, on_brand: str) -> tuple[list[int], list[int]]:
    """(input_ids, labels): the loss is on the reply and its end-of-turn token only."""
    prompt = prompt_ids(tokenizer, draft)
    reply = tokenizer(on_brand + END_OF_TURN, add_special_tokens=False)["input_ids"]
    return prompt + reply, [-100] * len(prompt) + reply


def end_of_turn_id(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids(END_OF_TURN)
