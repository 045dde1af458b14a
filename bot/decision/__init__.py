"""The /ragvsft decision tree engine: pure data and functions, no Slack and no I/O beyond reading
the tree file (terminal.py and cli.py are the only parts that talk to a person).

    tree = load_tree()                          # at start-up; TreeError if the file is broken
    state = start(tree)
    shown = view(tree, state)                   # Step (a question) or Result (the end)
    state = step(tree, state, "knowledge")      # back(state), start_over(tree)
    value = encode_state(state, secret)         # into a button value; no server-side session
    state = decode_state(value, tree, secret)   # StaleOrTamperedState -> start over with a notice
"""

import importlib

# Where each public name lives. Imported on first use (PEP 562), so `ragbot --help`, which only
# needs the command's signature, does not load the tree loader, YAML and the engine.
_HOME = {
    "codec": ("Buttons", "button_values", "decode_state", "encode_state"),
    "engine": ("InvalidStep", "StaleOrTamperedState", "State", "Step", "all_paths", "back",
               "replay", "start", "start_over", "step", "view"),
    "loader": ("DEFAULT_TREE_PATH", "TreeError", "load_tree", "parse_tree"),
    "model": ("RECOMMENDATIONS", "Answer", "Node", "Outcome", "Question", "Route", "Symptom",
              "Tradeoff", "Tree"),
    "result": ("Result",),
}
# engine.result is not re-exported: `bot.decision.result` is the result module once anything
# imports it, so the name cannot also be the function.
_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Answer", "Buttons", "DEFAULT_TREE_PATH", "InvalidStep", "Node", "Outcome", "Question",
    "RECOMMENDATIONS", "Result", "Route", "StaleOrTamperedState", "State", "Step", "Symptom",
    "Tradeoff", "Tree", "TreeError", "all_paths", "back", "button_values", "decode_state",
    "encode_state", "load_tree", "parse_tree", "replay", "start", "start_over", "step",
    "view",
]
