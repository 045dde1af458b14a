"""`ragbot ragvsft [--symptom]`, ready to register on the main typer app:

    from bot.decision.cli import ragvsft_command
    app.command("ragvsft")(ragvsft_command)

Kept out of bot/cli.py so the decision feature owns its own options; the command only loads the
tree (exit 2 with the validation message when it is broken) and hands stdin/stdout to terminal.py.
Without --tree it uses the config's `ragvsft.tree` (the same tree the Slack bot serves) when run
under the main `ragbot` app, else config/ragvsft.yaml.

`terminal_walk(settings, symptom)` is the same walk for the interactive `ragbot chat` session
(its `/ragvsft` and `/ragvsft symptom` commands).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional, TextIO

import typer

# The tree loader and the terminal walk are imported by the commands that run them, so that
# registering the command (every `ragbot` start, `--help` included) costs only its signature.


def configured_tree(settings: Any) -> Path | None:
    """The config's `ragvsft.tree`, or None (the default tree)."""
    return getattr(getattr(settings, "ragvsft", None), "tree", None)


def ragvsft_command(
    ctx: typer.Context,
    symptom: Annotated[bool, typer.Option(
        "--symptom", help="Start from a symptom (hallucinations, format, cost, ...) instead of "
                          "the question walk.")] = False,
    tree: Annotated[Optional[Path], typer.Option(
        "--tree", help="Decision tree file (default: config/ragvsft.yaml).")] = None,
) -> None:
    """Walk through the RAG-vs-fine-tuning decision and get a recommendation with reasons."""
    from .loader import TreeError, load_tree
    from .terminal import run_symptoms, run_walk

    if tree is None and ctx.obj is not None:  # under `ragbot`: ctx.obj loads the config
        tree = configured_tree(getattr(ctx.obj, "settings", None))
    try:
        loaded = load_tree(tree)
    except TreeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if symptom:
        run_symptoms(loaded, sys.stdin, sys.stdout)
    else:
        run_walk(loaded, sys.stdin, sys.stdout)


def terminal_walk(settings: Any, symptom: bool = False, *, input_stream: TextIO | None = None,
                  output_stream: TextIO | None = None) -> None:
    """The walk (or the symptom picker) inside another terminal session, on stdin/stdout unless
    given streams. A broken tree is reported and the session goes on: one command failing must
    not end the chat it was typed in."""
    inp = input_stream if input_stream is not None else sys.stdin
    out = output_stream if output_stream is not None else sys.stdout
    from .loader import TreeError, load_tree
    from .terminal import run_symptoms, run_walk

    try:
        loaded = load_tree(configured_tree(settings))
    except TreeError as exc:
        out.write(f"{exc}\n")
        out.flush()
        return
    if symptom:
        run_symptoms(loaded, inp, out)
    else:
        run_walk(loaded, inp, out)
