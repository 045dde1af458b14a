"""The validated decision tree: immutable objects the engine walks.

Only `loader.parse_tree` builds these, after every check in its docstring has passed, so the engine
can follow references without re-checking them. Everything here is plain data: the Slack layer and
the terminal read the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The recommendation keys an outcome may have. Fixed here (not free-form in the YAML) so the Slack
# layer can rely on them for colours and emoji, and a typo in the tree fails validation.
RECOMMENDATIONS = ("rag", "fine_tune", "hybrid", "neither")


@dataclass(frozen=True, slots=True)
class Answer:
    id: str
    label: str
    reason: str  # what choosing this answer says about the result, shown under "Why"
    step: str | None = None  # a concrete next step this answer implies, listed first


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    why: str  # the one-line "why this matters"
    answers: tuple[Answer, ...]

    def answer(self, answer_id: str) -> Answer | None:
        return next((a for a in self.answers if a.id == answer_id), None)


@dataclass(frozen=True, slots=True)
class Route:
    """Where an answer leads: exactly one of `next` (a node id) and `outcome` (an outcome id)."""

    next: str | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    question: Question
    routes: dict[str, Route]  # answer id -> route, one per answer of `question`, in answer order


@dataclass(frozen=True, slots=True)
class Tradeoff:
    aspect: str
    text: str


@dataclass(frozen=True, slots=True)
class Outcome:
    id: str  # one of RECOMMENDATIONS
    title: str
    summary: str
    tradeoffs: tuple[Tradeoff, ...]
    next_steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Symptom:
    id: str
    label: str
    first_try: str
    if_fails: str
    why: str | None = None

    def to_text(self) -> str:
        lines = [self.label]
        if self.why:
            lines.append(f"  Why it happens: {self.why}")
        lines.append(f"  Try first: {self.first_try}")
        lines.append(f"  If that fails: {self.if_fails}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Tree:
    start: str
    nodes: dict[str, Node]
    outcomes: dict[str, Outcome]
    symptoms: tuple[Symptom, ...]
    version: str  # short content hash; part of every encoded state
    source: str = "<inline>"  # file the tree came from, for messages
    remaining: dict[str, int] = field(default_factory=dict)  # node id -> most questions left
    longest_path: int = 0  # most questions any walk asks

    def symptom(self, symptom_id: str) -> Symptom | None:
        return next((s for s in self.symptoms if s.id == symptom_id), None)
