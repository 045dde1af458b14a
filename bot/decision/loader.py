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

Group 1 is here; groups 2-4 are in checks.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot import shipped

from .checks import check_graph, check_ids_and_texts, check_references, remaining_steps
from .codec import VERSION_CHARS
from .model import Answer, Node, Outcome, Question, Route, Symptom, Tradeoff, Tree

DEFAULT_TREE_PATH = shipped("config/ragvsft.yaml")



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

    errors = check_ids_and_texts(raw)
    if errors:
        raise TreeError(source, errors)
    questions = {q.id: q for q in raw.questions}
    nodes = {n.id: n for n in raw.nodes}
    outcomes = {o.id: o for o in raw.outcomes}
    errors = check_references(raw, questions, nodes, outcomes)
    if errors:
        raise TreeError(source, errors)
    errors = check_graph(raw, questions, nodes, outcomes)
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
    remaining = remaining_steps(nodes)
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
