"""The tone stage: rewrite a cited draft in the team's voice, or send the draft unchanged.

`load_tone_stage(settings)` returns an object with `rewrite(draft) -> ToneOutcome`; the pipeline
calls it once per process. `tone.backend` picks the implementation: `local` (this module: the
LoRA-adapted SmolLM2 on the CPU) or `openai` (bot/tone/openai_stage.py, a hosted model). Both
send a rewrite only when `bot.tone.guard.check` accepts it.

The local stage never makes the user wait past `tone.timeout_s` by much: a StoppingCriteria ends
generation at the deadline (checked after every decoding step, so the overshoot is one step,
~50-100 ms) and the draft is sent with reason "timeout". `max_new_tokens` is bounded by the draft's
length (the longest on-brand reply in the pairs is the draft + 18 tokens), so a looping model stops
early too. Speed comes from greedy decoding with prompt-lookup decoding (the rewrite copies most
of the draft, so candidate tokens are taken from the prompt and verified several per forward
pass), the KV cache, a one-line system prompt, a merged adapter and few torch threads
(bench/tone_latency.py measures all of it).

Faithfulness comes first from the adapter and the guard, and then from a copy bias
(`tone.copy_bias`, `copy_bias_processor`, `prompting.CopyPointer`): where the rewrite is already
copying the draft, the draft's next token *at that place* gets a small logit bonus, and a fact
token there (number, marker, name, URL, ...) is copied outright. The 135M model's typical slips are a wavering step
inside a copied sentence ("mypy" -> "yourpy", a skipped sentence, an invented "200"); the bonus
tips those back onto the draft, while a confident voice change ("Employees must" -> "You'll
need to") still wins. On the 46 held-out pairs it took guard acceptance from 41 to 44.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.tone import guard, prompting
from bot.tone.model import ADAPTER_DIR, ToneModelError, check_adapter

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

TIMEOUT = "timeout"


@dataclass(slots=True)
class ToneOutcome:
    text: str  # what is sent: the rewrite when accepted, else the draft
    accepted: bool
    reason: str | None = None  # why the draft was sent (None when the rewrite was accepted)
    rewrite: str | None = None  # the model's raw output, kept for eval and logs
    latency_ms: float = 0.0  # from asking to the outcome, queueing included
    waited_ms: float = 0.0  # of which waiting for the model (another answer's rewrite)


@dataclass(slots=True)
class Generation:
    text: str
    finished: bool  # ended with the end-of-turn token (not cut by the budget or the deadline)
    timed_out: bool
    new_tokens: int
    seconds: float


def adapter_path(settings: Settings) -> Path:
    """`tone.adapter`, or the adapter shipped inside the package (not relative to the config)."""
    return Path(settings.tone.adapter) if settings.tone.adapter else ADAPTER_DIR


def max_new_tokens(draft_tokens: int) -> int:
    """Room for the draft plus an opener and a closer; more means the model is rambling."""
    return int(1.2 * draft_tokens) + 24


def auto_threads(loadavg: Path = Path("/proc/loadavg")) -> int:
    """Every core when nothing else is running right now, else one.

    Measured on 2 cores (bench/tone_latency.py): idle, 2 threads rewrite a 3-sentence draft in
    1.45 s (p50) and 1 thread in 1.71 s; but with other work on the cores (a sync embedding
    pages, a neighbour's job; load average 3-7) 2 threads wait on each other and take 5-10 s or
    more, while 1 thread degrades to 2-4 s. The signal is the kernel's count of runnable tasks at
    this moment (/proc/loadavg, field 4, which counts this process once); elsewhere (macOS) the
    1-minute load average.
    """
    cores = os.cpu_count() or 1
    try:
        running = int(loadavg.read_text().split()[3].split("/")[0]) - 1
    except (OSError, IndexError, ValueError):
        try:
            running = int(os.getloadavg()[0])
        except OSError:
            return 1
    return cores if running <= 0 else 1


@contextmanager
def torch_threads(n: int | None):
    """Run with `n` intra-op threads (None: `auto_threads()`), then restore the previous count
    (the embedding model shares the process)."""
    import torch

    n = n or auto_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def copy_bias_processor(source_ids: list[int], prompt_len: int, bias: float, n: int = 2,
                        exact: frozenset[int] = frozenset()):
    """A LogitsProcessor that nudges the model to keep copying the draft.

    Where the rewrite stands in the draft is `prompting.CopyPointer`'s: the draft's token at
    that position gets `bias` added to its logit, and on a fact token (`exact`) it is copied
    outright. A confident rewrite ("Employees must" -> "You'll need to") still wins; a wavering
    step — where the 135M model skips a sentence or invents one — is tipped back onto the draft.
    Works under prompt-lookup decoding: transformers applies the processor to every verified
    position with its own prefix, so the pointer is worked out from the prefix each time. (The
    onnx runtime also rolls back a rewrite that passes over a fact; generate() here cannot.)
    """
    from transformers import LogitsProcessor

    class CopyBias(LogitsProcessor):
        def __call__(self, input_ids, scores):
            pointer = prompting.CopyPointer.after(source_ids, input_ids[0, prompt_len:].tolist(),
                                                  n, exact)
            nxt = pointer.next_token()
            if nxt is not None:
                if pointer.must_copy():
                    scores[:, nxt] = scores.max() + bias
                else:
                    scores[:, nxt] += bias
            return scores

    return CopyBias()


QUEUE_FULL = "queue full"


class GuardedStage:
    """What every local runtime shares: one rewrite at a time, a bounded queue, the deadline,
    the guard. Subclasses implement `generate(draft, deadline=...) -> Generation`.

    Answers that arrive together queue for the one model instead of starving each other: the
    deadline (`tone.timeout_s`) counts from when a rewrite *starts*, not from when it was asked
    for, so a rewrite that waited is not cut short for it. What bounds the wait is the queue:
    with `tone.queue_size` rewrites already waiting, the draft is sent at once with reason
    "queue full". The outcome says how long the rewrite waited (`waited_ms`).
    """

    def __init__(self, *, timeout_s: float, queue_size: int = 8, name: str = "local") -> None:
        self.timeout_s = timeout_s
        self.queue_size = queue_size
        self.name = name
        self._lock = threading.Lock()  # held while generating
        self._count_lock = threading.Lock()
        self._waiting = 0

    def generate(self, draft: str, *, deadline: float | None = None) -> Generation:
        raise NotImplementedError

    def rewrite(self, draft: str) -> ToneOutcome:
        outcome = self._rewrite(draft)
        # one line per answer (bench/slack_load.py counts them): why a draft went untoned
        log.info("tone outcome: %s in %.0f ms (waited %.0f ms)",
                 "accepted" if outcome.accepted else outcome.reason, outcome.latency_ms,
                 outcome.waited_ms)
        return outcome

    def _rewrite(self, draft: str) -> ToneOutcome:
        asked = time.monotonic()
        if not draft.strip():
            return ToneOutcome(draft, False, "empty draft")
        waited = 0.0

        def outcome(text: str, accepted: bool, reason: str | None, raw: str | None = None):
            return ToneOutcome(text, accepted, reason, raw, (time.monotonic() - asked) * 1000,
                               waited * 1000)

        with self._count_lock:
            if self._waiting >= self.queue_size:
                return outcome(draft, False, f"{QUEUE_FULL}: {self._waiting} rewrites waiting "
                               "(tone.queue_size)")
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count_lock:
                self._waiting -= 1
        try:
            started = time.monotonic()
            waited = started - asked
            gen = self.generate(draft, deadline=started + self.timeout_s)
        except Exception as exc:  # a broken model must never cost the user the answer
            log.exception("tone rewrite failed")
            return outcome(draft, False, f"error: {exc.__class__.__name__}: {exc}")
        finally:
            self._lock.release()
        if gen.timed_out:
            return outcome(draft, False, TIMEOUT, gen.text)
        if not gen.finished:
            return outcome(draft, False, f"truncated: no end after {gen.new_tokens} tokens",
                           gen.text)
        verdict = guard.check(draft, gen.text)
        if not verdict.ok:
            log.info("tone guard rejected the rewrite: %s", verdict.reason)
            return outcome(draft, False, verdict.reason, gen.text)
        return outcome(gen.text, True, None, gen.text)


class LocalToneStage(GuardedStage):
    """`tone.runtime: torch`: the LoRA-merged model through transformers (the fallback runtime,
    and the one `ragbot tone train` evaluates with when asked)."""

    def __init__(self, tokenizer, model, *, timeout_s: float, threads: int | None = None,
                 prompt_lookup_tokens: int = 20, copy_bias: float = 0.0, queue_size: int = 8,
                 name: str = "local") -> None:
        super().__init__(timeout_s=timeout_s, queue_size=queue_size, name=name)
        self.tokenizer, self.model = tokenizer, model
        self.threads = threads
        self.prompt_lookup_tokens = prompt_lookup_tokens
        self.copy_bias = copy_bias
        self.eos_id = prompting.end_of_turn_id(tokenizer)

    def generate(self, draft: str, *, deadline: float | None = None,
                 prompt_lookup_tokens: int | None = None) -> Generation:
        """Greedy rewrite of `draft`; stops at end of turn, the token budget or `deadline`
        (a time.monotonic() value)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Deadline(StoppingCriteria):
            hit = False

            def __call__(self, input_ids, scores, **kwargs):
                if deadline is not None and time.monotonic() >= deadline:
                    Deadline.hit = True
                    return torch.ones(input_ids.shape[0], dtype=torch.bool)
                return torch.zeros(input_ids.shape[0], dtype=torch.bool)

        lookup = self.prompt_lookup_tokens if prompt_lookup_tokens is None else prompt_lookup_tokens
        started = time.perf_counter()
        ids = prompting.prompt_ids(self.tokenizer, draft)
        draft_tokens = len(self.tokenizer(draft, add_special_tokens=False)["input_ids"])
        input_ids = torch.tensor([ids])
        processors = []
        if self.copy_bias:
            from transformers import LogitsProcessorList

            source = prompting.copy_source(draft)
            encoded = self.tokenizer(source, add_special_tokens=False,
                                     return_offsets_mapping=True)
            processors = LogitsProcessorList([copy_bias_processor(
                encoded["input_ids"], len(ids), self.copy_bias,
                exact=prompting.fact_positions(source, encoded["offset_mapping"]))])
        with torch_threads(self.threads), torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                do_sample=False, num_beams=1, use_cache=True,
                max_new_tokens=max_new_tokens(draft_tokens),
                eos_token_id=self.eos_id, pad_token_id=self.tokenizer.pad_token_id,
                prompt_lookup_num_tokens=lookup or None, logits_processor=processors or None,
                stopping_criteria=StoppingCriteriaList([Deadline()]))
        new = out[0, len(ids):].tolist()
        finished = self.eos_id in new
        if finished:
            new = new[:new.index(self.eos_id)]
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        return Generation(text, finished, Deadline.hit and not finished, len(new),
                          time.perf_counter() - started)


class GenaiToneStage(GuardedStage):
    """`tone.runtime: onnx` (default): the same merged model exported for onnxruntime-genai
    (bot/tone/genai.py), greedy with the copy bias; no torch in the process."""

    def __init__(self, model, *, timeout_s: float, copy_bias: float = 0.0,
                 prompt_lookup_tokens: int = 20, queue_size: int = 8, name: str = "local") -> None:
        super().__init__(timeout_s=timeout_s, queue_size=queue_size, name=name)
        self.model = model
        self.copy_bias = copy_bias
        self.prompt_lookup_tokens = prompt_lookup_tokens

    def generate(self, draft: str, *, deadline: float | None = None,
                 prompt_lookup_tokens: int | None = None) -> Generation:
        started = time.perf_counter()
        budget = max_new_tokens(len(self.model.encode(draft)))
        lookup = self.prompt_lookup_tokens if prompt_lookup_tokens is None else prompt_lookup_tokens
        ids, finished, timed_out = self.model.generate(draft, max_new=budget, deadline=deadline,
                                                       copy_bias=self.copy_bias, lookup=lookup)
        return Generation(self.model.decode(ids), finished, timed_out, len(ids),
                          time.perf_counter() - started)


class PassThroughStage:
    """Sends every draft unchanged, with the reason the model could not be used."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def rewrite(self, draft: str) -> ToneOutcome:
        return ToneOutcome(draft, False, self.reason)


def load_local_stage(settings: Settings, adapter: Path | None = ADAPTER_DIR, *,
                     name: str = "local", runtime: str | None = None) -> GuardedStage:
    """The local stage with `adapter` (None: the untrained base model, for eval) on
    `runtime` (default `tone.runtime`). Raises ToneModelError when the base model or the
    adapter is missing."""
    cfg = settings.tone
    runtime = runtime or cfg.runtime
    if adapter is not None:
        check_adapter(adapter)
    if runtime == "onnx":
        from bot.tone.genai import load_genai_model

        return GenaiToneStage(load_genai_model(settings, adapter), timeout_s=cfg.timeout_s,
                              copy_bias=cfg.copy_bias, queue_size=cfg.queue_size,
                              prompt_lookup_tokens=cfg.prompt_lookup_tokens, name=name)
    from bot.tone.model import load_for_inference

    tokenizer, model = load_for_inference(settings.data_dir, adapter)
    return LocalToneStage(tokenizer, model, timeout_s=cfg.timeout_s, threads=cfg.threads,
                          prompt_lookup_tokens=cfg.prompt_lookup_tokens,
                          copy_bias=cfg.copy_bias, queue_size=cfg.queue_size, name=name)


def load_tone_stage(settings: Settings):
    """The configured tone stage, with its model loaded now (not on the first answer)."""
    if settings.tone.backend == "openai":
        from bot.tone.openai_stage import OpenAIToneStage

        return OpenAIToneStage(settings)
    try:
        return load_local_stage(settings, adapter_path(settings))
    except (ToneModelError, OSError, ImportError) as exc:
        # Missing model files must not take the bot down: answers go out in the neutral voice.
        log.warning("tone stage off: %s", exc)
        return PassThroughStage(f"tone model unavailable: {exc}")
