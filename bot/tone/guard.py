"""The fact guard: a tone rewrite is sent only if it keeps every fact and citation of the draft.

Pure and cheap (regular expressions, no torch), so every tone backend — the local LoRA model and
the hosted `openai` stage alike — calls `check(draft, rewrite)` and sends the draft unchanged when
the result is not ok. The reason is a short machine-readable string ("markers changed: lost [2]")
that the answer records as `tone_reason`.

What counts as a fact, and why the comparison is done the way it is:

- citation markers `[n]`: the *sequence* must be identical (a multiset check would let a rewrite
  swap which sentence cites which page), and every fact of the draft must still sit in the same
  marker segment (the text up to its marker), so a fact cannot migrate to another citation;
- numbers (with currency sign / percent), URLs, bare hosts and dotted identifiers
  (vpn.brightwave.example, ticket.tagged), emails, `code spans`, "quoted strings", #channels:
  compared as sets — each one of the draft is still there, no new one appears;
- names: runs of capitalised words not at sentence start ("Finance", "Harbor HR", "in Austin"),
  plus all-caps / inner-caps words anywhere ("IT", "GitHub"). A sentence-start word is ambiguous
  ("Accessing ..." is no name), so a name is looked up in the *text* of the other side rather
  than in its extracted names: "Dublin staff ..." -> "Staff in Dublin ..." keeps the fact;
- number words ("two approvals") count as numbers; only "one" and "once" may be *added*,
  because the voice uses them as pronoun / conjunction ("you can request one", "once it's done");
- negations ("not", "n't", "never", "without", ...): a rewrite that turns "is not allowed" into
  "is allowed" keeps every name and number but flips the fact, so no segment may have fewer
  negations than in the draft. More is allowed: the voice says "limited to 3" as "can't have more
  than 3", "unacknowledged" as "isn't acknowledged". Idioms of the voice ("No problem!") are
  ignored. Likewise for the words that bound a fact ("only", "at least", "unless", "within", ...);
- sentence starts: each rewritten sentence starts with a word of the draft (any form: "Lock"
  for "locked", "Write" for "written") or with a function word of the voice ("You", "If", "As",
  "Once", ...). This catches a name or a flipped term put first, which the name rule cannot see
  there: "Downgrading ..." -> "Upgrading ...", "Dublin staff" -> "London staff". The opener (a
  short first sentence without facts) and the closer (after the last marker) are exempt;
- safety: empty output, output longer than ~2x the draft (a rambling or looping model), and Slack
  mention syntax (`<!channel>`, `<@U123>`, `@here` ...) that the draft did not have.

Known blind spots (a rewrite passes although meaning changed): a swapped modal ("must" -> "may"),
an added negation, a changed lower-case word inside a sentence ("monthly" -> "weekly", "mypy" ->
"yourpy", "reserved for" -> "you can find"), a dropped clause without numbers or names, a changed
agent ("results are reported" -> "you'll report results"). Measured on the held-out set, these
are the errors that remain in accepted rewrites; a semantic check would need a model of its own.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

MAX_LENGTH_RATIO = 2.0
LENGTH_SLACK_CHARS = 40  # opener + closer on a one-line draft can exceed 2x; allow this much extra

MARKER_RE = re.compile(r"\[(\d+)\]")
# A citation marker closes its sentence, whatever comes before it: the composer ends a list's
# lead-in with one ("..., then keep climbing: [1]"), and the word after it starts a sentence
# (the closer's "Hope that helps!" is no name). Markers become a line break before the name and
# sentence-start rules read the text, so the word after one is held to the sentence-start rule.
MARKER_BREAK = "\n"
CODE_RE = re.compile(r"`[^`\n]+`")
URL_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>|`\"]*[^\s<>|`\".,;:!?)\]'’]")
HOST_RE = re.compile(r"(?<![@\w/.-])(?:[a-z0-9-]+\.)+[a-z]{2,}\b")  # vpn.x.example, ticket.tagged
EMAIL_RE = re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
QUOTE_RE = re.compile(r"\"[^\"\n]{1,200}\"|“[^”\n]{1,200}”")
CHANNEL_RE = re.compile(r"(?<![\w&])#[a-z0-9][a-z0-9_-]*")
NUMBER_RE = re.compile(r"[$€£¥]?\d+(?:[.,:/-]\d+)*%?")
MENTION_RE = re.compile(r"<[!@#][^>\s]*>|(?<![\w.])@(?:here|channel|everyone)\b", re.IGNORECASE)
WORD_RE = re.compile(r"(?<![\w'’&+-])\w[\w'’&+-]*")
NEGATION_RE = re.compile(r"\b(?:not|no|never|none|nobody|nothing|neither|nor|cannot|without)\b"
                         r"|n[’']t\b", re.IGNORECASE)
NEGATION_IDIOMS_RE = re.compile(r"\bno (?:problem|worries)\b", re.IGNORECASE)
# Words that bound a fact ("only managers", "at least 3 days", "unless ..."): dropping one widens
# the fact while keeping every name and number. Counted per segment; the rewrite may not have fewer.
QUALIFIERS = ("only", "at least", "at most", "up to", "less than", "fewer than", "within",
              "except", "unless", "until", "by default", "maximum", "minimum", "over", "under",
              "above", "below", "never", "always")
QUALIFIER_RE = re.compile(r"\b(?:" + "|".join(q.replace(" ", r"\s+") for q in QUALIFIERS) + r")\b",
                          re.IGNORECASE)
NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion once twice half double triple".split())
SENTENCE_START_RE = re.compile(r"(?:^|[.!?]\s+|\n\s*(?:[-*•]\s+)?)([A-Za-z][\w'’-]*)")
VOICE_STARTS = frozenset(
    "you your yours you'll you're you've you'd if as for when once before after every each any "
    "all it it's its they they're their there there's this that these those don't please to in "
    "on at by with while since so and but or also just".split())
_IRREGULAR = {"sent": "send", "made": "make", "taken": "take", "shown": "show", "given": "give",
              "held": "hold", "written": "write", "kept": "keep", "paid": "pay", "left": "leave",
              "spent": "spend", "told": "tell", "found": "find", "bought": "buy", "got": "get",
              "gotten": "get", "known": "know", "seen": "see", "done": "do", "gone": "go",
              "went": "go", "run": "run", "chosen": "choose", "brought": "bring", "built": "build",
              "met": "meet", "led": "lead", "hidden": "hide", "lost": "lose"}
_MAY_ADD = frozenset({"number one", "number once"})
_NOT_NAMES = frozenset({"I", "I'm", "I'll", "I've", "I'd", "OK"})


@dataclass(frozen=True, slots=True)
class GuardResult:
    ok: bool
    reason: str | None = None  # None when ok

    def __bool__(self) -> bool:
        return self.ok


@dataclass(slots=True)
class Facts:
    """The facts of one text (or one marker segment of it)."""

    literals: set[str]  # numbers, URLs, emails, code spans, quoted strings, #channels, number words
    names: set[str]
    negations: int
    qualifiers: Counter  # lower-cased qualifier -> count
    plain: str  # the text with markers removed, for name look-ups


def markers(text: str) -> list[str]:
    return [f"[{m}]" for m in MARKER_RE.findall(text)]


def mentions(text: str) -> set[str]:
    return {m.lower() for m in MENTION_RE.findall(text)}


def _names(text: str) -> set[str]:
    """Capitalised runs not at sentence start, and all-caps / inner-caps words anywhere."""
    found: set[str] = set()
    run: list[str] = []
    run_at_start = False
    sentence_start = True
    pos = 0

    def flush() -> None:
        nonlocal run
        words = run[1:] if run_at_start and not _distinctive(run[0]) else run
        # a run cut short by its sentence-start word may still hold distinctive words only
        if words:
            found.add(" ".join(words))
        run = []

    for m in WORD_RE.finditer(text):
        gap = text[pos:m.start()]
        pos = m.end()
        word = m.group().rstrip("'’-&+")
        if not word:
            continue
        boundary = _ends_sentence(gap)
        if run and (gap != " " or boundary):
            flush()
        if boundary:
            sentence_start = True
        if _capitalised(word) and word not in _NOT_NAMES:
            if not run:
                run_at_start = sentence_start
            run.append(word)
        elif run:
            flush()
        sentence_start = False
    if run:
        flush()
    return found


def _ends_sentence(gap: str) -> bool:
    return bool(re.search(r"[.!?]\s*$|\n|^\s*[-*•]\s|^\s*\d+[.)]\s", gap)) or gap.strip() in {
        "-", "*", "•"}


def _capitalised(word: str) -> bool:
    """The first letter is a capital: "Okta", "1Password", "2FA", "_DRAFT" (not "3rd", "v2")."""
    first = next((c for c in word if c.isalpha()), "")
    return first.isupper()


def _distinctive(word: str) -> bool:
    """All caps (IT, VPN, 2FA) or capitals inside (GitHub, iPhone): a name even at sentence start."""
    letters = [c for c in word if c.isalpha()]
    return (len(letters) >= 2 and all(c.isupper() for c in letters)) or any(
        c.isupper() for c in word[1:])


def facts(text: str) -> Facts:
    literals: set[str] = set()
    rest = text
    for pattern, kind in ((CODE_RE, "code"), (URL_RE, "url"), (EMAIL_RE, "email"),
                          (QUOTE_RE, "quote"), (HOST_RE, "host")):
        def take(m: re.Match, kind=kind) -> str:
            value = m.group()
            literals.add(f"{kind} {value}")
            return " " * len(m.group())  # keep offsets and sentence boundaries roughly intact
        rest = pattern.sub(take, rest)
    plain = MARKER_RE.sub(MARKER_BREAK, rest)
    literals.update(f"channel {c}" for c in CHANNEL_RE.findall(plain))
    literals.update(f"number {n}" for n in NUMBER_RE.findall(plain))
    literals.update(f"number {w.lower()}" for w in WORD_RE.findall(plain)
                    if w.lower() in NUMBER_WORDS)
    negations = len(NEGATION_RE.findall(NEGATION_IDIOMS_RE.sub(" ", plain)))
    qualifiers = Counter(" ".join(q.lower().split()) for q in QUALIFIER_RE.findall(plain))
    return Facts(literals, _names(plain), negations, qualifiers, plain)


def fact_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every piece of `text` that `check` compares: markers, code spans, URLs,
    emails, quoted strings, hosts, #channels, numbers, number words and names (each occurrence
    of a name `facts` finds). The tone model's decoding copies these from the draft token for
    token instead of merely favouring them (bot/tone/prompting.py, CopyPointer)."""
    spans = [m.span() for pattern in (MARKER_RE, CODE_RE, URL_RE, EMAIL_RE, QUOTE_RE, HOST_RE,
                                      CHANNEL_RE, NUMBER_RE) for m in pattern.finditer(text)]
    spans += [m.span() for m in WORD_RE.finditer(text) if m.group().lower() in NUMBER_WORDS]
    for name in _names(MARKER_RE.sub(lambda m: MARKER_BREAK.ljust(len(m.group())), text)):
        spans += [m.span() for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)]
    return sorted(spans)


def stem(word: str) -> str:
    """A crude stem, enough to see "Lock" in "locked" and "Write" in "written"."""
    word = word.lower().replace("’", "'").removesuffix("'s")
    word = _IRREGULAR.get(word, word)
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[:-len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2]:
        word = word[:-1]
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def _new_sentence_starts(draft: str, rewrite: str) -> list[str]:
    """Sentence-start words of the rewrite's body that the draft does not have in any form."""
    known = {stem(w) for w in WORD_RE.findall(draft)}
    body = rewrite[:list(MARKER_RE.finditer(rewrite))[-1].end()] if MARKER_RE.search(rewrite) \
        else rewrite
    plain = MARKER_RE.sub(MARKER_BREAK, body).strip()
    first = re.split(r"(?<=[.!?])\s+", plain, maxsplit=1)
    if len(first) == 2 and len(first[0].split()) <= 8 and not (
            facts(first[0]).literals or _names(first[0])):
        plain = first[1]  # the opener: words of the voice, no facts
    new = []
    for word in SENTENCE_START_RE.findall(plain):
        if word.lower().replace("’", "'") not in VOICE_STARTS and stem(word) not in known:
            new.append(word)
    return new


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


def segments(text: str) -> list[str]:
    """The text cut after each marker: segment i ends with marker i; the last is the tail."""
    out, start = [], 0
    for m in MARKER_RE.finditer(text):
        out.append(text[start:m.end()])
        start = m.end()
    out.append(text[start:])
    return out


def _diff(kind: str, lost: list[str], added: list[str]) -> str:
    parts = []
    if lost:
        parts.append("lost " + ", ".join(sorted(lost)))
    if added:
        parts.append("added " + ", ".join(sorted(added)))
    return f"{kind} changed: " + "; ".join(parts)


def _compare(draft: Facts, rewrite: Facts) -> str | None:
    lost = sorted(draft.literals - rewrite.literals)
    added = sorted(rewrite.literals - draft.literals - _MAY_ADD)
    lost += [f"name {n}" for n in sorted(draft.names) if not _has_phrase(rewrite.plain, n)]
    added += [f"name {n}" for n in sorted(rewrite.names) if not _has_phrase(draft.plain, n)]
    if lost or added:
        return _diff("facts", lost, added)
    if rewrite.negations < draft.negations:
        return f"negation lost: {draft.negations} -> {rewrite.negations}"
    lost_qualifiers = draft.qualifiers - rewrite.qualifiers
    if lost_qualifiers:
        return "qualifier lost: " + ", ".join(sorted(lost_qualifiers))
    return None


def check(draft: str, rewrite: str | None) -> GuardResult:
    """Accept `rewrite` in place of `draft` only if it keeps every fact and citation."""
    if rewrite is None or not rewrite.strip():
        return GuardResult(False, "empty output")
    limit = MAX_LENGTH_RATIO * len(draft) + LENGTH_SLACK_CHARS
    if len(rewrite) > limit:
        return GuardResult(False, f"too long: {len(rewrite)} chars > {int(limit)}")
    new_mentions = mentions(rewrite) - mentions(draft)
    if new_mentions:
        return GuardResult(False, "mention added: " + ", ".join(sorted(new_mentions)))
    before, after = markers(draft), markers(rewrite)
    if before != after:
        lost = list((Counter(before) - Counter(after)).elements())
        added = list((Counter(after) - Counter(before)).elements())
        if not lost and not added:
            return GuardResult(False, "markers reordered: " + " ".join(after))
        return GuardResult(False, _diff("markers", lost, added))
    # Whole-text comparison first: its reason is the clearest ("lost number 5,000").
    problem = _compare(facts(draft), facts(rewrite))
    if problem:
        return GuardResult(False, problem)
    # Then per marker segment: the same facts, but under the same citation.
    for i, (d, r) in enumerate(zip(segments(draft), segments(rewrite)), start=1):
        problem = _compare(facts(d), facts(r))
        if problem:
            where = f"before {after[i - 1]}" if i <= len(after) else "after the last marker"
            return GuardResult(False, f"{problem} ({where})")
    new_starts = _new_sentence_starts(draft, rewrite)
    if new_starts:
        return GuardResult(False, "new sentence start: " + ", ".join(new_starts))
    return GuardResult(True, None)
