"""Shared fixtures: the real tree, and a minimal valid tree that tests break one way at a time."""

from __future__ import annotations

import copy

import pytest

from bot.decision import Tree, load_tree


@pytest.fixture(scope="session")
def tree() -> Tree:
    return load_tree()


def outcome(key: str) -> dict:
    return {"id": key, "title": f"{key} title", "summary": f"{key} summary",
            "tradeoffs": [{"aspect": "Cost", "text": "some cost"}], "next_steps": ["do it"]}


def yes_no(qid: str, text: str = "Is it so?") -> dict:
    return {"id": qid, "text": text, "why": "It matters.",
            "answers": [{"id": "yes", "label": "Yes", "reason": f"{qid} yes"},
                        {"id": "no", "label": "No", "reason": f"{qid} no"}]}


MINI = {
    "start": "a",
    "questions": [yes_no("q1", "First?"), yes_no("q2", "Second?")],
    "nodes": [
        {"id": "a", "ask": "q1", "go": {"yes": {"next": "b"}, "no": {"outcome": "rag"}}},
        {"id": "b", "ask": "q2", "go": {"yes": {"outcome": "rag"}, "no": {"outcome": "neither"}}},
    ],
    "outcomes": [outcome("rag"), outcome("neither")],
    "symptoms": [{"id": "s1", "label": "It is slow", "first_try": "cache", "if_fails": "buy"}],
}


@pytest.fixture
def mini() -> dict:
    """A fresh deep copy of a minimal valid tree (two yes/no questions, two outcomes)."""
    return copy.deepcopy(MINI)
