"""Experiment (not part of the product): a shallower document encoder distilled from MiniLM-L6.

    .venv/bin/python bench/distill_student.py --config HANDBOOK_CONFIG --out DIR \
        [--layers 0,1,5] [--epochs 2] QUESTIONS.jsonl [...]

The question it answers: can the full sync reach 90 s on these 2 cores by embedding documents
with a student that keeps only some of MiniLM-L6's 6 layers, trained here to put documents where
the full model puts them (so questions are still embedded by the full model, and the index and
the abstention threshold keep their meaning)? It needs a synced index of the wiki (`ragbot sync`
with HANDBOOK_CONFIG); the stored vectors are the teacher's.

1. Training: pages split in two by a hash of their id; the student (the kept layers, initialised
   from the teacher's) learns cosine similarity to the teacher's stored vectors on one half only.
   Fidelity (cosine to the teacher) is reported on the other half.
2. Speed: the teacher and the student (both ONNX fp32) encode every chunk, one after the other,
   in this run: the ratio is what a full sync would save.
3. Quality: a copy of the index gets the student's vectors and `ragbot eval`'s metrics are
   computed on it and on the original, side by side.

Measured 2026-11-21 with this script (`--config` a handbook config with tone off, the dev
questions; layers 0,1,5; 2 epochs = 336 steps of 32 on 5,391 chunks; 1,548 s to train on 2
shared cores): fidelity 0.876 mean / 0.797 p5 on unseen pages (0.901 on seen ones); encode of
the 10,885 chunks, same run: teacher 253.8 s, student 136.9 s (0.54x); dev questions, teacher
documents -> student documents: hit@1 0.697 -> 0.679, hit@5 0.915 -> 0.909, MRR 0.791 -> 0.768,
span@4 0.806 -> 0.745, cited 0.679 -> 0.642. Quality drops, so the product keeps the full model
(see the #8 notes).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
import zlib
from pathlib import Path

import numpy as np

from bot.answering.pipeline import Pipeline
from bot.config import cache_dir, load_settings
from bot.evaluation import METRICS, load_cases, run_eval
from bot.knowledge import vectors as store
from bot.knowledge.embedding import OnnxEncoder, export_onnx


def _teacher_vectors(settings):
    collection = store.chroma_client(settings).get_collection(settings.index.collection)
    got = collection.get(include=["documents", "embeddings", "metadatas"])
    return (got["ids"], got["documents"], np.asarray(got["embeddings"], dtype=np.float32),
            [m["source_id"] for m in got["metadatas"]])


def _train(teacher_path: str, texts, targets, train_idx, test_idx, layers, epochs, out: Path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    rng = random.Random(0)
    tokenizer = AutoTokenizer.from_pretrained(teacher_path)
    bert = AutoModel.from_pretrained(teacher_path)
    bert.encoder.layer = torch.nn.ModuleList([bert.encoder.layer[i] for i in layers])
    bert.config.num_hidden_layers = len(layers)

    def encode(batch):
        x = tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = bert(**x).last_hidden_state
        mask = x["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)

    def fidelity(idx, n=400):
        bert.eval()
        with torch.no_grad():
            cos = np.concatenate([(encode([texts[j] for j in idx[i:i + 64]]).numpy()
                                   * targets[idx[i:i + 64]]).sum(1)
                                  for i in range(0, min(n, len(idx)), 64)])
        bert.train()
        return round(float(cos.mean()), 3), round(float(np.percentile(cos, 5)), 3)

    sample = rng.sample(test_idx, min(400, len(test_idx)))
    print("fidelity before training (mean, p5), unseen pages:", fidelity(sample), flush=True)
    batch_size = 32
    steps = int(epochs * len(train_idx) / batch_size)
    opt = torch.optim.AdamW(bert.parameters(), lr=1e-4, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 30) * max(0.0, 1 - s / steps))
    batches: list[list[int]] = []
    started = time.perf_counter()
    for step in range(steps):
        if not batches:  # shuffled, then length-bucketed (less padding), then shuffled again
            order = train_idx[:]
            rng.shuffle(order)
            for i in range(0, len(order), batch_size * 20):
                bucket = sorted(order[i:i + batch_size * 20], key=lambda j: len(texts[j]))
                batches += [bucket[k:k + batch_size] for k in range(0, len(bucket), batch_size)]
            rng.shuffle(batches)
        batch = batches.pop()
        loss = (1 - (encode([texts[j] for j in batch]) * torch.from_numpy(targets[batch]))
                .sum(1)).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bert.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % 25 == 0:
            print(f"step {step}/{steps} loss {loss.item():.4f} "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    seconds = time.perf_counter() - started
    print("fidelity after training (mean, p5): unseen pages", fidelity(sample),
          "seen pages", fidelity(rng.sample(train_idx, min(400, len(train_idx)))), flush=True)
    bert.save_pretrained(out)
    tokenizer.save_pretrained(out)
    shutil.copy(Path(teacher_path) / "sentence_bert_config.json", out)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("questions", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layers", default="0,1,5")
    parser.add_argument("--epochs", type=float, default=2.0)
    args = parser.parse_args()
    settings = load_settings(args.config)
    if settings.index.backend == "onnx-int8":
        raise SystemExit("the index must hold fp32 vectors (index.backend onnx or torch)")
    teacher_path = store.resolve_model_path(settings.index.embedding_model)
    ids, texts, targets, pages = _teacher_vectors(settings)
    if not ids:
        raise SystemExit(f"{settings.data_dir} holds no index: run `ragbot sync` first")
    half = [zlib.crc32(p.encode()) % 2 for p in pages]
    train_idx = [i for i, h in enumerate(half) if h == 0]
    test_idx = [i for i, h in enumerate(half) if h == 1]
    student = args.out / "student"
    layers = [int(x) for x in args.layers.split(",")]
    train_s = _train(teacher_path, texts, targets, train_idx, test_idx, layers, args.epochs,
                     student)

    timings, encoded = {}, {}
    # the teacher's export is the one every sync on this machine uses (made once, in the cache)
    for name, model, models_dir in (("teacher", Path(teacher_path), cache_dir() / "models"),
                                    ("student", student, args.out / "onnx")):
        encoder = OnnxEncoder(model, export_onnx(model, models_dir, int8=False))
        started = time.perf_counter()
        encoded[name] = encoder.encode(texts)
        timings[name] = time.perf_counter() - started
    vectors = encoded["student"]
    state = args.out / "student-index"
    if state.exists():
        shutil.rmtree(state)
    shutil.copytree(settings.data_dir, state)
    copy = settings.model_copy(update={"data_dir": state})
    collection = store.chroma_client(copy).get_collection(settings.index.collection)
    for i in range(0, len(ids), 2000):
        collection.update(ids=ids[i:i + 2000], embeddings=vectors[i:i + 2000].tolist())

    cases = [c for path in args.questions for c in load_cases(path)]
    rows = {name: run_eval(Pipeline(s), cases)
            for name, s in (("teacher", settings), ("student docs", copy))}
    report = {"layers": layers, "epochs": args.epochs, "train_s": round(train_s),
              "chunks": len(ids), "encode_s": {k: round(v, 1) for k, v in timings.items()},
              "eval": rows}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"encode of {len(ids):,} chunks: teacher {timings['teacher']:.1f} s, student "
          f"{timings['student']:.1f} s ({timings['student'] / timings['teacher']:.2f}x)")
    print(f"{'documents by':<14}" + "".join(f"{k:>12}" for k in METRICS))
    for name, row in rows.items():
        print(f"{name:<14}" + "".join(f"{row[k]:>12.3f}" for k in METRICS))


if __name__ == "__main__":
    main()
