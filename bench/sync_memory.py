"""Peak memory of a first sync against the size of the source: does RSS grow with the page count?

    .venv/bin/python bench/sync_memory.py [--small 2000] [--large 20000] [--dims 32]

Generates two folders of Markdown pages (about 2.4 kB each, two chunks at the default chunk size)
under bench/out/sync-memory/, and runs a first sync of each in its own fresh process, with a
deterministic fake embedding (LangChain's `DeterministicFakeEmbedding`, as the tests use it:
32 dimensions by default; `--dims 384` is the real model's size) so that the number measures the
sync (listing, chunking, the embedding cache, the record manager, Chroma's writes), not the
model. Each child reports its peak RSS (`ru_maxrss`); the script prints both and their ratio.
The bar of issue #15: the large source peaks under 1.5x the small one. An embedded Chroma keeps
its HNSW index in this process, and that does grow with the vectors it holds: 60,000 chunks x
384 float32 is about 100 MB with the graph, which at `--dims 384` is most of the difference.

Measured on the 2-core dev machine (peak RSS, 2,000 -> 20,000 pages, 6,000 -> 60,000 chunks):
- `--dims 32`: before streaming (b2f9be4) 254 -> 474 MB (1.87x); now 215 -> 263 MB (1.23x).
- `--dims 384`: before 326 -> 687 MB (2.10x); now 241 -> 367 MB (1.52x), of which about 100 MB
  is the embedded Chroma's in-process HNSW index (with `index.chroma_url` it lives in the server).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "sync-memory"
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()


def page(n: int) -> str:
    """A page of about 2.4 kB whose text differs from every other page's."""
    lines = [f"# Page {n}", ""]
    for para in range(6):
        words = [WORDS[(n * 7 + para * 3 + i) % len(WORDS)] for i in range(60)]
        lines.append(f"Paragraph {para} of page {n}: " + " ".join(words) + ".")
        lines.append("")
    return "\n".join(lines)


def generate(count: int) -> Path:
    folder = OUT / f"pages-{count}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for n in range(count):
        target = folder / f"section-{n // 500:03d}" / f"page-{n:05d}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page(n), encoding="utf-8")
    marker.write_text("")
    return folder


def child(folder: Path, data_dir: Path, dims: int) -> None:
    """Run in a fresh process: one first sync with the fake embedding; print JSON."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from bot.config import parse_settings
    from bot.knowledge import vectors
    from bot.knowledge.sync import sync_source

    fake = DeterministicFakeEmbedding(size=dims)
    vectors.embeddings = lambda settings: fake  # the model is not what this measures
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = parse_settings({"data_dir": str(data_dir), "tone": {"enabled": False},
                               "index": {"collection": "memory"},
                               "sources": [{"name": "gen", "type": "folder",
                                            "path": str(folder)}]}, ROOT)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = sync_source(settings, "gen")
    seconds = time.perf_counter() - started
    assert result.ok, result.error
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"pages": result.added, "chunks": result.chunks_embedded,
                      "baseline_mb": baseline / 1024, "peak_mb": peak / 1024,
                      "seconds": seconds}))


def measure(count: int, dims: int) -> dict:
    folder = generate(count)
    out = subprocess.run([sys.executable, __file__, "--child", str(folder),
                          str(OUT / f"data-{count}"), str(dims)], capture_output=True, text=True,
                         check=False, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"sync of {count} pages failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--dims", type=int, default=32, help="fake embedding size (the tests': 32)")
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "DATA_DIR", "DIMS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
        return
    rows = {count: measure(count, args.dims) for count in (args.small, args.large)}
    print(f"fake embedding: {args.dims} dimensions")
    print(f"{'pages':>7} {'chunks':>7} {'before sync MB':>15} {'peak RSS MB':>12} {'seconds':>8}")
    for count, row in rows.items():
        print(f"{row['pages']:>7} {row['chunks']:>7} {row['baseline_mb']:>15.0f} "
              f"{row['peak_mb']:>12.0f} {row['seconds']:>8.1f}")
    ratio = rows[args.large]["peak_mb"] / rows[args.small]["peak_mb"]
    print(f"peak RSS ratio {args.large} / {args.small} pages: {ratio:.2f}x (bar: < 1.5x)")


if __name__ == "__main__":
    main()
