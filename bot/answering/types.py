"""The data an answer is made of; the same objects serve the terminal, `ragbot eval` and Slack."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


class QuestionError(ValueError):
    """The question cannot be answered as asked (empty, too long); the message says what to fix."""


@dataclass(slots=True)
class Passage:
    id: str
    source: str
    source_id: str
    title: str
    url: str
    headings: str
    text: str
    score: float = 0.0  # the fused rank score used for ordering
    dense: float = 0.0  # cosine similarity of question and passage (0 when dense missed it)
    lexical: float = 0.0  # BM25 score (0 when lexical missed it)
    chunk: int = 0
    updated_at: datetime | None = None

    @property
    def page_key(self) -> tuple[str, str]:
        return (self.source, self.source_id)


@dataclass(slots=True)
class Citation:
    n: int
    source: str
    source_id: str
    title: str
    url: str
    passage: str
    updated_at: datetime | None = None
    headings: str = ""


# Why an answer abstained (`Answer.reason`).
NO_INDEX = "empty_index"
NO_MATCH = "no_match"
PRIVATE_ONLY = "private_only"
NO_SOURCES = "no_sources"

# The sentence each reason shows, in the terminal and in Slack alike (`abstain_text`).
ABSTAIN_TEXT = {
    NO_INDEX: "Nothing is indexed yet, so I can't answer from the wiki. Run `ragbot sync` first.",
    NO_MATCH: "I couldn't find this in the wiki, so I won't guess.",
    PRIVATE_ONLY: "The only pages that match are in sources that can't be shown here.",
    NO_SOURCES: "No sources are enabled for this conversation.",
}


@dataclass(slots=True)
class Answer:
    question: str
    text: str
    draft: str = ""
    abstained: bool = False
    reason: str | None = None
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[Passage] = field(default_factory=list)
    nearest: list[Passage] = field(default_factory=list)
    toned: bool = False
    tone_reason: str | None = None
    latency_ms: float = 0.0
    tone_ms: float = 0.0  # of latency_ms, the tone stage's (waiting for the model included)
    index_updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The shape `ragbot ask --json` prints and `ragbot eval` writes (plus eval's own keys)."""

        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "question": self.question,
            "answer": self.text,
            "draft": self.draft,
            "abstained": self.abstained,
            "reason": self.reason,
            "toned": self.toned,
            "tone_reason": self.tone_reason,
            "citations": [{**asdict(c), "updated_at": when(c.updated_at)} for c in self.citations],
            "retrieved": [{"source": p.source, "source_id": p.source_id, "title": p.title,
                           "text": p.text, "score": round(p.score, 6), "dense": round(p.dense, 4)}
                          for p in self.retrieved],
            "nearest": [{"source_id": p.source_id, "title": p.title, "url": p.url}
                        for p in self.nearest],
            "latency_ms": round(self.latency_ms, 1),
            "tone_ms": round(self.tone_ms, 1),
            "index_updated_at": when(self.index_updated_at),
        }


def abstain_text(answer: Answer) -> str:
    """What an abstained answer shows instead of an answer (terminal and Slack alike): the
    reason, and for NO_MATCH what the nearest pages lack when the pipeline could say it."""
    if answer.reason == NO_MATCH and answer.text:
        return f"{ABSTAIN_TEXT[NO_MATCH]} {answer.text}"
    return ABSTAIN_TEXT.get(answer.reason or NO_MATCH, ABSTAIN_TEXT[NO_MATCH])
