"""`ragbot tone ...`: train and evaluate the local tone adapter (and export pairs for a hosted one).

Registered in bot/cli.py with `app.add_typer(tone_app, name="tone")`; the parent's `--config`
reaches these commands through `ctx.obj` (they load the default config when run on their own).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from bot import shipped
from bot.tone.export import export_command

if TYPE_CHECKING:  # the config loads when a command reads it, not for `--help`
    from bot.config import Settings

TRAIN_FILE = shipped("prompts/tone/train.jsonl")
HELDOUT_FILE = shipped("prompts/tone/heldout.jsonl")

tone_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="The tone model: train and evaluate the LoRA adapter for the team's "
                            "voice.")
tone_app.command("export")(export_command)
console = Console()
err = Console(stderr=True)


def _settings(ctx: typer.Context) -> Settings:
    obj = ctx.obj
    if obj is not None and hasattr(obj, "settings"):
        return obj.settings  # bot.cli.Ctx: prints config errors and exits itself
    from bot.config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        err.print(f"[red]Config error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _base_model(settings: Settings) -> None:
    """Convert the GGUF once, with a visible spinner (13-35 s the first time)."""
    from bot.tone.model import ToneModelError, base_model_dir, ensure_base_model

    folder = base_model_dir(settings.data_dir)
    try:
        if (folder / "model.safetensors").is_file():
            ensure_base_model(settings.data_dir)
            return
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=err, transient=True) as progress:
            progress.add_task(f"converting the base model GGUF to {folder} (once)", total=None)
            ensure_base_model(settings.data_dir)
    except ToneModelError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@tone_app.command()
def train(ctx: typer.Context,
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="adapter folder to write "
                                             "(default: DATA_DIR/tone/adapter; the shipped one is "
                                             "bot/tone/adapter)"),
          pairs: Path = typer.Option(TRAIN_FILE, "--pairs", help="neutral/on_brand pairs JSONL"),
          epochs: float = typer.Option(3.0, "--epochs", min=0.01),
          max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1,
                                                  help="stop after this many optimizer steps"),
          batch_size: int = typer.Option(8, "--batch-size", min=1),
          learning_rate: float = typer.Option(1e-3, "--lr"),
          rank: int = typer.Option(8, "--rank", "-r", min=1, help="LoRA rank"),
          alpha: int = typer.Option(16, "--alpha", help="LoRA alpha"),
          targets: str = typer.Option("q_proj,v_proj", "--targets",
                                      help="comma-separated module names to adapt"),
          seed: int = typer.Option(0, "--seed"),
          threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                                help="torch threads (default: torch's)"),
          limit: Optional[int] = typer.Option(None, "--limit", min=1, help="only the first N pairs"),
          evaluate: bool = typer.Option(True, "--eval/--no-eval",
                                        help="score the adapter on the held-out pairs afterwards "
                                             "and put the scores in card.json"),
          heldout: Path = typer.Option(HELDOUT_FILE, "--heldout", help="held-out pairs JSONL")):
    """Train a LoRA adapter on the tone pairs (reproducible for a seed and thread count)."""
    from bot.tone.train import PairsError, TrainSettings, load_pairs, train as run_train, write_card

    settings = _settings(ctx)
    out = out or settings.data_dir / "tone" / "adapter"
    cfg = TrainSettings(epochs=epochs, max_steps=max_steps, learning_rate=learning_rate,
                        batch_size=batch_size, r=rank, alpha=alpha,
                        target_modules=[t.strip() for t in targets.split(",") if t.strip()],
                        seed=seed, threads=threads, limit=limit)
    try:
        load_pairs(pairs)
    except (PairsError, OSError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    _base_model(settings)
    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err) as progress:
        task = progress.add_task("train", total=None, loss="-")

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total, loss=f"{loss:.3f}")

        card = run_train(settings.data_dir, pairs, out, cfg, on_step=on_step)
    t = card["training"]
    console.print(f"adapter written to {out}: {t['steps']} steps ({t['epochs_done']} epochs) in "
                  f"{t['seconds']:.0f}s, loss {t['loss_first']:.3f} -> "
                  f"{t['loss_last_epoch_mean']:.3f}", highlight=False)
    if evaluate:
        result = _run_eval(settings, out, heldout, limit=None, timeout_s=None)
        card["eval"] = {"pairs": result["pairs"], "heldout_sha256": _sha(heldout),
                        "decoding": {k: result["settings"][k] for k in
                                     ("prompt_lookup_tokens", "copy_bias")},
                        "base": _brief(result["base"]["summary"]),
                        "adapter": _brief(result["adapter"]["summary"])}
        write_card(out, card)
        _print_table(result, heldout)
    if Path(out).resolve() != _shipped().resolve():
        console.print(f"use it with `tone: {{adapter: {out}}}` in the config", highlight=False)


@tone_app.command("eval")
def eval_command(ctx: typer.Context,
                 out: Path = typer.Option(..., "--out", "-o", help="where to write results JSON"),
                 adapter: Optional[Path] = typer.Option(None, "--adapter", help="adapter folder "
                                                        "(default: tone.adapter, else the "
                                                        "shipped one)"),
                 pairs: Path = typer.Option(HELDOUT_FILE, "--pairs", help="held-out pairs JSONL"),
                 limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                                     help="only the first N pairs"),
                 timeout_s: Optional[float] = typer.Option(
                     None, "--timeout-s", help="per-rewrite budget (default: 60 s, so that a "
                     "busy machine does not turn quality into timeouts; latency is reported)")):
    """Score the adapter against the untrained base model on held-out pairs (one table)."""
    from bot.tone.stage import adapter_path

    settings = _settings(ctx)
    adapter = adapter or adapter_path(settings)
    result = _run_eval(settings, adapter, pairs, limit=limit, timeout_s=timeout_s)
    from bot.tone.evaluate import write_result

    write_result(out, result)
    _print_table(result, pairs)
    console.print(f"results written to {out}", highlight=False)


def _shipped() -> Path:
    from bot.tone.model import ADAPTER_DIR

    return ADAPTER_DIR


def _sha(path: Path) -> str:
    from bot.tone.train import sha256_of

    return sha256_of(path)


def _brief(summary: dict) -> dict:
    keys = ("acceptance", "style_score_raw", "style_score_sent", "chrf_raw", "chrf_sent",
            "facts_kept_sent", "latency_p50_ms")
    return {k: round(summary[k], 4) for k in keys}


def _run_eval(settings: Settings, adapter: Path, pairs_path: Path, *, limit: int | None,
              timeout_s: float | None) -> dict:
    from bot.tone.evaluate import report, run_model
    from bot.tone.model import ToneModelError
    from bot.tone.stage import load_local_stage
    from bot.tone.train import PairsError, load_pairs

    try:
        pairs = load_pairs(pairs_path)[:limit]
    except (PairsError, OSError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    _base_model(settings)
    budget = timeout_s or 60.0
    run_settings = settings.model_copy(update={"tone": settings.tone.model_copy(
        update={"timeout_s": budget})})
    results = {}
    for name, folder in (("base", None), ("adapter", adapter)):
        try:
            stage = load_local_stage(run_settings, folder, name=name)
        except ToneModelError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        with Progress(TextColumn(f"eval {name}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as progress:
            task = progress.add_task(name, total=len(pairs))
            results[name] = run_model(stage, pairs,
                                      on_pair=lambda i: progress.update(task, completed=i))
        del stage
    card_file = Path(adapter) / "card.json"
    card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else None
    return report(results["base"], results["adapter"], pairs, card=card, settings={
        "adapter": str(adapter), "pairs_file": str(pairs_path), "timeout_s": budget,
        "production_timeout_s": settings.tone.timeout_s, "threads": settings.tone.threads,
        "runtime": settings.tone.runtime, "precision": settings.tone.precision,
        "prompt_lookup_tokens": settings.tone.prompt_lookup_tokens,
        "copy_bias": settings.tone.copy_bias, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def _print_table(result: dict, pairs_path: Path) -> None:
    from bot.tone.evaluate import table_rows

    table = Table(title=f"tone eval: {result['pairs']} held-out pairs ({Path(pairs_path).name})")
    for col, justify in (("metric", "left"), ("neutral draft", "right"), ("base model", "right"),
                         ("adapter", "right"), ("on_brand reference", "right")):
        table.add_column(col, justify=justify)
    for row in table_rows(result):
        table.add_row(*row)
    console.print(table)
    for name in ("base", "adapter"):
        summary = result[name]["summary"]
        kept, accepted = summary["facts_kept_accepted"]
        reasons = ", ".join(f"{k} {v}" for k, v in summary["reasons"].items()) or "none"
        console.print(f"{name}: facts kept in {kept}/{accepted} accepted rewrites; draft sent "
                      f"because: {reasons}", highlight=False)


@tone_app.command()
def prepare(ctx: typer.Context) -> None:
    """Build the tone model for the configured runtime now (once per machine and adapter), so the
    first answer does not wait for it; a no-op when it is built. `make run` calls it."""
    settings = _settings(ctx)
    cfg = settings.tone
    if not cfg.enabled or cfg.backend != "local" or cfg.runtime != "onnx":
        console.print("Nothing to prepare: the tone stage does not run the local onnx model.")
        return
    from bot.tone.genai import ensure_export, exported
    from bot.tone.model import ToneModelError
    from bot.tone.stage import adapter_path

    adapter = adapter_path(settings)
    if exported(adapter, cfg.precision):
        return
    _base_model(settings)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=err, transient=True) as progress:
            progress.add_task("preparing the tone model (once per machine: a minute or two)",
                              total=None)
            folder = ensure_export(settings.data_dir, adapter, cfg.precision)
    except ToneModelError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"Tone model ready in {folder}")
