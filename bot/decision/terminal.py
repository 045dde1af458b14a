"""The walk and the symptom picker in a terminal, over any pair of text streams.

Streams rather than `input()`/`print()` so tests drive them with io.StringIO and `ragbot ragvsft`
passes sys.stdin/sys.stdout. Keys: a number picks a choice, `b` goes back, `r` starts over, `q`
quits. Anything else re-asks with a hint. End of input ends the walk quietly (exit status 0), so
`echo 1 2 | ragbot ragvsft` and Ctrl-D both behave.
"""

from __future__ import annotations

import textwrap
from typing import TextIO

from .engine import Step, back, start, step, view
from .model import Symptom, Tree
from .result import Result

WIDTH = 88
BACK, RESTART, QUIT = ("b", "back"), ("r", "restart", "start over"), ("q", "quit", "exit")


def _say(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")
    out.flush()


def _ask(inp: TextIO, out: TextIO) -> str | None:
    """One line of input, lower-cased and stripped; None at end of input."""
    out.write("> ")
    out.flush()
    line = inp.readline()
    if line == "":
        _say(out)
        return None
    return line.strip().lower()


def _number(reply: str, count: int) -> int | None:
    return int(reply) - 1 if reply.isdigit() and 1 <= int(reply) <= count else None


def _show_step(out: TextIO, shown: Step) -> None:
    _say(out)
    _say(out, textwrap.fill(f"Question {shown.number} of up to {shown.max_total}: {shown.text}",
                            width=WIDTH, subsequent_indent="  "))
    _say(out, textwrap.fill(f"Why it matters: {shown.why}", width=WIDTH, subsequent_indent="  "))
    for i, choice in enumerate(shown.choices, 1):
        _say(out, f"  {i}. {choice.label}")
    _say(out, "  b = back, r = start over, q = quit")


def run_walk(tree: Tree, input_stream: TextIO, output_stream: TextIO) -> Result | None:
    """Ask the tree's questions until a recommendation, then offer back / start over / quit.

    Returns the last result shown, or None when the person quit (or input ended) before one."""
    out = output_stream
    state = start(tree)
    last: Result | None = None
    _say(out, "RAG or fine-tuning? Answer a few questions and get a recommendation with reasons.")
    while True:
        shown = view(tree, state)
        if isinstance(shown, Result):
            last = shown
            _say(out)
            _say(out, shown.to_text(width=WIDTH))
            _say(out)
            _say(out, "b = back (change the last answer), r = start over, q or Enter = quit")
            while True:
                reply = _ask(input_stream, out)
                if reply is None or reply in QUIT or reply == "":
                    return last
                if reply in BACK:
                    state = back(state)
                elif reply in RESTART:
                    state = start(tree)
                else:
                    _say(out, f"{reply!r} is not a choice here: type b, r or q.")
                    continue
                break
            continue

        _show_step(out, shown)
        while True:
            reply = _ask(input_stream, out)
            if reply is None or reply in QUIT:
                return last
            if reply in BACK:
                if not shown.can_go_back:
                    _say(out, "This is the first question; there is nothing to go back to.")
                    continue
                state = back(state)
            elif reply in RESTART:
                state = start(tree)
            elif (i := _number(reply, len(shown.choices))) is not None:
                state = step(tree, state, shown.choices[i].id)
            else:
                _say(out, f"{reply!r} is not a choice: type a number from 1 to {len(shown.choices)}, "
                          "b to go back, r to start over or q to quit.")
                continue
            break


def run_symptoms(tree: Tree, input_stream: TextIO, output_stream: TextIO) -> Symptom | None:
    """List the symptoms; each pick shows what to try first and what to try if that fails.
    Repeats until `q` or end of input; returns the last symptom shown."""
    out = output_stream
    last: Symptom | None = None
    symptoms = tree.symptoms
    if not symptoms:
        _say(out, "This decision tree has no symptoms configured.")
        return None

    def menu() -> None:
        _say(out)
        _say(out, "Which symptom are you seeing?")
        for i, s in enumerate(symptoms, 1):
            _say(out, f"  {i}. {s.label}")
        _say(out, "  q = quit")

    menu()
    while True:
        reply = _ask(input_stream, out)
        if reply is None or reply in QUIT:
            return last
        i = _number(reply, len(symptoms))
        if i is None:
            _say(out, f"{reply!r} is not a choice: type a number from 1 to {len(symptoms)} or q to quit.")
            continue
        last = symptoms[i]
        _say(out)
        for line in last.to_text().splitlines():
            _say(out, textwrap.fill(line, width=WIDTH, subsequent_indent="      ")
                 if line.startswith("  ") else line)
        menu()
