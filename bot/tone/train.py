"""`ragbot tone train`: a LoRA adapter for the team's voice, trained with peft on the local CPU.

The loop is a plain PyTorch loop rather than transformers' `Trainer`: for ~30 steps of a 135M
model it is 40 lines, it is deterministic for a given seed and thread count (shuffling uses its
own seeded generator, LoRA init and dropout the seeded torch RNG), and it reports each step to a
caller-supplied callback (the CLI draws a rich progress bar) instead of Trainer's tqdm/logging.

The loss is on the on-brand reply (and its end-of-turn token) only, never on the prompt, with the
exact prompt that inference uses (bot/tone/prompting.py).

Output: `adapter_model.safetensors` + `adapter_config.json` (peft's format) and `card.json`
(base model, data sha256, settings, training loss, time; eval scores are added by the CLI).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bot.tone import prompting

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")


class PairsError(ValueError):
    """The pairs file cannot be used; the message names the line and what is wrong."""


@dataclass(slots=True)
class Pair:
    id: str
    neutral: str
    on_brand: str


@dataclass(slots=True)
class TrainSettings:
    epochs: float = 3.0
    max_steps: int | None = None  # stops earlier than `epochs` (CI: a few steps)
    learning_rate: float = 1e-3
    batch_size: int = 8
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    warmup_steps: int = 3
    seed: int = 0
    threads: int | None = None  # torch threads; None: torch's default
    save_dtype: str = "float16"  # adapter weights on disk: half the size, no measurable change
    limit: int | None = None  # only the first N pairs


def load_pairs(path: Path) -> list[Pair]:
    pairs: list[Pair] = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                pair = Pair(str(row.get("id", f"line-{number}")), row["neutral"], row["on_brand"])
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise PairsError(f"{path}:{number}: expected a JSON object with \"neutral\" and "
                                 f"\"on_brand\" ({exc.__class__.__name__}: {exc})") from None
            if not (isinstance(pair.neutral, str) and isinstance(pair.on_brand, str)
                    and pair.neutral.strip() and pair.on_brand.strip()):
                raise PairsError(f"{path}:{number}: \"neutral\" and \"on_brand\" must be "
                                 "non-empty strings")
            pairs.append(pair)
    if not pairs:
        raise PairsError(f"{path}: no pairs")
    return pairs


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _batches(examples, batch_size: int, rng: random.Random, pad_id: int):
    import torch

    # "Sortish" batches: shuffle, then sort within windows of 8 batches by length, so a batch
    # holds similar lengths (less padding: ~20% fewer tokens through the model) yet every epoch
    # still sees a new order and new batch mates.
    order = list(range(len(examples)))
    rng.shuffle(order)
    window = batch_size * 8
    order = [i for w in range(0, len(order), window)
             for i in sorted(order[w:w + window], key=lambda i: len(examples[i][0]))]
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    for batch in batches:
        chunk = [examples[i] for i in batch]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (x, y) in enumerate(chunk):
            ids[row, :len(x)] = torch.tensor(x)
            labels[row, :len(y)] = torch.tensor(y)
            mask[row, :len(x)] = 1
        yield ids, mask, labels


def train(data_dir: Path, pairs_path: Path, out: Path, cfg: TrainSettings,
          on_step: Callable[[int, int, float], None] | None = None) -> dict:
    """Train an adapter on `pairs_path` into `out`; returns the card (also written to card.json).

    `on_step(step, total_steps, loss)` is called after every optimizer step.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import get_linear_schedule_with_warmup

    from bot.tone.model import BASE_MODEL_NAME, gguf_path, load_fresh

    pairs = load_pairs(pairs_path)[:cfg.limit]
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")  # peft -> transformers
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    tokenizer, model = load_fresh(data_dir)
    model.config.use_cache = False
    lora = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                      target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    examples = [prompting.training_example(tokenizer, p.neutral, p.on_brand) for p in pairs]
    per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = math.ceil(cfg.epochs * per_epoch)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    total = max(total, 1)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=cfg.learning_rate, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, min(cfg.warmup_steps, total - 1), total)
    rng = random.Random(cfg.seed)
    model.train()
    started = time.perf_counter()
    step, losses = 0, []
    while step < total:
        for ids, mask, labels in _batches(examples, cfg.batch_size, rng, tokenizer.pad_token_id):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            if on_step:
                on_step(step, total, losses[-1])
            if step >= total:
                break
    seconds = time.perf_counter() - started

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for param in model.parameters():
        if param.requires_grad:  # only the LoRA weights are saved; peft upcasts them on load
            param.data = param.data.to(getattr(torch, cfg.save_dtype))
    model.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)  # peft's empty model card; card.json is ours
    # The local path of the converted base is meaningless elsewhere; name the model instead
    # (after saving: peft looks the base up by this name while saving).
    config_file = out / "adapter_config.json"
    adapter_config = json.loads(config_file.read_text(encoding="utf-8"))
    adapter_config["base_model_name_or_path"] = "SmolLM2-135M-Instruct"
    config_file.write_text(json.dumps(adapter_config, indent=2, sort_keys=True) + "\n",
                           encoding="utf-8")
    tail = losses[-per_epoch:] or losses
    card = {
        "base_model": BASE_MODEL_NAME,
        "base_model_file": gguf_path().name,
        "data": {"path": Path(pairs_path).name, "sha256": sha256_of(pairs_path),
                 "pairs": len(pairs)},
        "settings": {**asdict(cfg), "system_prompt": prompting.SYSTEM_PROMPT},
        "training": {"steps": step, "epochs_done": round(step / per_epoch, 2),
                     "seconds": round(seconds, 1), "threads": torch.get_num_threads(),
                     "loss_first": round(losses[0], 4),
                     "loss_last_epoch_mean": round(sum(tail) / len(tail), 4),
                     "torch": torch.__version__},
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    write_card(out, card)
    return card


def write_card(out: Path, card: dict) -> None:
    (Path(out) / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
