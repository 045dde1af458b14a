"""What a finished walk shows: pure data, rendered as text here and as Block Kit in bot/slack."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from .model import Tradeoff


@dataclass(frozen=True, slots=True)
class Result:
    """The recommendation for one walk.

    `reasons` come from the answers the person gave, in the order given, so two walks that end in
    the same outcome explain it differently. `next_steps` lists the steps implied by particular
    answers first (e.g. "give the model a tool"), then the outcome's general ones.
    """

    key: str  # one of model.RECOMMENDATIONS
    title: str
    summary: str
    reasons: tuple[str, ...]
    tradeoffs: tuple[Tradeoff, ...]
    next_steps: tuple[str, ...]
    answers: tuple[tuple[str, str], ...] = ()  # (question text, chosen label), for a recap

    def to_text(self, width: int = 88) -> str:
        def block(text: str, first: str, rest: str) -> list[str]:
            return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=rest) or [first]

        out = [f"Recommendation: {self.title}", ""]
        out += block(self.summary, "", "")
        if self.answers:
            out += ["", "Your answers:"]
            for question, label in self.answers:
                out += block(f"{question} {label}", "  - ", "    ")
        out += ["", "Why, from your answers:"]
        for reason in self.reasons:
            out += block(reason, "  - ", "    ")
        out += ["", "Trade-offs that matter here:"]
        for t in self.tradeoffs:
            out += block(f"{t.aspect}: {t.text}", "  - ", "    ")
        out += ["", "Next steps:"]
        for i, s in enumerate(self.next_steps, 1):
            out += block(s, f"  {i}. ", "     ")
        return "\n".join(out)
