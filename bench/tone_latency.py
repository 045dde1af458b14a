"""Latency of the local tone rewrite, with and without prompt-lookup decoding, side by side.

    .venv/bin/python bench/tone_latency.py [--config CONFIG] [--adapter DIR] [--per-size 6]
        [--repeats 2] [--lookup 10] [--threads 1] [--drafts RESULTS.jsonl]
        [--out bench/out/tone_latency.json]

Drafts are the held-out neutral drafts (prompts/tone/heldout.jsonl), or with `--drafts` the
drafts of the answered questions of a `ragbot eval` results file (what the bot really rewrites),
grouped by their number of citation markers: 1, 2, 3 and 4 (4: 4 or more). Each draft is rewritten `--repeats` times per
setting, interleaved (lookup off, on, off, on, ...) so a neighbour's load spike hits both alike.
The time is the whole `generate()` (prompt building, prefill, decoding, detokenising); model
loading is not included (the bot loads once per process). Reports p50/p95 per size and the p50
speedup of prompt lookup. The goal: p50 <= 1.5 s for a 3-sentence answer on 2 cores. The CPU
time of the lookup runs (process time: what the rewrite costs an idle core, whatever the
neighbours do) is printed too, p50 and max over every draft: what `tone.timeout_s` must cover
with room for a busy core.

Machine load matters a lot on shared cores: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path

from bot.config import REPO_ROOT, load_settings
from bot.tone import guard
from bot.tone.evaluate import _percentile
from bot.tone.stage import adapter_path, load_local_stage
from bot.tone.train import load_pairs

HELDOUT = REPO_ROOT / "prompts" / "tone" / "heldout.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--adapter", type=Path, help="default: tone.adapter, else the shipped one")
    parser.add_argument("--pairs", type=Path, default=HELDOUT)
    parser.add_argument("--per-size", type=int, default=6, help="drafts per sentence count")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--lookup", type=int, default=None,
                        help="prompt_lookup_num_tokens for the 'on' runs (default: the config's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: tone.threads of the config)")
    parser.add_argument("--drafts", type=Path,
                        help="a `ragbot eval` results JSONL: rewrite its answered drafts instead")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    settings = load_settings(args.config)
    if args.threads is not None:
        settings.tone.threads = args.threads
    lookup = args.lookup if args.lookup is not None else settings.tone.prompt_lookup_tokens or 10
    adapter = args.adapter or adapter_path(settings)
    started = time.perf_counter()
    stage = load_local_stage(settings, adapter)
    print(f"model + adapter loaded in {time.perf_counter() - started:.1f}s; "
          f"threads={settings.tone.threads}, prompt lookup={lookup} tokens; "
          f"load average {os.getloadavg()[0]:.2f}")

    if args.drafts:
        rows_in = [json.loads(line) for line in args.drafts.read_text().splitlines() if line]
        drafts = [r["draft"] for r in rows_in if not r["abstained"] and r["draft"]]
    else:
        drafts = [pair.neutral for pair in load_pairs(args.pairs)]
    by_size: dict[int, list[str]] = defaultdict(list)
    for draft in drafts:
        size = min(len(guard.markers(draft)), 4)
        if size >= 1 and len(by_size[size]) < args.per_size:
            by_size[size].append(draft)
    stage.generate(by_size[min(by_size)][0])  # warm-up: first call pays one-off allocations

    rows, raw, cpu = [], {}, []
    for size in sorted(by_size):
        times = {0: [], lookup: []}
        tokens, accepted, same = [], 0, 0
        for draft in by_size[size]:
            for _ in range(args.repeats):
                texts = {}
                for setting in (0, lookup):
                    before = time.process_time()
                    gen = stage.generate(draft, prompt_lookup_tokens=setting)
                    if setting == lookup:
                        cpu.append(time.process_time() - before)
                    times[setting].append(gen.seconds)
                    texts[setting] = gen.text
                    if setting == lookup:
                        tokens.append(gen.new_tokens)
                        accepted += gen.finished and guard.check(draft, gen.text).ok
                same += texts[0] == texts[lookup]  # prompt lookup must not change the output
        off, on = times[0], times[lookup]
        row = {"sentences": size, "drafts": len(by_size[size]), "runs": len(on),
               "new_tokens_mean": statistics.mean(tokens),
               "off_p50_s": _percentile(off, 0.5), "off_p95_s": _percentile(off, 0.95),
               "on_p50_s": _percentile(on, 0.5), "on_p95_s": _percentile(on, 0.95),
               "accepted": accepted / len(on), "same_output": same / len(on)}
        row["speedup_p50"] = row["off_p50_s"] / row["on_p50_s"]
        rows.append(row)
        raw[size] = times
        print(f"{size} sentence(s): done", flush=True)

    print(f"\nload average after: {os.getloadavg()[0]:.2f}; CPU time of a rewrite (lookup on): "
          f"p50 {_percentile(cpu, 0.5):.2f}s, p90 {_percentile(cpu, 0.9):.2f}s, max "
          f"{max(cpu):.2f}s (tone.timeout_s {settings.tone.timeout_s:g}s)\n")
    header = (f"{'sentences':>9} {'drafts':>6} {'runs':>4} {'tokens':>6} | {'no lookup p50':>13} "
              f"{'p95':>6} | {'lookup p50':>10} {'p95':>6} | {'speedup':>7} | {'guard ok':>8} | "
              f"{'same text':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['sentences']:>9} {r['drafts']:>6} {r['runs']:>4} {r['new_tokens_mean']:>6.0f} | "
              f"{r['off_p50_s']:>12.2f}s {r['off_p95_s']:>5.2f}s | {r['on_p50_s']:>9.2f}s "
              f"{r['on_p95_s']:>5.2f}s | {r['speedup_p50']:>6.1f}x | {100 * r['accepted']:>7.0f}% | "
              f"{100 * r['same_output']:>8.0f}%")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"threads": settings.tone.threads, "lookup": lookup,
                                        "adapter": str(adapter), "rows": rows, "cpu_s": cpu,
                                        "times": {str(k): {str(s): v for s, v in t.items()}
                                                  for k, t in raw.items()}}, indent=2) + "\n")
        print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
