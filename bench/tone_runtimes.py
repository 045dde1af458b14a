"""The tone runtimes side by side in one process: transformers (`torch`) vs onnxruntime (`onnx`).

    .venv/bin/python bench/tone_runtimes.py [--pairs N] [--threads 1]

Both run the shipped adapter with the product's decoding (copy bias, prompt lookup), same drafts
(the first N held-out pairs), interleaved draft by draft so a neighbour's load spike hits both.
Reports the model load time (the onnx export is built first if this machine has none, and is not
counted), p50/p95 of the whole `generate()`, tokens per second and guard acceptance.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bot.config import REPO_ROOT, load_settings
from bot.tone import guard
from bot.tone.evaluate import _percentile
from bot.tone.stage import adapter_path, load_local_stage
from bot.tone.train import load_pairs

HELDOUT = REPO_ROOT / "prompts" / "tone" / "heldout.jsonl"
RUNTIMES = ("torch", "onnx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    settings = load_settings()
    settings.tone.threads = args.threads
    settings.tone.timeout_s = 120.0
    adapter = adapter_path(settings)
    from bot.tone.genai import ensure_export

    ensure_export(settings.data_dir, adapter, settings.tone.precision)  # not part of load time
    stages, loads = {}, {}
    for runtime in RUNTIMES:
        started = time.perf_counter()
        stages[runtime] = load_local_stage(settings, adapter, runtime=runtime)
        loads[runtime] = time.perf_counter() - started
    drafts = [p.neutral for p in load_pairs(HELDOUT)[:args.pairs]]
    times = {r: [] for r in RUNTIMES}
    tokens = {r: 0 for r in RUNTIMES}
    accepted = {r: 0 for r in RUNTIMES}
    load_before = os.getloadavg()[0]
    for draft in drafts:
        for runtime in RUNTIMES:
            gen = stages[runtime].generate(draft)
            times[runtime].append(gen.seconds)
            tokens[runtime] += gen.new_tokens
            accepted[runtime] += gen.finished and guard.check(draft, gen.text).ok
    print(f"{len(drafts)} held-out drafts, {args.threads} thread(s), precision "
          f"{settings.tone.precision}; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"{'runtime':<8}{'load s':>8}{'p50 s':>8}{'p95 s':>8}{'tok/s':>8}{'accepted':>10}")
    for r in RUNTIMES:
        print(f"{r:<8}{loads[r]:>8.1f}{statistics.median(times[r]):>8.2f}"
              f"{_percentile(times[r], 0.95):>8.2f}{tokens[r] / sum(times[r]):>8.1f}"
              f"{accepted[r]:>6}/{len(drafts)}")
    speedup = statistics.median(times["torch"]) / statistics.median(times["onnx"])
    print(f"p50 speedup onnx vs torch: {speedup:.1f}x")


if __name__ == "__main__":
    main()
