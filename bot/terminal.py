"""The terminal face of the pipeline: how an answer prints, and the interactive session."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

from bot.answering.pipeline import Pipeline
from bot.answering.types import (NO_INDEX, NO_MATCH, NO_SOURCES, PRIVATE_ONLY, Answer,
                                 QuestionError)
from bot.timefmt import ago

ABSTAIN_TEXT = {
    NO_INDEX: "Nothing is indexed yet, so I can't answer from the wiki. Run `ragbot sync` first.",
    NO_MATCH: "I couldn't find this in the wiki, so I won't guess.",
    PRIVATE_ONLY: "The only pages that match are in sources that can't be shown here.",
    NO_SOURCES: "No sources are enabled for this conversation.",
}


def abstain_text(answer: Answer) -> str:
    if answer.reason == NO_MATCH and answer.text:  # and what the nearest pages lack
        return f"{ABSTAIN_TEXT[NO_MATCH]} {answer.text}"
    return ABSTAIN_TEXT.get(answer.reason or NO_MATCH, ABSTAIN_TEXT[NO_MATCH])


def print_answer(console: Console, answer: Answer) -> None:
    if answer.abstained:
        console.print(f"[yellow]{escape(abstain_text(answer))}[/yellow]")
        if answer.nearest:
            console.print("Closest pages I found:")
            for p in answer.nearest:
                console.print(f"  - {escape(p.title)}" + (f"  {escape(p.url)}" if p.url else ""))
        return
    console.print(escape(answer.text), highlight=False)
    console.print("\n[bold]Sources[/bold]")
    for c in answer.citations:
        where = escape(c.url or f"{c.source}:{c.source_id}")
        section = f" › {escape(c.headings)}" if c.headings else ""
        console.print(f"  [{c.n}] {escape(c.title)}{section} — {where} (updated {ago(c.updated_at)})",
                      highlight=False)
    if answer.index_updated_at:
        console.print(f"[dim]Index synced {ago(answer.index_updated_at)}.[/dim]")


def chat(console: Console, pipeline: Pipeline, read: Callable[[str], str] = input,
         extra_commands: dict[str, Callable[[], None]] | None = None) -> None:
    """Ask questions until EOF, `/quit` or Ctrl-C; one bad question never ends the session."""
    commands = dict(extra_commands or {})
    help_line = "Type a question. Commands: " + ", ".join(["/help", *sorted(commands), "/quit"])
    console.print(f"[bold]ragbot[/bold]: ask the wiki. {help_line}")
    history: list[str] = []
    while True:
        try:
            line = read("\n? ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not line:
            continue
        if line in {"/quit", "/exit", "quit", "exit"}:
            return
        if line == "/help":
            console.print(help_line)
            continue
        if line in commands:
            commands[line]()
            continue
        try:
            answer = pipeline.answer(line, history=history[-1:])
        except QuestionError as exc:
            console.print(f"[red]{escape(str(exc))}[/red]")
            continue
        print_answer(console, answer)
        history.append(line)
