"""The `ragbot` command: a thin typer shell over the same pieces the Slack bot uses."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.config import ConfigError, Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ragbot: cited answers from your team's wiki, in Slack and the terminal.")
console = Console()
err = Console(stderr=True)


class Ctx:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config)
            except ConfigError as exc:
                err.print(f"[red]Config error:[/red] {exc}", highlight=False)
                raise typer.Exit(2) from None
        return self._settings


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj.settings


@app.callback()
def _main(ctx: typer.Context,
          config: Optional[Path] = typer.Option(None, "--config", "-c", help="config file "
                                                "(default: $RAGBOT_CONFIG or config/ragbot.yaml)")):
    ctx.obj = Ctx(config)


def run_syncs(settings: Settings, names: list[str], full: bool, show_progress: bool = True):
    from bot.knowledge.sync import SyncInProgressError, sync_source

    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not show_progress) as progress:
        for name in names:
            task = progress.add_task(f"{name}: embedding", total=None)
            try:
                results.append(sync_source(
                    settings, name, full=full,
                    progress=lambda done, total, t=task: progress.update(t, completed=done,
                                                                         total=total)))
            except SyncInProgressError as exc:
                from bot.knowledge.sync import SyncResult

                results.append(SyncResult(source=name, error=str(exc)))
            progress.remove_task(task)
    return results


def print_sync_table(results) -> None:
    table = Table(title="Sync")
    for col in ("source", "added", "updated", "skipped", "deleted", "chunks embedded", "time",
                "status"):
        table.add_column(col, justify="right" if col not in {"source", "status"} else "left")
    for r in results:
        status = "[green]ok[/green]" if r.ok else f"[red]failed: {r.error}[/red]"
        table.add_row(r.source, str(r.added), str(r.updated), str(r.skipped), str(r.deleted),
                      str(r.chunks_embedded), f"{r.duration_s:.1f}s", status)
    console.print(table)
    for r in results:
        for item in r.skipped_items:
            console.print(f"[yellow]skipped[/yellow] {r.source}:{item.source_id}: {item.reason}",
                          highlight=False)


@app.command()
def sync(ctx: typer.Context,
         source: Optional[str] = typer.Option(None, "--source", "-s", help="only this source"),
         full: bool = typer.Option(False, "--full", help="re-read every page and remove anything "
                                   "the source no longer has")):
    """Bring the index up to date with the sources (incremental unless --full)."""
    settings = settings_of(ctx)
    if source:
        try:
            settings.source(source)
        except ConfigError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        names = [source]
    else:
        names = [s.name for s in settings.sources if s.enabled]
    if not names:
        err.print("[red]No sources are configured.[/red] Add one under `sources:` in the config.")
        raise typer.Exit(2)
    results = run_syncs(settings, names, full)
    print_sync_table(results)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _pipeline(settings: Settings):
    from bot.answering.pipeline import Pipeline

    return Pipeline(settings)


@app.command()
def ask(ctx: typer.Context, question: str = typer.Argument(..., help="the question"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output")):
    """Answer one question from the index, with citations."""
    from bot.answering.types import QuestionError
    from bot.terminal import print_answer

    settings = settings_of(ctx)
    try:
        answer = _pipeline(settings).answer(question)
    except QuestionError as exc:
        if as_json:
            print(json.dumps({"error": str(exc)}))
        else:
            err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(answer.to_json(), indent=2))
    else:
        print_answer(console, answer)


@app.command("eval")
def eval_command(ctx: typer.Context,
                 questions: Path = typer.Argument(..., help="JSONL question set"),
                 out: Path = typer.Option(..., "--out", "-o", help="where to write results JSONL"),
                 limit: Optional[int] = typer.Option(None, help="only the first N questions")):
    """Measure answer quality on a question set (hit@k, MRR, span@4, abstention)."""
    from bot.evaluation import CasesError, load_cases, run_eval

    settings = settings_of(ctx)
    try:
        cases = load_cases(questions)[:limit]
    except CasesError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("eval", total=len(cases))
        summary = run_eval(_pipeline(settings), cases, out,
                           on_case=lambda i, n: progress.update(task, completed=i))
    table = Table(title=f"{questions.name}: {summary['questions']} questions "
                        f"({summary['answerable']} answerable)")
    for key in ("hit@1", "hit@5", "mrr", "span@4", "cited", "abstain_ok", "abstain_bad",
                "latency_p50_ms"):
        table.add_column(key, justify="right")
    table.add_row(*(f"{summary[k]:.3f}" if k != "latency_p50_ms" else f"{summary[k]:.0f}"
                    for k in ("hit@1", "hit@5", "mrr", "span@4", "cited", "abstain_ok",
                              "abstain_bad", "latency_p50_ms")))
    console.print(table)
    console.print(f"results written to {out}")


def interactive_session(settings: Settings) -> None:
    from bot.knowledge import state, store
    from bot.terminal import chat

    engine = store.engine(settings)
    state.create_schema(engine)
    names = [s.name for s in settings.sources if s.enabled]
    if names:  # an incremental sync is a no-op when nothing changed, so always start fresh
        err.print("Syncing sources...")
        results = run_syncs(settings, names, full=False)
        if not all(r.ok for r in results):
            print_sync_table(results)
    chat(console, _pipeline(settings), extra_commands=_chat_commands(settings))


def _chat_commands(settings: Settings) -> dict:
    commands = {}
    try:
        from bot.decision.cli import terminal_walk
    except ImportError:
        return commands
    commands["/ragvsft"] = lambda: terminal_walk(settings, symptom=False)
    return commands


@app.command()
def chat(ctx: typer.Context):
    """Interactive terminal session over the configured sources (syncs first)."""
    interactive_session(settings_of(ctx))


@app.command()
def run(ctx: typer.Context):
    """The README's run command: the Slack bot when Slack tokens are set, else the terminal session."""
    settings = settings_of(ctx)
    if os.environ.get("SLACK_BOT_TOKEN") and (os.environ.get("SLACK_APP_TOKEN")
                                              or os.environ.get("SLACK_SIGNING_SECRET")):
        from bot.slack.serve import serve_forever

        serve_forever(settings, http=not os.environ.get("SLACK_APP_TOKEN"), port=3000)
    else:
        interactive_session(settings)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
