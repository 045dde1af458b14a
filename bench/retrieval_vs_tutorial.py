"""ragbot's retrieval against the LangChain tutorial pipeline, side by side in one run.

    .venv/bin/python bench/retrieval_vs_tutorial.py [--corpus DIR] [--questions FILE ...]

Tutorial pipeline: the same pages (read by the folder connector), RecursiveCharacterTextSplitter
1000/200 on the raw page text, Chroma, all-MiniLM-L6-v2, top-10 similarity search. ragbot: a
real `sync` of the corpus as a folder source and `Retriever.search`. Both are scored with the
same document-level hit@1 / hit@5 / MRR and answer-span-in-top-4 (bot.evaluation). State goes to
bench/out/ (reused between runs: delete it to time a cold sync).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bot.answering.pipeline import Pipeline
from bot.answering.types import Answer, Passage
from bot.config import REPO_ROOT, parse_settings
from bot.evaluation import load_cases, score_case
from bot.knowledge import vectors as store
from bot.knowledge.sync import build_connector, sync_source

OUT = REPO_ROOT / "bench" / "out"


def tutorial_index(settings, out: Path):
    import chromadb
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    client = chromadb.PersistentClient(path=str(out / "tutorial-chroma"))
    db = Chroma(collection_name="tutorial", embedding_function=store.embeddings(settings),
                client=client)
    if db._collection.count() == 0:
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        texts, metas = [], []
        for doc in build_connector(settings, settings.sources[0]).list_documents():
            for piece in splitter.split_text(doc.content):
                texts.append(piece)
                metas.append({"source_id": doc.source_id, "title": doc.title})
        started = time.perf_counter()
        for i in range(0, len(texts), 512):
            db.add_texts(texts[i:i + 512], metadatas=metas[i:i + 512])
        print(f"tutorial index: {len(texts)} chunks embedded in {time.perf_counter() - started:.0f} s")
    return db


def measure(name: str, cases, search) -> dict:
    scores, latencies = [], []
    for case in cases:
        started = time.perf_counter()
        passages = search(case.question)
        latencies.append((time.perf_counter() - started) * 1000)
        scores.append(score_case(case, Answer(case.question, "", retrieved=passages)))
    answerable = [s for c, s in zip(cases, scores) if c.answerable]
    n = len(answerable)
    return {"pipeline": name,
            "hit@1": sum(s["rank"] == 1 for s in answerable) / n,
            "hit@5": sum(bool(s["rank"]) and s["rank"] <= 5 for s in answerable) / n,
            "mrr": sum(1 / s["rank"] for s in answerable if s["rank"]) / n,
            "span@4": sum(s["span_top4"] for s in answerable) / n,
            "p50_ms": statistics.median(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path,
                        default=REPO_ROOT.parent / "shared/corpora/sourcegraph-handbook")
    parser.add_argument("--questions", type=Path, nargs="+",
                        default=[REPO_ROOT / "bench/questions/sourcegraph_dev.jsonl"])
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    settings = parse_settings({"data_dir": str(OUT / "ragbot-state"), "tone": {"enabled": False},
                               "sources": [{"name": "sourcegraph", "type": "folder",
                                            "path": str(args.corpus)}]}, REPO_ROOT)
    started = time.perf_counter()
    result = sync_source(settings, "sourcegraph")
    print(f"ragbot sync: {result.counts()} in {time.perf_counter() - started:.0f} s "
          f"(ok={result.ok}, error={result.error})")
    tutorial = tutorial_index(settings, OUT)
    retriever = Pipeline(settings).retriever

    def tutorial_search(question: str) -> list[Passage]:
        return [Passage(id=str(i), source="tutorial", source_id=d.metadata["source_id"],
                        title=d.metadata["title"], url="", headings="", text=d.page_content)
                for i, d in enumerate(tutorial.similarity_search(question, k=10))]

    for path in args.questions:
        cases = load_cases(path)
        rows = [measure("langchain tutorial", cases, tutorial_search),
                measure("ragbot", cases, lambda q: retriever.search(q))]
        print(f"\n{path.name}: {sum(c.answerable for c in cases)} answerable questions")
        print(f"{'pipeline':<20}{'hit@1':>8}{'hit@5':>8}{'MRR':>8}{'span@4':>8}{'p50 ms':>9}")
        for r in rows:
            print(f"{r['pipeline']:<20}{r['hit@1']:>8.3f}{r['hit@5']:>8.3f}{r['mrr']:>8.3f}"
                  f"{r['span@4']:>8.3f}{r['p50_ms']:>9.1f}")


if __name__ == "__main__":
    main()
