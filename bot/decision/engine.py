"""Walking the tree: pure functions of (tree, state), no I/O and no session.

A `State` is only the answers taken so far plus the tree version they were taken in. Everything
shown (the current question, the recap, the result) is recomputed from it, which is what lets the
Slack layer carry the whole walk inside a button value (see codec.py) and keep nothing on the
server. Back drops the last answer; start over is the empty path; both are always available.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Answer, Node, Outcome, Tree
from .result import Result


class InvalidStep(ValueError):
    """An answer that the current question does not offer, or a step after the walk ended."""


class StaleOrTamperedState(ValueError):
    """A state that cannot be resumed: bad integrity tag, unknown ids, a path the current tree
    does not have, or a tree version that changed since the state was made. The caller should
    start over with a notice; `reason` is one of REASONS for logs and tests."""

    REASONS = ("malformed", "bad_tag", "stale_version", "invalid_path")

    def __init__(self, reason: str, detail: str):
        assert reason in self.REASONS, reason
        self.reason = reason
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class State:
    path: tuple[str, ...]  # answer ids, in the order taken
    version: str  # Tree.version the path was taken in


@dataclass(frozen=True, slots=True)
class Step:
    """The question to show now."""

    node_id: str
    question_id: str
    text: str
    why: str
    choices: tuple[Answer, ...]  # show `label`, send `id`
    number: int  # 1-based position of this question in the walk
    max_total: int  # the most questions this walk can still end up with ("3 of up to 6")
    can_go_back: bool
    answered: tuple[tuple[str, str], ...]  # (question text, chosen label) so far


@dataclass(frozen=True, slots=True)
class Walk:
    """A path replayed against the tree: what was taken, and where it stands."""

    taken: tuple[tuple[Node, Answer], ...]
    node: Node | None  # the question to answer next, or None when finished
    outcome: Outcome | None  # set when finished


def start(tree: Tree) -> State:
    return State((), tree.version)


start_over = start


def back(state: State) -> State:
    """One answer back; at the first question this is a no-op rather than an error, since
    "Back" is always shown."""
    return State(state.path[:-1], state.version)


def replay(tree: Tree, path: tuple[str, ...] | list[str]) -> Walk:
    """Follow `path` from the start node; InvalidStep (naming the node) if it leaves the tree."""
    node: Node | None = tree.nodes[tree.start]
    taken: list[tuple[Node, Answer]] = []
    for i, answer_id in enumerate(path):
        if node is None:
            raise InvalidStep(f"the walk already ended; {len(path) - i} answer(s) too many")
        answer = node.question.answer(answer_id)
        if answer is None:
            raise InvalidStep(f"node {node.id!r} has no answer {answer_id!r} "
                              f"(answers: {', '.join(a.id for a in node.question.answers)})")
        taken.append((node, answer))
        route = node.routes[answer_id]
        node = tree.nodes[route.next] if route.next is not None else None
        outcome = tree.outcomes[route.outcome] if route.outcome is not None else None
    if node is not None:
        return Walk(tuple(taken), node, None)
    return Walk(tuple(taken), None, outcome)


def _check_version(tree: Tree, state: State) -> None:
    if state.version != tree.version:
        raise StaleOrTamperedState(
            "stale_version", f"state was made for tree version {state.version!r}, "
                             f"the tree is now {tree.version!r}")


def step(tree: Tree, state: State, answer_id: str) -> State:
    """The state after answering the current question with `answer_id`."""
    _check_version(tree, state)
    walk = replay(tree, state.path)
    if walk.node is None:
        raise InvalidStep("the walk has ended; go back or start over")
    if walk.node.question.answer(answer_id) is None:
        raise InvalidStep(f"node {walk.node.id!r} has no answer {answer_id!r} "
                          f"(answers: {', '.join(a.id for a in walk.node.question.answers)})")
    return State(state.path + (answer_id,), state.version)


def _answered(walk: Walk) -> tuple[tuple[str, str], ...]:
    return tuple((node.question.text, answer.label) for node, answer in walk.taken)


def _remaining(tree: Tree, node: Node) -> int:
    """Most questions from `node` (inclusive) to an outcome; precomputed by the loader."""
    if node.id in tree.remaining:
        return tree.remaining[node.id]
    return 1 + max((_remaining(tree, tree.nodes[r.next]) for r in node.routes.values()
                    if r.next is not None), default=0)


def view(tree: Tree, state: State) -> Step | Result:
    """What to show for `state`: the next question, or the result when the walk has ended."""
    _check_version(tree, state)
    walk = replay(tree, state.path)
    if walk.node is None:
        return _result(walk)
    node = walk.node
    n = len(walk.taken)
    return Step(node_id=node.id, question_id=node.question.id, text=node.question.text,
                why=node.question.why, choices=node.question.answers, number=n + 1,
                max_total=n + _remaining(tree, node), can_go_back=n > 0, answered=_answered(walk))


def result(tree: Tree, state: State) -> Result | None:
    """The result of a finished walk, or None while questions remain."""
    shown = view(tree, state)
    return shown if isinstance(shown, Result) else None


def _result(walk: Walk) -> Result:
    outcome = walk.outcome
    assert outcome is not None
    answer_steps = [answer.step for _, answer in walk.taken if answer.step]
    return Result(key=outcome.id, title=outcome.title, summary=outcome.summary,
                  reasons=tuple(answer.reason for _, answer in walk.taken),
                  tradeoffs=outcome.tradeoffs,
                  next_steps=tuple(answer_steps) + outcome.next_steps,
                  answers=_answered(walk))


def all_paths(tree: Tree) -> list[tuple[tuple[str, ...], str]]:
    """Every complete walk as (answer ids, outcome key), depth first in answer order."""
    found: list[tuple[tuple[str, ...], str]] = []

    def go(node: Node, path: tuple[str, ...]) -> None:
        for answer in node.question.answers:
            route = node.routes[answer.id]
            if route.next is not None:
                go(tree.nodes[route.next], path + (answer.id,))
            else:
                found.append((path + (answer.id,), route.outcome))  # type: ignore[arg-type]

    go(tree.nodes[tree.start], ())
    return found
