"""Embedding backends: `torch` (sentence-transformers) and `onnx` / `onnx-int8` (onnxruntime).

`onnx` is the default: the same vectors as torch (so an index built with either serves the
other) at ~0.6x the encode time, and a question embedded in 14.8 ms instead of 44.8 ms (p50 over
60 dev questions, the two backends side by side on 2 busy cores).

Why a hand-written ONNX path instead of sentence-transformers' `backend="onnx"`: that backend runs
through `optimum`, and `pip install "optimum[onnxruntime]"` (or `optimum-onnx`) downgrades
transformers 5.x to 4.57 here, which the tone model needs. So the packaged weights are exported
once, offline, with `torch.onnx.export` into `<cache dir>/models/<model>-<sha>/` and run with
onnxruntime directly. The graph includes the sentence-transformers head (mean pooling over the
attention mask, then L2 normalisation) and the tokenizer is the model's own `tokenizer.json`,
truncated at the model's `max_seq_length`, so the vectors are the torch vectors
(cosine >= 0.9999 for fp32; tests/knowledge/test_embedding_backend.py).
`onnx-int8` is `onnxruntime.quantization.quantize_dynamic` of that graph: faster, not identical.

Vector spaces: torch and onnx (fp32) compute the same function and share a space; onnx-int8 is
its own space. `vector_space()` names it; the index refuses to mix spaces (bot/knowledge/sync.py).

Texts are encoded sorted by token length and put back in order: a batch padded to its longest
text wastes little when its texts are about as long.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.knowledge.vector_cache import VectorCache

BACKENDS = ("torch", "onnx", "onnx-int8")
_export_lock = threading.Lock()


def vector_space(model: str, backend: str) -> str:
    """Vectors with the same space id may share a collection; different ones must not."""
    return f"{model}|{'int8' if backend == 'onnx-int8' else 'fp32'}"


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Index batches, longest texts first, each batch of similar lengths."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _weights_digest(model_path: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        path = model_path / name
        if path.exists():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:12]


def onnx_model_dir(model_path: str | Path, models_dir: Path) -> Path:
    model_path = Path(model_path)
    return models_dir / f"{model_path.name}-{_weights_digest(model_path)}"


def export_onnx(model_path: str | Path, models_dir: Path, *, int8: bool) -> Path:
    """The ONNX file for these weights, exported (and quantized) once and reused after.

    `models_dir` is shared by every data_dir on the machine (and by concurrent processes: a
    sync and the bot), so the export holds a file lock and each file appears atomically."""
    from filelock import FileLock

    target_dir = onnx_model_dir(model_path, models_dir)
    fp32, q8 = target_dir / "model.onnx", target_dir / "model-int8.onnx"
    if fp32.exists() and (q8.exists() or not int8):
        return q8 if int8 else fp32
    target_dir.mkdir(parents=True, exist_ok=True)
    with _export_lock, FileLock(str(target_dir / ".export.lock")):
        if not fp32.exists():
            _export_fp32(Path(model_path), fp32)
        if int8 and not q8.exists():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp = q8.with_suffix(f".{os.getpid()}.tmp.onnx")
            # per-channel: per-tensor int8 drops the worst chunk's cosine to ~0.76, per-channel ~0.99
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(tmp, q8)
    return q8 if int8 else fp32


def _export_fp32(model_path: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    class SentenceEncoder(torch.nn.Module):  # transformer + mean pooling + normalize, as ST does
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    bert = AutoModel.from_pretrained(str(model_path), local_files_only=True,
                                     attn_implementation="eager").eval()
    example = torch.ones((2, 16), dtype=torch.long)
    tmp = target.with_suffix(f".{os.getpid()}.tmp.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        torch.onnx.export(
            SentenceEncoder(bert), (example, example, torch.zeros_like(example)), str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["sentence_embedding"], opset_version=17, dynamo=False,
            dynamic_axes={name: {0: "batch", 1: "seq"}
                          for name in ("input_ids", "attention_mask", "token_type_ids")}
            | {"sentence_embedding": {0: "batch"}})
    os.replace(tmp, target)


class OnnxEncoder:
    """`encode(texts) -> (n, dim) float32`, unit-normalised; thread-safe (onnxruntime is)."""

    def __init__(self, model_path: str | Path, onnx_path: Path, *, batch_size: int = 64,
                 threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = Path(model_path)
        config = json.loads((model_path / "sentence_bert_config.json").read_text())
        self.max_length = int(config.get("max_seq_length", 256))
        self.dim = int(json.loads((model_path / "config.json").read_text())["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is None:  # torch's default (one per core), without importing torch (~2 s)
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
                os.cpu_count() or 1)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning, as in the tone runtime: on 2 busy cores
        # (a sync, the tone model and the answer share them) spinning threads steal the core the
        # work needs. 54 composer units (bench/ort_spinning.py, A/B interleaved in one process):
        # 1.19 -> 1.05 s p50 at load 4.3; on an idle machine spinning is the faster one, 0.258
        # against 0.293 s, a 35 ms cost per question we take for the busy case.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.onnx_path = Path(onnx_path)
        self.session = ort.InferenceSession(str(onnx_path), options,
                                            providers=["CPUExecutionProvider"])
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        out: np.ndarray | None = None
        for batch in length_sorted_batches([len(e.ids) for e in encodings], self.batch_size):
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for row, i in enumerate(batch):
                enc = encodings[i]
                ids[row, :len(enc.ids)] = enc.ids
                mask[row, :len(enc.ids)] = enc.attention_mask
                types[row, :len(enc.ids)] = enc.type_ids
            vectors = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": types})[0]
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batch] = vectors
        return out


class OnnxEmbeddings:
    """LangChain's `Embeddings` interface over an `OnnxEncoder` (the same interface the torch path
    has), reading and writing the on-disk `VectorCache` when given one. Duck-typed, like
    batches.CountingEmbeddings: the base class pulls in langchain_core.runnables (~0.2 s of every
    cold `ragbot ask`), and the Chroma store, `index()` and the answer pipeline only call
    `embed_documents` / `embed_query`."""

    def __init__(self, encoder: OnnxEncoder, cache: VectorCache | None = None) -> None:
        self.encoder = encoder
        self.cache = cache

    def _vectors(self, texts: list[str]) -> np.ndarray:
        if self.cache is None:
            return self.encoder.encode(texts)
        known = self.cache.get(texts)
        missing = [i for i in range(len(texts)) if i not in known]
        out = np.empty((len(texts), self.encoder.dim), dtype=np.float32)
        if missing:
            fresh = self.encoder.encode([texts[i] for i in missing])
            out[missing] = fresh
            self.cache.put([texts[i] for i in missing], fresh)
        for i, vector in known.items():
            out[i] = vector
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._vectors(texts).tolist()

    def length_order(self, texts: list[str]) -> list[int]:
        """Indices of `texts`, longest in tokens first: a caller that encodes in slices (sync,
        for progress) keeps the padding of one global sort. Sorting by characters instead left
        21% of every batch as padding on the handbook (tokens per character vary with code,
        URLs and tables), against 3%."""
        lengths = [len(e.ids) for e in self.encoder.tokenizer.encode_batch(list(texts))]
        return sorted(range(len(texts)), key=lambda i: -lengths[i])

    def embed_query(self, text: str) -> list[float]:
        return self._vectors([text])[0].tolist()


def vector_cache_for(encoder: OnnxEncoder, max_rows: int) -> VectorCache:
    """The cache file beside `encoder`'s export, tied to that export, to the tokenizer and its
    truncation, and to this module's code: a release that changes how a text is encoded starts
    from an empty cache instead of reading vectors of the old function."""
    from bot.knowledge.vector_cache import FORMAT, VectorCache

    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:12]

    stat = encoder.onnx_path.stat()
    identity = (f"format={FORMAT} onnx={encoder.onnx_path.name}:{stat.st_size}:{stat.st_mtime_ns} "
                # the tokenizer as configured (its JSON holds the truncation), and this code
                f"tokenizer={digest(encoder.tokenizer.to_str().encode())} "
                f"code={digest(Path(__file__).read_bytes())}")
    return VectorCache(encoder.onnx_path.with_suffix(".vectors.sqlite"), identity,
                       max_rows=max_rows)
