"""Sync speed against its floor, the raw encode of the same chunks, and answer quality, in one run.

    make bench   (= .venv/bin/python bench/sync_speed.py)
    .venv/bin/python bench/sync_speed.py [--corpus DIR] [--limit-pages N]
                                         [--backend torch|onnx|onnx-int8] [--questions FILE]

One table: full sync (fresh data_dir) and where its time goes (list, hash, chunk, embed, Chroma add,
record manager, rest), the raw `encode` of exactly the chunk texts that sync embedded with the same
model object, their ratio, a no-op resync, a one-page-change resync (in process, and as whole
`ragbot sync` processes, the way a user meets them), retrieval latency
(Retriever.search) and the `ragbot eval` metrics of the whole answer pipeline on the question file
(default: the development set bench/questions/sourcegraph_dev.jsonl). The corpus is copied into
bench/out/ first (the one-page change edits the copy, never ../shared). On a shared machine compare
the ratio, not the absolute seconds. `--limit-pages` copies only the first N pages (by path).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from bot.config import REPO_ROOT, parse_settings
from bot.knowledge import vectors as store
from bot.knowledge.chunking import chunk_document
from bot.knowledge.sync import _list, build_connector, sync_source

OUT = REPO_ROOT / "bench" / "out" / "sync-speed"
TIMES: dict[str, float] = defaultdict(float)


@contextmanager
def timed_methods(targets: list[tuple[type, str, str]]):
    """Add each call's seconds of cls.method to TIMES[label] (the whole run; bench only)."""
    saved = []
    for cls, name, label in targets:
        original = getattr(cls, name)
        saved.append((cls, name, original))

        def wrapper(*args, __original=original, __label=label, **kwargs):
            started = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                TIMES[__label] += time.perf_counter() - started

        setattr(cls, name, wrapper)
    try:
        yield
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)


def copy_corpus(corpus: Path, limit: int | None) -> Path:
    target = OUT / f"corpus-{limit or 'all'}"
    shutil.rmtree(target, ignore_errors=True)
    pages = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix in {".md", ".txt"})
    for page in pages[:limit] if limit else pages:
        dest = target / page.relative_to(corpus)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(page, dest)
    return target


def raw_encode(settings, texts: list[str]) -> float:
    model = store.embeddings(settings)
    started = time.perf_counter()
    if settings.index.backend == "torch":
        model._client.encode(texts, batch_size=settings.index.embed_batch_size,
                             normalize_embeddings=True)
    else:
        model.encoder.encode(texts)
    return time.perf_counter() - started


def quality(settings, questions: Path) -> dict:
    """Retrieval latency alone, then the whole pipeline's eval metrics (bot.evaluation)."""
    from bot.answering.pipeline import Pipeline
    from bot.evaluation import load_cases, run_eval

    cases = load_cases(questions)
    pipeline = Pipeline(settings)
    pipeline.retriever.search("warm up")
    latencies = []
    for case in cases:
        started = time.perf_counter()
        pipeline.retriever.search(case.question)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    metrics = run_eval(pipeline, cases, OUT / "sync-speed-eval.jsonl")
    return {"p50": statistics.median(latencies),
            "p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], **metrics}


def write_config(settings, corpus: Path) -> Path:
    import yaml

    config = settings.data_dir / "bench.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(settings.data_dir), "tone": {"enabled": False},
        "index": {"backend": settings.index.backend},
        "sources": [{"name": "bench", "type": "folder", "path": str(corpus)}]}))
    return config


def process_sync(config: Path) -> float:
    """Wall seconds of one whole `ragbot sync` process (python -m bot.cli, this checkout)."""
    import subprocess
    import sys

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot.cli", "-c", str(config), "sync"], cwd=REPO_ROOT,
                   check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - started


def main() -> None:
    from bot.evaluation import METRICS

    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path,
                        default=REPO_ROOT.parent / "shared/corpora/sourcegraph-handbook")
    parser.add_argument("--limit-pages", type=int, default=None)
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default=None,
                        help="default: the config default (index.backend)")
    parser.add_argument("--questions", type=Path,
                        default=REPO_ROOT / "bench/questions/sourcegraph_dev.jsonl")
    args = parser.parse_args()
    from langchain_chroma import Chroma
    from langchain_classic.indexes import SQLRecordManager

    corpus = copy_corpus(args.corpus, args.limit_pages)
    index = {"backend": args.backend} if args.backend else {}
    settings = parse_settings({"data_dir": str(OUT / "state"), "tone": {"enabled": False},
                               "index": index, "sources": [{"name": "bench", "type": "folder",
                                                            "path": str(corpus)}]}, REPO_ROOT)
    backend = settings.index.backend
    settings.data_dir = OUT / f"state-{backend}"
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    settings.data_dir.mkdir(parents=True)
    # An ONNX export lives in the machine-wide cache and is reused: not part of the sync's time.
    started = time.perf_counter()
    store.embeddings(settings).embed_query("load")
    print(f"model load{' (+ ONNX export: first run on this machine only)' if backend != 'torch' else ''}: "
          f"{time.perf_counter() - started:.1f} s")

    source = settings.sources[0]
    texts = [c.page_content for d in _list(build_connector(settings, source))
             for c in chunk_document(d, "bench", settings.index.chunk_size,
                                     settings.index.chunk_overlap)]
    distinct = list(dict.fromkeys(texts))  # sync embeds each distinct text once
    before = raw_encode(settings, distinct)

    with timed_methods([(Chroma, "add_texts", "chroma_add_incl_embed"),
                        (SQLRecordManager, "update", "record_manager"),
                        (SQLRecordManager, "exists", "record_manager"),
                        (SQLRecordManager, "list_keys", "record_manager"),
                        (SQLRecordManager, "delete_keys", "record_manager")]):
        full = sync_source(settings, "bench")
    assert full.ok, full.error
    after = raw_encode(settings, distinct)  # before and after: other jobs' load drifts
    floor = min(before, after)
    noop = sync_source(settings, "bench")
    page = sorted(p for p in corpus.rglob("*.md"))[len(texts) % 7]
    original = page.read_text(encoding="utf-8")
    try:
        page.write_text(original + "\n\nOne more line for the benchmark.\n", encoding="utf-8")
        one = sync_source(settings, "bench")
    finally:
        page.write_text(original, encoding="utf-8")
    # As a user meets them: whole `ragbot sync` processes (imports, config, model load if any).
    config = write_config(settings, corpus)
    noop_process = statistics.median(process_sync(config) for _ in range(3))
    try:
        page.write_text(original + "\n\nAnother line for the benchmark.\n", encoding="utf-8")
        one_process = process_sync(config)
    finally:
        page.write_text(original, encoding="utf-8")
    found = quality(settings, args.questions)

    t = full.timings
    chroma = TIMES["chroma_add_incl_embed"] - (t["embed"] - t["embed_upfront"])
    rm = TIMES["record_manager"]
    rest = full.duration_s - t["list"] - t["hash"] - t["chunk"] - t["embed"] - chroma - rm
    pages = full.added
    print(f"\nbackend {backend}: {pages} pages, {len(texts)} chunks "
          f"({len(set(texts))} distinct), embedded {full.chunks_embedded}")
    rows = [
        ("full sync (fresh data_dir)", f"{full.duration_s:8.1f} s"),
        ("raw encode, same texts, same model (min)", f"{floor:8.1f} s  (before {before:.1f}, "
                                                     f"after {after:.1f})"),
        ("ratio full sync / raw encode", f"{full.duration_s / floor:8.2f} x"),
        ("  list pages", f"{t['list']:8.2f} s"),
        ("  hash pages", f"{t['hash']:8.2f} s"),
        ("  chunk pages", f"{t['chunk']:8.2f} s"),
        ("  embed (inside sync)", f"{t['embed']:8.1f} s"),
        ("  Chroma add (excl. embed)", f"{chroma:8.2f} s"),
        ("  record manager", f"{rm:8.2f} s"),
        ("  rest (open, state, index() bookkeeping)", f"{rest:8.2f} s"),
        ("no-op resync", f"{noop.duration_s:8.2f} s  (embedded {noop.chunks_embedded})"),
        ("one-page-change resync", f"{one.duration_s:8.2f} s  (chunks embedded {one.chunks_embedded})"),
        ("`ragbot sync` process, nothing changed (median of 3)", f"{noop_process:8.2f} s"),
        ("`ragbot sync` process, one page changed", f"{one_process:8.2f} s"),
        (f"retrieval p50 / p95 ({found['questions']} questions)",
         f"{found['p50']:6.1f} / {found['p95']:.1f} ms"),
        (f"eval on {args.questions.name} ({found['answerable']} answerable):", ""),
        *[(f"  {name}", f"{found[name]:8.3f}") for name in METRICS],
        ("  answer latency p50 (retrieve + compose)", f"{found['latency_p50_ms']:6.0f} ms"),
    ]
    for label, value in rows:
        print(f"{label:<52}{value}")


if __name__ == "__main__":
    main()
