"""`tone.runtime: onnx` (the default): the tone model on onnxruntime instead of transformers.

Why (bench/tone_runtimes.py, one process, 12 held-out drafts interleaved, 1 thread, load average
14-20 on 2 cores): the transformers path loaded in 79 s and rewrote at p50 16.6 s; this one loaded
in 3.5 s and rewrote at p50 9.0 s, 12/12 accepted by the guard on both. Measured in CPU time (what
an idle core would take) a rewrite costs ~1.2 s p50, ~20 ms a token. The candidates weighed:
llama-cpp-python has no prebuilt wheel (a ~25 min source build on every fresh machine);
ctranslate2 has a prebuilt wheel but no logits hook in its Python API, so no copy bias (41/46
accepted without it, against 44/46 with it); onnxruntime-genai adds an ~11 MB wheel to the
onnxruntime ragbot already has, and its model builder writes the graph used here.

The model is derived from the adapter, never trained separately: the base SmolLM2
(bot/tone/model.py) with the LoRA adapter merged in (peft `merge_and_unload`), exported once per
machine by onnxruntime-genai's builder into `<cache dir>/models/<name>-<adapter hash>-<precision>/`
(RAGBOT_CACHE_DIR). The key is the hash of the adapter's files, so an adapter that `ragbot tone
train` rewrites gets a new export on first use; the export takes ~1-3 min under a file lock (two
processes never build it twice), and the folder appears by rename, complete or not at all.
`precision: int8` (8-bit weights, MatMulNBits) is the default: on 12 drafts in one run it decoded
~3x faster than the fp32 export, with the same guard acceptance.
"""

from __future__ import annotations

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


def exported(adapter: Path | None, precision: str) -> bool:
    """Whether this adapter's export is built on this machine (loading it costs ~1 s, not minutes)."""
    return _complete(export_dir(adapter, precision))


def ensure_export(data_dir: Path, adapter: Path | None, precision: str) -> Path:
    """The onnxruntime-genai model folder for `adapter` merged into the base, built if missing."""
    target = export_dir(adapter, precision)
    if _complete(target):
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):  # as the embedding export
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
    """The exported model on a plain onnxruntime session, with our own decoding loop.

    onnxruntime-genai builds the graph (KV cache, grouped-query attention, int8 weights), but its
    generator hands back only the last position's logits, which rules out prompt-lookup
    decoding. The graph itself returns logits for every input position, so the loop here feeds
    the last token plus up to `lookup` draft tokens from where the rewrite stands in the draft
    (`prompting.CopyPointer`), keeps the longest prefix the model agrees with (greedy, copy bias
    applied at each position) and trims the KV cache back to it. Output is the greedy output up
    to numerics: a forward pass over several positions does not give bit-identical logits to
    one position at a time on the int8 graph, and at a near tie (after a marker: copy the draft's next word, or write "You'll") the
    two can choose differently (bench/tone_latency.py --drafts on the demo answers: the same text
    for 6/6 one-marker drafts, 3/6 two-marker ones; guard acceptance 100% either way). A rewrite
    that copies most of the draft takes a fraction of the forward passes. With the copy
    bias on, fact tokens at the pointer are copied outright, and a rewrite that passes over a
    fact of the draft (or ends before writing them all) is cut back, cache included, to where it
    last copied, and copies on from there (at most `max_rollbacks` times). So is one that jumps
    over content words it did not write in any form (`_dropped_words`: a clause without numbers
    or names, which the guard cannot see go). That rule took the held-out pairs from 44/46
    accepted, content words kept 99.1%, chrF 76.7 to 46/46, 100%, 77.7, at the price of fewer
    voice changes inside sentences ("you" added 17% -> 11%, contractions 13% -> 7%). Of the 6 answers of
    the first 45 demo questions that went untoned, this fixed the 5 that were decoding slips
    (a wrong row's number, a skipped row or sentence, a dropped clause); the sixth was the guard's
    (MARKER_BREAK in bot/tone/guard.py): 42/42 toned after, with the default config.
    Not thread-safe: the stage runs one rewrite at a time.
    """

    def __init__(self, folder: Path, *, threads: int) -> None:
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = json.loads((folder / "genai_config.json").read_text())["model"]
        decoder = config["decoder"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(folder / decoder["filename"]), options,
                                            providers=["CPUExecutionProvider"])
        self.layers = decoder["num_hidden_layers"]
        self.outputs = ["logits"] + [f"present.{i}.{kind}" for i in range(self.layers)
                                     for kind in ("key", "value")]
        self.kv_shape = (1, decoder["num_key_value_heads"], 0, decoder["head_size"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.eos_id = self.tokenizer.token_to_id(prompting.END_OF_TURN)
        self.sentence_ends = frozenset(i for token, i in self.tokenizer.get_vocab().items()
                                       if token.endswith((".", "!", "?")))
        self._np = np
        # The prompt's head (system prompt, user header: ~53 tokens) is the same for every
        # rewrite; prefilling it was ~half of a rewrite's CPU time (0.6 s p50 of 1.14 s on the
        # demo drafts for a 100-token prompt), so its KV cache is computed once, here.
        self.head = self.encode(prompting.chat_prompt_head())
        empty = np.zeros(self.kv_shape, dtype=np.float32)
        self.head_past = self._forward(self.head, [empty] * (2 * self.layers))[1]

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip() if ids else ""

    def _forward(self, ids: list[int], past: list) -> tuple:
        np = self._np
        length = past[0].shape[2] + len(ids)
        feeds = {"input_ids": np.array([ids], dtype=np.int64),
                 "attention_mask": np.ones((1, length), dtype=np.int64)}
        for i in range(self.layers):
            feeds[f"past_key_values.{i}.key"] = past[2 * i]
            feeds[f"past_key_values.{i}.value"] = past[2 * i + 1]
        logits, *present = self.session.run(self.outputs, feeds)
        return logits[0], present

    def generate(self, draft: str, *, max_new: int, deadline: float | None, copy_bias: float,
                 lookup: int = 20, follow_n: int = 2, max_rollbacks: int = 8):
        """(new token ids, finished, timed_out)."""
        np = self._np
        source = prompting.copy_source(draft)
        encoding = self.tokenizer.encode(source, add_special_tokens=False)
        pointer = prompting.CopyPointer(encoding.ids, follow_n,
                                        prompting.fact_positions(source, encoding.offsets)
                                        if copy_bias else frozenset(), self.sentence_ends)
        prompt = self.encode(prompting.chat_prompt(draft))
        logits, past = self._prefill(prompt)
        out: list[int] = []
        step_logits = logits[-1:]
        rollbacks = 0
        forced: int | None = None
        while True:
            # choose from the logits in hand, position by position (proposals verified)
            token = forced if forced is not None else self._pick(step_logits[0], pointer,
                                                                 copy_bias)
            forced = None
            ended = token == self.eos_id
            if not ended:
                out.append(token)
                pointer.advance(out)
            # a rewrite that passes over a fact of the draft, or ends before writing them all,
            # goes back to where it last copied and copies the draft's next token from there
            if copy_bias and not ended and self._dropped_words(source, encoding.offsets, pointer,
                                                               out):
                pointer.anchor = pointer.jumped[2]  # back to before the jump
                pointer.skipped = True
            if (copy_bias and rollbacks < max_rollbacks and pointer.anchor is not None
                    and (pointer.skipped or (ended and pointer.unwritten_fact(pointer.frontier)))):
                rollbacks += 1
                forced, past = self._roll_back(out, past, pointer, len(prompt))
                continue
            if ended:
                return out, True, False
            if len(out) >= max_new:
                return out, False, False
            if deadline is not None and time.monotonic() >= deadline:
                return out, False, True
            proposal = pointer.proposal(min(lookup, max_new - len(out))) if lookup else []
            logits, present = self._forward([token, *proposal], past)
            kept = 0
            for j, guess in enumerate(proposal):
                if self._pick(logits[j], pointer, copy_bias) != guess or guess == self.eos_id:
                    break
                out.append(guess)
                pointer.advance(out)
                kept += 1
            # the cache keeps the fed token and the accepted proposals, not the rejected rest
            total = past[0].shape[2] + 1 + kept
            past = [p[:, :, :total] for p in present]
            step_logits = logits[kept:kept + 1]
            if len(out) >= max_new:
                return out[:max_new], False, False

    def _prefill(self, prompt: list[int]) -> tuple:
        """(logits, cache) of the whole prompt, from the cached head when the prompt starts
        with its tokens (it does unless the draft's first characters merge with the header's
        line break into one token)."""
        n = len(self.head)
        if n and len(prompt) > n and prompt[:n] == self.head:
            return self._forward(prompt[n:], self.head_past)
        empty = self._np.zeros(self.kv_shape, dtype=self._np.float32)
        return self._forward(prompt, [empty] * (2 * self.layers))

    def _dropped_words(self, source: str, offsets: list, pointer: prompting.CopyPointer,
                       out: list[int]) -> bool:
        """Whether the draft span the pointer just jumped over holds a content word (any form)
        that the rewrite did not write since it last copied: "Long-term disability: 60% of
        salary" -> "You'll get 60% of salary" keeps every number and name, so neither the guard
        nor the fact rule sees it; "Expenses are submitted in" -> "You submit expenses in"
        writes them all, and passes."""
        if pointer.jumped is None or pointer.skipped or pointer.jumped[2] is None:
            return False
        from bot.tone.evaluate import content_words

        start, end, (length, _) = pointer.jumped
        passed = source[offsets[start][0]:offsets[end - 1][1]]
        written = self.tokenizer.decode(out[length:], skip_special_tokens=True)
        return bool(content_words(passed) - content_words(written))

    @staticmethod
    def _roll_back(out: list[int], past: list, pointer: prompting.CopyPointer, prompt_len: int):
        """Cut `out` and the KV cache back to the pointer's anchor; (the token to copy next,
        the cut cache)."""
        length, position = pointer.anchor
        del out[length:]
        pointer.resume(length, position)
        return pointer.source[position], [p[:, :, :prompt_len + length] for p in past]

    @staticmethod
    def _pick(logits, pointer: prompting.CopyPointer, copy_bias: float) -> int:
        nxt = pointer.next_token() if copy_bias else None
        if nxt is not None and pointer.must_copy():
            return nxt
        if nxt is not None:
            logits = logits.copy()
            logits[nxt] += copy_bias
        return int(logits.argmax())


def load_genai_model(settings: Settings, adapter: Path | None) -> GenaiModel:
    cfg = settings.tone
    folder = ensure_export(settings.data_dir, adapter, cfg.precision)
    return GenaiModel(folder, threads=cfg.threads or 1)
