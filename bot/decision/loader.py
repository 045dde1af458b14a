"""Load and validate config/ragvsft.yaml into a `Tree`.

The bot loads the tree once at start-up and refuses to start on a broken one, so every problem is
found here and reported in one `TreeError` whose lines each name the node, question or answer at
fault. Checks, in order (a later group runs only when the earlier ones passed, because a cycle
search over dangling references would only repeat them):

1. shape: YAML syntax, duplicate mapping keys (PyYAML silently keeps the last one), required
   fields, unknown keys, types (an unquoted `yes:` is a boolean in YAML 1.1: the message says so);
2. ids: allowed characters, duplicates (question, answer within a question, node, outcome,
   symptom), outcome ids limited to `RECOMMENDATIONS`; empty texts;
3. references: the start node, the question each node asks, a route for every answer and none for
   answers the question lacks, exactly one of `next`/`outcome` per route, targets that exist;
4. graph: no cycle, every node and outcome reachable from the start, every question asked, no
   question asked twice on one walk, and the longest walk still fits in a Slack button value.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot import shipped

from .codec import MAX_VALUE_CHARS, VERSION_CHARS, encoded_length
from .model import (RECOMMENDATIONS, Answer, Node, Outcome, Question, Route, Symptom, Tradeoff,
                    Tree)

DEFAULT_TREE_PATH = shipped("config/ragvsft.yaml")

ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_PATHS = 10_000  # a hand-written tree has dozens; more means a generator went wrong


class TreeError(ValueError):
    """The tree file cannot be used. `errors` holds one line per problem, each naming the
    node / question / answer at fault; str() is all of them under the file name."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = list(errors)
        super().__init__(f"{source}: invalid decision tree:\n" + "\n".join(f"  - {e}" for e in errors))


# ---- 1. shape ------------------------------------------------------------------------------


class _Raw(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _RawAnswer(_Raw):
    id: str
    label: str
    reason: str
    step: str | None = None


class _RawQuestion(_Raw):
    id: str
    text: str
    why: str
    answers: list[_RawAnswer] = Field(min_length=2)


class _RawRoute(_Raw):
    next: str | None = None
    outcome: str | None = None


class _RawNode(_Raw):
    id: str
    ask: str
    go: dict[str, _RawRoute]


class _RawTradeoff(_Raw):
    aspect: str
    text: str


class _RawOutcome(_Raw):
    id: str
    title: str
    summary: str
    tradeoffs: list[_RawTradeoff] = Field(min_length=1)
    next_steps: list[str] = Field(min_length=1)


class _RawSymptom(_Raw):
    id: str
    label: str
    first_try: str
    if_fails: str
    why: str | None = None


class _RawTree(_Raw):
    start: str
    questions: list[_RawQuestion] = Field(min_length=1)
    nodes: list[_RawNode] = Field(min_length=1)
    outcomes: list[_RawOutcome] = Field(min_length=1)
    symptoms: list[_RawSymptom] = []


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a mapping with the same key twice instead of keeping the last."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # SafeLoader reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_tree(path: str | Path | None = None) -> Tree:
    """Read and validate the tree file (default: config/ragvsft.yaml)."""
    path = Path(path) if path is not None else DEFAULT_TREE_PATH
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TreeError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TreeError(source, [f"not valid YAML: {exc}"]) from exc
    return parse_tree(data, source=source)


def parse_tree(data: Any, source: str = "<inline>") -> Tree:
    """Validate already-parsed data (a mapping shaped like config/ragvsft.yaml) into a `Tree`."""
    if not isinstance(data, Mapping):
        raise TreeError(source, ["the file must hold a mapping with start, questions, nodes, outcomes"])
    try:
        raw = _RawTree.model_validate(data)
    except ValidationError as exc:
        raise TreeError(source, [_describe(e, data) for e in exc.errors()]) from None

    errors = _check_ids_and_texts(raw)
    if errors:
        raise TreeError(source, errors)
    questions = {q.id: q for q in raw.questions}
    nodes = {n.id: n for n in raw.nodes}
    outcomes = {o.id: o for o in raw.outcomes}
    errors = _check_references(raw, questions, nodes, outcomes)
    if errors:
        raise TreeError(source, errors)
    errors = _check_graph(raw, questions, nodes, outcomes)
    if errors:
        raise TreeError(source, errors)

    version = hashlib.sha256(
        json.dumps(raw.model_dump(), sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()[:VERSION_CHARS]
    built_q = {q.id: Question(q.id, q.text.strip(), q.why.strip(),
                              tuple(Answer(a.id, a.label.strip(), a.reason.strip(),
                                           a.step.strip() if a.step else None) for a in q.answers))
               for q in raw.questions}
    built_nodes = {}
    for n in raw.nodes:
        q = built_q[n.ask]
        built_nodes[n.id] = Node(n.id, q, {a.id: Route(n.go[a.id].next, n.go[a.id].outcome)
                                           for a in q.answers})
    built_outcomes = {o.id: Outcome(o.id, o.title.strip(), o.summary.strip(),
                                    tuple(Tradeoff(t.aspect.strip(), t.text.strip()) for t in o.tradeoffs),
                                    tuple(s.strip() for s in o.next_steps))
                      for o in raw.outcomes}
    symptoms = tuple(Symptom(s.id, s.label.strip(), s.first_try.strip(), s.if_fails.strip(),
                             s.why.strip() if s.why else None) for s in raw.symptoms)
    remaining = _remaining(nodes)
    return Tree(start=raw.start, nodes=built_nodes, outcomes=built_outcomes, symptoms=symptoms,
                version=version, source=source, remaining=remaining,
                longest_path=remaining[raw.start])


def _describe(err: Mapping[str, Any], data: Any) -> str:
    """A pydantic error as `questions[updates].answers[0].label: Field required`, naming list
    items by their id where they have one, plus a hint for YAML 1.1 booleans."""
    parts: list[str] = []
    cur = data
    for loc in err["loc"]:
        if loc == "[key]":  # pydantic's marker for "the dict key itself is wrong"
            parts.append(" (key)")
        elif isinstance(cur, list) and isinstance(loc, int):
            item = cur[loc] if loc < len(cur) else None
            label = item.get("id") if isinstance(item, Mapping) else None
            parts.append(f"[{label}]" if isinstance(label, str) else f"[{loc}]")
            cur = item
        elif isinstance(cur, Mapping):
            key = next((k for k in cur if k == loc), loc)  # YAML `yes:` arrives as True, loc 1
            shown = str(key).lower() if isinstance(key, bool) else str(key)
            parts.append(f".{shown}" if parts else shown)
            cur = cur.get(key)
        else:
            parts.append(f".{loc}" if parts else str(loc))
            cur = None
    where = "".join(parts) or "(top level)"
    msg = err["msg"]
    if isinstance(err.get("input"), bool):
        msg += " (YAML reads unquoted yes/no/on/off as booleans: quote them)"
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{where}: {msg}"


# ---- 2. ids and texts -------------------------------------------------------------------------


def _dupes(ids: list[str]) -> list[str]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def _check_ids_and_texts(raw: _RawTree) -> list[str]:
    errors: list[str] = []

    def bad_id(kind: str, value: str) -> None:
        if not ID_RE.match(value):
            errors.append(f"{kind} id {value!r} must be 1-32 lowercase letters, digits or '_', "
                          "starting with a letter")

    def empty(where: str, field_name: str, value: str | None) -> None:
        if value is not None and not value.strip():
            errors.append(f"{where}: {field_name} is empty")

    for kind, items in (("question", raw.questions), ("node", raw.nodes),
                        ("outcome", raw.outcomes), ("symptom", raw.symptoms)):
        for dup in _dupes([i.id for i in items]):
            errors.append(f"duplicate {kind} id {dup!r}")
        for item in items:
            bad_id(kind, item.id)
    for q in raw.questions:
        where = f"question {q.id!r}"
        empty(where, "text", q.text)
        empty(where, "why", q.why)
        for dup in _dupes([a.id for a in q.answers]):
            errors.append(f"{where}: duplicate answer id {dup!r}")
        for a in q.answers:
            bad_id(f"{where}: answer", a.id)
            empty(f"{where}, answer {a.id!r}", "label", a.label)
            empty(f"{where}, answer {a.id!r}", "reason", a.reason)
            empty(f"{where}, answer {a.id!r}", "step", a.step)
    for o in raw.outcomes:
        where = f"outcome {o.id!r}"
        if o.id not in RECOMMENDATIONS:
            errors.append(f"{where}: unknown recommendation key (allowed: {', '.join(RECOMMENDATIONS)})")
        for name in ("title", "summary"):
            empty(where, name, getattr(o, name))
        for i, t in enumerate(o.tradeoffs):
            empty(f"{where}, tradeoff {i + 1}", "aspect", t.aspect)
            empty(f"{where}, tradeoff {i + 1}", "text", t.text)
        for i, s in enumerate(o.next_steps):
            empty(where, f"next step {i + 1}", s)
    for s in raw.symptoms:
        for name in ("label", "first_try", "if_fails", "why"):
            empty(f"symptom {s.id!r}", name, getattr(s, name))
    return errors


# ---- 3. references ----------------------------------------------------------------------------


def _check_references(raw: _RawTree, questions: dict, nodes: dict, outcomes: dict) -> list[str]:
    errors: list[str] = []
    if raw.start not in nodes:
        errors.append(f"start node {raw.start!r} does not exist")
    for n in raw.nodes:
        q = questions.get(n.ask)
        if q is None:
            errors.append(f"node {n.id!r} asks question {n.ask!r}, which does not exist")
            continue
        offered = [a.id for a in q.answers]
        for answer_id in n.go:
            if answer_id not in offered:
                errors.append(f"node {n.id!r}, answer {answer_id!r}: question {q.id!r} has no such "
                              f"answer (answers: {', '.join(offered)})")
        for answer_id in offered:
            route = n.go.get(answer_id)
            where = f"node {n.id!r}, answer {answer_id!r}"
            if route is None:
                errors.append(f"{where}: no route (give next or outcome)")
            elif route.next is not None and route.outcome is not None:
                errors.append(f"{where}: has both next and outcome; give exactly one")
            elif route.next is None and route.outcome is None:
                errors.append(f"{where}: has neither next nor outcome; give exactly one")
            elif route.next is not None and route.next not in nodes:
                errors.append(f"{where}: next node {route.next!r} does not exist")
            elif route.outcome is not None and route.outcome not in outcomes:
                errors.append(f"{where}: outcome {route.outcome!r} is not defined "
                              f"(defined: {', '.join(outcomes)})")
    return errors


# ---- 4. graph ---------------------------------------------------------------------------------


def _edges(node: _RawNode) -> list[tuple[str, str]]:
    return [(answer_id, r.next) for answer_id, r in node.go.items() if r.next is not None]


def _find_cycle(nodes: dict[str, _RawNode]) -> list[str] | None:
    """First cycle found, as `a --answer--> b --answer--> a` parts, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(nodes, WHITE)
    trail: list[tuple[str, str]] = []  # (node, answer taken out of it)

    def visit(nid: str) -> list[str] | None:
        colour[nid] = GREY
        for answer_id, nxt in _edges(nodes[nid]):
            trail.append((nid, answer_id))
            if colour[nxt] == GREY:
                start = next(i for i, (n, _) in enumerate(trail) if n == nxt)
                return [f"{n} --{a}-->" for n, a in trail[start:]] + [nxt]
            if colour[nxt] == WHITE and (found := visit(nxt)):
                return found
            trail.pop()
        colour[nid] = BLACK
        return None

    for nid in nodes:
        if colour[nid] == WHITE and (found := visit(nid)):
            return found
    return None


def _remaining(nodes: dict[str, _RawNode]) -> dict[str, int]:
    """Node id -> the most questions a walk can still ask from that node, itself included."""
    memo: dict[str, int] = {}

    def depth(nid: str) -> int:
        if nid not in memo:
            memo[nid] = 1 + max((depth(nxt) for _, nxt in _edges(nodes[nid])), default=0)
        return memo[nid]

    for nid in nodes:
        depth(nid)
    return memo


def _check_graph(raw: _RawTree, questions: dict, nodes: dict, outcomes: dict) -> list[str]:
    cycle = _find_cycle(nodes)
    if cycle:
        return ["cycle: " + " ".join(cycle)]
    errors: list[str] = []
    reached_nodes: set[str] = set()
    reached_outcomes: set[str] = set()
    stack = [raw.start]
    while stack:
        nid = stack.pop()
        if nid in reached_nodes:
            continue
        reached_nodes.add(nid)
        for route in nodes[nid].go.values():
            if route.next is not None:
                stack.append(route.next)
            else:
                reached_outcomes.add(route.outcome)
    for n in raw.nodes:
        if n.id not in reached_nodes:
            errors.append(f"node {n.id!r} is unreachable from start node {raw.start!r}")
    for o in raw.outcomes:
        if o.id not in reached_outcomes:
            errors.append(f"outcome {o.id!r} is defined but no reachable answer leads to it")
    asked = {n.ask for n in raw.nodes}  # asked only by unreachable nodes: reported above
    for q in raw.questions:
        if q.id not in asked:
            errors.append(f"question {q.id!r} is not asked by any node")
    if errors:
        return errors

    # Whole walks: a question asked twice could get two contradicting answers, and the longest
    # walk has to fit in a Slack button value (the Slack layer keeps no session).
    count = 0
    longest_value = 0
    repeat_errors: set[str] = set()

    def walk(nid: str, asked_at: dict[str, str], path: list[str]) -> None:
        nonlocal count, longest_value
        node = nodes[nid]
        if node.ask in asked_at:
            repeat_errors.add(f"question {node.ask!r} is asked twice on one walk: by node "
                              f"{asked_at[node.ask]!r} and again by node {nid!r}")
            return
        asked_at = {**asked_at, node.ask: nid}
        for answer_id, route in node.go.items():
            if count > MAX_PATHS:
                return
            if route.next is not None:
                walk(route.next, asked_at, path + [answer_id])
            else:
                count += 1
                longest_value = max(longest_value, encoded_length(VERSION_CHARS, path + [answer_id]))

    walk(raw.start, {}, [])
    errors.extend(sorted(repeat_errors))
    if count > MAX_PATHS:
        errors.append(f"the tree has more than {MAX_PATHS} walks; split it")
    elif longest_value > MAX_VALUE_CHARS:
        errors.append(f"the longest walk encodes to {longest_value} characters, more than a Slack "
                      f"button value holds ({MAX_VALUE_CHARS}); shorten answer ids or the tree")
    return errors
