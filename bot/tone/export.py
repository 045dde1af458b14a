"""`ragbot tone export`: the tone pairs as training data for a hosted fine-tune.

`--format openai` writes OpenAI's chat fine-tuning JSONL, one `{"messages": [system, user,
assistant]}` per pair of `prompts/tone/train.jsonl`: the system message is the openai stage's own
`system_prompt()`, the user message the neutral draft, the assistant message the on-brand reply.
Upload it (`openai files create --purpose fine-tune`), fine-tune, and put the resulting model id
in `tone.model` with `tone.backend: openai`. vLLM users train a LoRA on the same file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import typer

from bot import shipped
from bot.tone.openai_stage import STYLE_FILE, system_prompt

TRAIN_FILE = shipped("prompts/tone/train.jsonl")


class ExportFormat(str, Enum):
    openai = "openai"


class PairsError(ValueError):
    """The pairs file cannot be exported; the message names the line and what is wrong."""


def read_pairs(path: Path) -> Iterator[tuple[str, str]]:
    """(neutral, on_brand) of every non-blank line of a pairs JSONL file."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                neutral, on_brand = row["neutral"], row["on_brand"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise PairsError(f"{path}:{number}: expected a JSON object with \"neutral\" and "
                                 f"\"on_brand\" ({exc.__class__.__name__}: {exc})") from None
            if not (isinstance(neutral, str) and isinstance(on_brand, str)
                    and neutral.strip() and on_brand.strip()):
                raise PairsError(f"{path}:{number}: \"neutral\" and \"on_brand\" must be "
                                 "non-empty strings")
            yield neutral, on_brand


def openai_examples(pairs: Path = TRAIN_FILE, style_file: Path = STYLE_FILE) -> Iterator[dict]:
    system = system_prompt(style_file)
    for neutral, on_brand in read_pairs(pairs):
        yield {"messages": [{"role": "system", "content": system},
                            {"role": "user", "content": neutral},
                            {"role": "assistant", "content": on_brand}]}


def export_openai(out: Path, pairs: Path = TRAIN_FILE, style_file: Path = STYLE_FILE) -> int:
    """Write the fine-tuning file; returns the number of examples. Nothing is written on error."""
    rows = [json.dumps(example, ensure_ascii=False) for example in openai_examples(pairs, style_file)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")
    return len(rows)


def export_command(
    format: ExportFormat = typer.Option(ExportFormat.openai, "--format", "-f",
                                        help="openai: chat fine-tuning JSONL"),
    out: Path = typer.Option(..., "--out", "-o", help="file to write"),
    pairs: Path = typer.Option(TRAIN_FILE, "--pairs", help="neutral/on_brand pairs JSONL"),
) -> None:
    """Write the tone training pairs as a hosted fine-tuning file."""
    try:
        count = export_openai(out, pairs)
    except (PairsError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {count} {format.value} fine-tuning examples to {out}")
