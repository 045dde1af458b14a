"""The `ragbot` command: a thin typer shell over the same pieces the Slack bot uses."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # the config (pydantic, YAML, the connectors' options) loads when a command
    from bot.config import Settings  # reads it, not for `--help`


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
            from bot.config import ConfigError, check_data_dir, load_settings

            try:
                self._settings = load_settings(self.config)
                check_data_dir(self._settings.data_dir)
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
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():  # rich reads COLUMNS only when a Console is made (at import)
        console.width = err.width = int(columns)


def run_syncs(settings: Settings, names: list[str], full: bool, show_progress: bool = True):
    """Sync through `Index.sync`, so failure alerts are raised and cleared as for scheduled and
    /ragadmin syncs."""
    from bot.knowledge.index import Index
    from bot.knowledge.sync import SyncInProgressError

    index = Index(settings)
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not show_progress) as progress:
        for name in names:
            task = progress.add_task(f"{name}: embedding", total=None)
            try:
                results.append(index.sync(
                    name, full=full,
                    progress=lambda done, total, t=task: progress.update(t, completed=done,
                                                                         total=total)))
            except SyncInProgressError as exc:
                from bot.knowledge.sync import SyncResult

                results.append(SyncResult(source=name, error=str(exc)))
            progress.remove_task(task)
    return results


def print_sync_table(results) -> None:
    table = Table(title="Sync")
    for col in ("source", "fetched", "added", "updated", "skipped", "deleted", "chunks embedded",
                "time", "status"):
        table.add_column(col, justify="right" if col not in {"source", "status"} else "left")
    for r in results:
        status = "[green]ok[/green]" if r.ok else "[red]failed[/red]"
        table.add_row(r.source, str(r.fetched), str(r.added), str(r.updated), str(r.skipped),
                      str(r.deleted),
                      str(r.chunks_embedded), f"{r.duration_s:.1f}s", status)
    console.print(table)
    for r in results:
        if r.error:
            console.print(f"[red]{r.source} failed:[/red] {escape(r.error)}", highlight=False,
                          soft_wrap=True)
        for item in r.skipped_items:
            console.print(f"[yellow]skipped[/yellow] {r.source}:{item.source_id}: {item.reason}",
                          highlight=False)


@app.command()
def sync(ctx: typer.Context,
         source: Optional[str] = typer.Option(None, "--source", "-s", help="only this source"),
         full: bool = typer.Option(False, "--full", help="re-read every page and remove anything "
                                   "the source no longer has")):
    """Bring the index up to date with the sources (incremental unless --full)."""
    from bot.config import ConfigError

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
    from bot.evaluation import METRICS, CasesError, load_cases, run_eval

    settings = settings_of(ctx)
    try:
        cases = load_cases(questions)
    except CasesError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if cases.review_skipped:
        err.print(f"[yellow]skipped {cases.review_skipped} case(s) marked for review[/yellow] "
                  "(flagged in Slack; fill in `sources`/`answer` and drop `review` to use them)")
    cases = cases[:limit]
    out.parent.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("eval", total=len(cases))
        summary = run_eval(_pipeline(settings), cases, out,
                           on_case=lambda i, n: progress.update(task, completed=i))
    table = Table(title=f"{questions.name}: {summary['questions']} questions "
                        f"({summary['answerable']} answerable)")
    for key in (*METRICS, "latency_p50_ms"):
        table.add_column(key, justify="right")
    table.add_row(*(f"{summary[k]:.3f}" for k in METRICS), f"{summary['latency_p50_ms']:.0f}")
    console.print(table)
    console.print(f"results written to {out}")


def interactive_session(settings: Settings) -> None:
    from bot.terminal import chat

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
    commands["/ragvsft symptom"] = lambda: terminal_walk(settings, symptom=True)
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


@app.command()
def serve(ctx: typer.Context,
          http: bool = typer.Option(False, "--http", help="serve Slack's HTTP endpoint "
                                    "(/slack/events, /healthz) instead of Socket Mode"),
          port: int = typer.Option(3000, "--port", "-p", help="HTTP port"),
          host: str = typer.Option("127.0.0.1", "--host", help="HTTP bind address")):
    """Run the Slack bot: Socket Mode when SLACK_APP_TOKEN is set, or --http."""
    from bot.slack.serve import serve_forever

    if not http and not os.environ.get("SLACK_APP_TOKEN"):
        err.print("[red]SLACK_APP_TOKEN is not set:[/red] Socket Mode needs the app-level token "
                  "(xapp-...); or pass --http to serve Slack's HTTP endpoint.")
        raise typer.Exit(2)
    serve_forever(settings_of(ctx), http=http, port=port, host=host)


_HEALTH_STYLE = {"ok": "green", "failing": "red", "never synced": "yellow", "paused": "yellow",
                 "syncing": "cyan", "disabled": "dim"}


@app.command()
def status(ctx: typer.Context,
           as_json: bool = typer.Option(False, "--json", help="machine-readable output")):
    """Per source: health, last success, last error, next scheduled run, size, staleness, and
    how many page bodies the last sync fetched from the source."""
    from rich.markup import escape

    from bot.knowledge.index import Index
    from bot.knowledge.status import until
    from bot.timefmt import ago

    index = Index(settings_of(ctx))
    rows, holder = index.status(), index.scheduler_holder()
    if as_json:
        print(json.dumps({"scheduler": holder, "sources": [r.to_json() for r in rows]}, indent=2))
        return
    table = Table(title="Sources")  # staleness is "last success"; --json has it in seconds
    for col in ("source", "health", "last success", "next run", "documents", "chunks",
                "fetched", "schedule", "last error"):
        table.add_column(col, justify="right" if col in {"documents", "chunks", "fetched"}
                         else "left",
                         no_wrap=col in {"source", "health"})
    for r in rows:
        style = _HEALTH_STYLE.get(r.health, "white")
        failing = f" ({r.failures_in_row}x)" if r.health == "failing" else ""
        error = escape((r.last_error or "")[:80]) if r.health == "failing" else (
            f"[dim]{ago(r.last_error_at)}[/dim]" if r.last_error else "")
        table.add_row(r.name, f"[{style}]{r.health}{failing}[/{style}]",
                      ago(r.last_success) if r.last_success else "never",
                      "paused" if r.paused else until(r.next_run), str(r.documents),
                      str(r.chunks), "-" if r.last_fetched is None else str(r.last_fetched),
                      r.schedule or "on demand", error)
    console.print(table, highlight=False)
    for r in rows:
        for item, reason in r.skipped_items:
            console.print(f"[yellow]skipped[/yellow] {escape(r.name)}:{escape(item)}: "
                          f"{escape(reason)}", highlight=False, soft_wrap=True)
    if any(r.schedule and r.enabled for r in rows):
        console.print(f"scheduler: running ({escape(holder)})" if holder else
                      "scheduler: [yellow]not running[/yellow] (`ragbot serve` or `ragbot "
                      "scheduler` runs it)", highlight=False)


@app.command("scheduler")
def scheduler_command(ctx: typer.Context):
    """Run scheduled syncs in the foreground (a worker apart from the bot); Ctrl-C stops."""
    import logging
    import signal
    import threading

    from bot.knowledge.scheduler import run_forever

    settings = settings_of(ctx)
    if not any(s.schedule and s.enabled for s in settings.sources):
        err.print("[red]No source has a schedule.[/red] Add one to a source in the config, e.g. "
                  "`schedule: {every: 30m}`.", highlight=False)
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    stop = threading.Event()

    def on_signal(_signum, _frame) -> None:
        if stop.is_set():
            err.print("stopped; an interrupted sync is simply redone next time")
            os._exit(130)
        stop.set()
        err.print("stopping (a sync in progress is finished first; Ctrl-C again to abandon it)")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    run_forever(settings, stop, on_standby=lambda holder: err.print(
        f"another process ({holder or '?'}) runs the scheduler; standing by to take over when "
        "it stops", highlight=False))


feedback_app = typer.Typer(no_args_is_help=True, help="Votes people gave answers in Slack.")
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
def feedback_export(ctx: typer.Context,
                    out: Path = typer.Option(..., "--out", "-o", help="cases JSONL to write")):
    """Write the votes as `ragbot eval` cases (down-voted answers marked for review)."""
    from bot.knowledge.index import Index
    from bot import records
    from bot.slack.vote_cases import export_cases

    ready, review = export_cases(records.votes(Index(settings_of(ctx)).engine), out)
    console.print(f"{ready + review} case(s) written to {out}: {ready} ready, {review} marked "
                  "for review (down-voted: fill in `sources`/`answer`, then drop `review`)")


@app.command()
def audit(ctx: typer.Context,
          limit: int = typer.Option(50, "--limit", "-n", min=1, help="how many, newest first"),
          as_json: bool = typer.Option(False, "--json", help="machine-readable output")):
    """The /ragadmin audit log: every admin command, allowed or refused (who, what, when, result)."""
    from bot.audit_cli import print_audit

    print_audit(console, settings_of(ctx), limit, as_json)


from bot.tone.cli import tone_app  # noqa: E402
app.add_typer(tone_app, name="tone")

from bot.decision.cli import ragvsft_command  # noqa: E402
app.command("ragvsft")(ragvsft_command)


def main() -> None:
    from bot.quiet import route_warnings_to_log

    route_warnings_to_log()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
