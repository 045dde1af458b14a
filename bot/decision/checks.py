"""The ragvsft tree's checks after its shape is valid (loader.py parses the YAML and the shape):
ids and texts, references between questions, nodes and outcomes, and the graph (no cycle,
everything reachable, the longest walk fits in a Slack button value). Each returns the problems
it found as lines naming the node, question or answer at fault; `parse_tree` runs them in order.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from .codec import MAX_VALUE_CHARS, VERSION_CHARS, encoded_length
from .model import RECOMMENDATIONS

if TYPE_CHECKING:
    from .loader import _RawNode, _RawTree

ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_PATHS = 10_000  # a hand-written tree has dozens; more means a generator went wrong


def _dupes(ids: list[str]) -> list[str]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def check_ids_and_texts(raw: _RawTree) -> list[str]:
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


def check_references(raw: _RawTree, questions: dict, nodes: dict, outcomes: dict) -> list[str]:
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


def remaining_steps(nodes: dict[str, _RawNode]) -> dict[str, int]:
    """Node id -> the most questions a walk can still ask from that node, itself included."""
    memo: dict[str, int] = {}

    def depth(nid: str) -> int:
        if nid not in memo:
            memo[nid] = 1 + max((depth(nxt) for _, nxt in _edges(nodes[nid])), default=0)
        return memo[nid]

    for nid in nodes:
        depth(nid)
    return memo


def check_graph(raw: _RawTree, questions: dict, nodes: dict, outcomes: dict) -> list[str]:
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
