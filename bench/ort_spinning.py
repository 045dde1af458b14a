"""onnxruntime's intra-op spinning on or off for the embedding encoder, A/B in one process.

    .venv/bin/python bench/ort_spinning.py [--rounds 8] [--units 54]

Encodes a composer-sized batch of short units (54 by default, a typical question's candidate
units) with three sessions of the same ONNX export, interleaved round by round so every variant
meets the same machine load: 2 threads spinning (onnxruntime's default), 2 threads sleeping
when idle (`session.intra_op.allow_spinning = 0`, what bot/knowledge/embedding.py uses), and 1
thread. Reports p50 and min per variant. Needs the default config's embedding model (exported
on first use into the cache dir).
"""

from __future__ import annotations

import argparse
import statistics
import time

import onnxruntime as ort

from bot.config import load_settings
from bot.knowledge.index import Index


def session(path: str, *, spin: bool, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--units", type=int, default=54)
    args = parser.parse_args()
    encoder = Index(load_settings()).embeddings.encoder
    path = str(encoder.onnx_path)
    texts = [f"Expenses policy > The basics: sentence {i} about receipts, per diems and the "
             "travel rules everyone follows." for i in range(args.units)]
    variants = {"2 threads, spinning": session(path, spin=True, threads=2),
                "2 threads, no spinning": session(path, spin=False, threads=2),
                "1 thread": session(path, spin=False, threads=1)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, sess in variants.items():
            encoder.session = sess
            start = time.perf_counter()
            encoder.encode(texts)
            times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name:24s} p50 {statistics.median(values):.3f} s  min {min(values):.3f} s")


if __name__ == "__main__":
    main()
