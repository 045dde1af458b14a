"""`tone.runtime: onnx` (the default): the tone model on onnxruntime-genai instead of transformers.

Why this runtime (measured side by side, see the report in bench/tone_latency.py and the README):
it ships a prebuilt CPU wheel of ~11 MB on top of the onnxruntime ragbot already has (no 25-min
source build like llama-cpp-python), it loads a model in ~1-2 s instead of 5-60 s of torch,
and it hands back the logits of every step, so the copy bias (`tone.copy_bias`) works as it does
on the transformers path (ctranslate2, the other prebuilt candidate, has no logits hook in its
Python API).

The model it runs is derived from the adapter, never trained separately: the base SmolLM2
(bot/tone/model.py) with the LoRA adapter merged in (peft `merge_and_unload`), exported once per
machine by onnxruntime-genai's model builder into `<cache dir>/models/<name>-<adapter hash>-<precision>/`
(RAGBOT_CACHE_DIR). The key is the hash of the adapter's files, so `ragbot tone train` writing a new
adapter gets a new export on first use; the export takes ~1-3 min and holds a file lock (two
processes never build it twice), and the folder appears by rename, complete or not at all.

Decoding is greedy, one token per step, with the copy bias applied to the step's logits; the loop
checks the deadline after every step. `precision: int8` (weights in 8 bits, MatMulNBits) is the
default: faster per step than fp32 with guard acceptance within one held-out pair of it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.config import Settings, cache_dir
from bot.tone import prompting
from bot.tone.model import BASE_DIR_NAME, ToneModelError, gguf_path

log = logging.getLogger(__name__)

EXPORT_FILES = ("genai_config.json", "model.onnx", "tokenizer.json")


def adapter_digest(adapter: Path | None) -> str:
    """A hash of the adapter's weights and config (and of the base model file): the export key."""
    digest = hashlib.sha256()
    base = gguf_path()
    digest.update(f"{base.name}:{base.stat().st_size}".encode())
    if adapter is not None:
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            digest.update((Path(adapter) / name).read_bytes())
    return digest.hexdigest()[:16]


def export_dir(adapter: Path | None, precision: str) -> Path:
    name = f"{BASE_DIR_NAME}-tone-{adapter_digest(adapter) if adapter else 'base'}-{precision}"
    return cache_dir() / "models" / name


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in EXPORT_FILES)


def ensure_export(data_dir: Path, adapter: Path | None, precision: str) -> Path:
    """The onnxruntime-genai model folder for `adapter` merged into the base, built if missing."""
    target = export_dir(adapter, precision)
    if _complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(target):  # another process built it while we waited
            return target
        _build(data_dir, adapter, precision, target)
    return target


def _build(data_dir: Path, adapter: Path | None, precision: str, target: Path) -> None:
    from bot.tone.model import load_fresh

    started = time.monotonic()
    log.info("exporting the tone model (%s, %s) to %s (once per adapter)", adapter, precision,
             target)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer, model = load_fresh(data_dir)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        merged = work / "merged"
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Writing model shards" would land on the terminal
        try:
            model.save_pretrained(merged)
            tokenizer.save_pretrained(merged)
        finally:
            hf_logging.enable_progress_bar()
        del model
        out = work / "out"
        proc = subprocess.run(
            [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(merged),
             "-o", str(out), "-p", precision, "-e", "cpu", "-c", str(work / "cache")],
            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if proc.returncode != 0 or not _complete(out):
            tail = (proc.stderr or proc.stdout)[-600:]
            raise ToneModelError(f"exporting the tone model with onnxruntime-genai failed: {tail}")
        out.chmod(0o755)
        os.replace(out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("tone model exported in %.0f s", time.monotonic() - started)


class GenaiModel:
    """An exported model and its tokenizer; `generate` is one greedy rewrite (not thread-safe:
    the stage runs one at a time)."""

    def __init__(self, folder: Path, *, threads: int) -> None:
        import onnxruntime_genai as og

        config = og.Config(str(folder))
        config.overlay(json.dumps({"model": {"decoder": {"session_options": {
            "intra_op_num_threads": threads, "inter_op_num_threads": 1,
            "config_entries": {"session.intra_op.allow_spinning": "0"}}}}}))
        self._og = og
        self.model = og.Model(config)
        self.tokenizer = og.Tokenizer(self.model)
        self.eos_id = int(self.tokenizer.encode(prompting.END_OF_TURN)[-1])

    def encode(self, text: str) -> list[int]:
        return [int(t) for t in self.tokenizer.encode(text)]

    def generate(self, draft: str, *, max_new: int, deadline: float | None, copy_bias: float,
                 follow_n: int = 2):
        """(new token ids, finished, timed_out)."""
        import numpy as np

        og = self._og
        ids = self.encode(prompting.chat_prompt(draft))
        follows = prompting.follow_table(self.encode(draft), follow_n)
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(ids) + max_new + 1)
        generator = og.Generator(self.model, params)
        generator.append_tokens(ids)
        out: list[int] = []
        while len(out) < max_new:
            if deadline is not None and time.monotonic() >= deadline:
                return out, False, True
            logits = generator.get_logits().reshape(-1)
            nxt = follows.get(tuple(out[-follow_n:])) if copy_bias and len(out) >= follow_n \
                else None
            if nxt:
                logits = logits.copy()
                logits[list(nxt)] += copy_bias
            token = int(np.argmax(logits))
            if token == self.eos_id:
                return out, True, False
            out.append(token)
            generator.append_tokens([token])
        return out, False, False

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids).strip() if ids else ""


def load_genai_model(settings: Settings, adapter: Path | None) -> GenaiModel:
    cfg = settings.tone
    folder = ensure_export(settings.data_dir, adapter, cfg.precision)
    try:
        return GenaiModel(folder, threads=cfg.threads or 1)
    except ImportError as exc:
        raise ToneModelError(f"onnxruntime-genai is not installed ({exc}): `pip install "
                             "onnxruntime-genai`, or set `tone.runtime: torch`") from None
