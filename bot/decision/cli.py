"""`ragbot ragvsft [--symptom]`, ready to register on the main typer app:

    from bot.decision.cli import ragvsft_command
    app.command("ragvsft")(ragvsft_command)

Kept out of bot/cli.py so the decision feature owns its own options; the command only loads the
tree (exit 2 with the validation message when it is broken) and hands stdin/stdout to terminal.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .loader import TreeError, load_tree
from .terminal import run_symptoms, run_walk


def ragvsft_command(
    symptom: Annotated[bool, typer.Option(
        "--symptom", help="Start from a symptom (hallucinations, format, cost, ...) instead of "
                          "the question walk.")] = False,
    tree: Annotated[Optional[Path], typer.Option(
        "--tree", help="Decision tree file (default: config/ragvsft.yaml).")] = None,
) -> None:
    """Walk through the RAG-vs-fine-tuning decision and get a recommendation with reasons."""
    try:
        loaded = load_tree(tree)
    except TreeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if symptom:
        run_symptoms(loaded, sys.stdin, sys.stdout)
    else:
        run_walk(loaded, sys.stdin, sys.stdout)
