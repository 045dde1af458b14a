"""The /ragvsft decision tree engine: pure data and functions, no Slack and no I/O beyond reading
the tree file (terminal.py and cli.py are the only parts that talk to a person).

    tree = load_tree()                          # at start-up; TreeError if the file is broken
    state = start(tree)
    shown = view(tree, state)                   # Step (a question) or Result (the end)
    state = step(tree, state, "knowledge")      # back(state), start_over(tree)
    value = encode_state(state, secret)         # into a button value; no server-side session
    state = decode_state(value, tree, secret)   # StaleOrTamperedState -> start over with a notice
"""

from .codec import Buttons, button_values, decode_state, encode_state
from .engine import (InvalidStep, StaleOrTamperedState, State, Step, all_paths, back, replay,
                     result, start, start_over, step, view)
from .loader import DEFAULT_TREE_PATH, TreeError, load_tree, parse_tree
from .model import (RECOMMENDATIONS, Answer, Node, Outcome, Question, Route, Symptom, Tradeoff,
                    Tree)
from .result import Result

__all__ = [
    "Answer", "Buttons", "DEFAULT_TREE_PATH", "InvalidStep", "Node", "Outcome", "Question",
    "RECOMMENDATIONS", "Result", "Route", "StaleOrTamperedState", "State", "Step", "Symptom",
    "Tradeoff", "Tree", "TreeError", "all_paths", "back", "button_values", "decode_state",
    "encode_state", "load_tree", "parse_tree", "replay", "result", "start", "start_over", "step",
    "view",
]
