"""Embedding backends: ONNX gives the torch vectors, a backend switch never mixes vector spaces,
and length-sorted encoding keeps each vector with its text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.knowledge import vectors as store
from bot.knowledge.embedding import length_sorted_batches
from bot.knowledge.batches import CountingEmbeddings
from bot.knowledge.sync import sync_source

pytestmark = pytest.mark.slow  # exports and runs the real embedding model

TEXTS = [
    "Expense reports are due every Friday before noon.",
    "VPN",
    "The VPN token is reset from the self-service portal; ask #it-help if the portal is down. " * 6,
    "Parental leave can be taken in blocks of one month.",
    "",
]


@pytest.fixture(scope="module")
def models_dir(_model_cache: Path) -> Path:
    return _model_cache / "models"  # the session's shared export (~15 s, once)


def _torch_vectors(texts: list[str]) -> np.ndarray:
    model = store._embeddings(store.resolve_model_path("all-MiniLM-L6-v2"), 64)
    return np.asarray(model.embed_documents(texts))


@pytest.mark.parametrize("backend,floor", [("onnx", 0.9999), ("onnx-int8", 0.97)])
def test_onnx_matches_torch(models_dir: Path, backend: str, floor: float) -> None:
    onnx = store._embeddings(store.resolve_model_path("all-MiniLM-L6-v2"), 2, backend,
                             str(models_dir))  # batch 2: several length-sorted batches
    got, want = np.asarray(onnx.embed_documents(TEXTS)), _torch_vectors(TEXTS)
    cosine = (got * want).sum(axis=1)
    assert cosine.min() >= floor, (backend, cosine)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    assert np.dot(onnx.embed_query(TEXTS[0]), want[0]) >= floor


def test_length_sorted_batches_cover_every_index_once() -> None:
    lengths = [5, 1, 9, 9, 3, 7, 2]
    batches = length_sorted_batches(lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[float(len(t)), float(sum(map(ord, t)))] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_counting_embeddings_keep_order_and_embed_duplicates_once() -> None:
    inner = _Recorder()
    seen: list[tuple[int, int]] = []
    counting = CountingEmbeddings(inner, 6, lambda done, total: seen.append((done, total)))
    texts = ["bb", "a", "dddd", "a", "ccc", "bb"]
    assert counting.embed_documents(texts) == inner.embed_documents(texts)
    assert inner.calls[0] == ["dddd", "ccc", "bb", "a"]  # distinct, longest first
    assert counting.embed_documents(["a", "eeeee"]) == [[1.0, 97.0], [5.0, 505.0]]
    assert inner.calls[2] == ["eeeee"]  # "a" came from this sync's cache
    assert seen[-1] == (5, 6)


def test_sync_embeds_in_the_backends_token_length_order(models_dir: Path) -> None:
    onnx = store._embeddings(store.resolve_model_path("all-MiniLM-L6-v2"), 64, "onnx",
                             str(models_dir))
    # few characters, many tokens (digits and symbols split) against many characters, few tokens
    texts = ["a b", "x9-7/3#2=1%5&8", "internationalization", "q"]
    lengths = [len(e.ids) for e in onnx.encoder.tokenizer.encode_batch(texts)]
    order = onnx.length_order(texts)
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)
    assert texts[order[0]] == "x9-7/3#2=1%5&8"  # the longest by tokens, not by characters

    class Ordered(_Recorder):
        def length_order(self, texts):
            return onnx.length_order(texts)

    inner = Ordered()
    counting = CountingEmbeddings(inner, 4, None)
    counting.prefill(texts + ["q"])
    assert inner.calls == [[texts[i] for i in order]]  # one distinct pass, token-length order
    assert counting.embed_documents(["q", "a b"]) == inner.embed_documents(["q", "a b"])
    assert len(inner.calls) == 2  # served from the prefill (the second call is the check's own)
    assert counting.upfront_seconds == counting.seconds > 0


def test_backend_switch_refuses_then_full_sync_reembeds(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    settings = settings.model_copy(update={"index": settings.index.model_copy(
        update={"backend": "torch"})})
    first = sync_source(settings, "wiki")
    assert first.ok and first.chunks_embedded == 2
    assert store.indexed_spaces(settings) == {"wiki": store.vector_space(settings)}

    int8 = settings.model_copy(update={"index": settings.index.model_copy(
        update={"backend": "onnx-int8"})})
    refused = sync_source(int8, "wiki")
    assert not refused.ok and "ragbot sync --source wiki --full" in refused.error
    assert "EmbeddingMismatchError" in refused.error

    onnx = settings.model_copy(update={"index": settings.index.model_copy(
        update={"backend": "onnx"})})
    assert sync_source(onnx, "wiki").ok  # same vector space as torch: nothing to redo

    full = sync_source(int8, "wiki", full=True)
    assert full.ok and full.chunks_embedded == 2  # unchanged chunks re-embedded, not skipped
    assert store.indexed_spaces(int8) == {"wiki": store.vector_space(int8)}
    assert sync_source(int8, "wiki").ok
    collection = store.chroma_client(int8).get_collection(int8.index.collection)
    assert collection.count() == 2
    query = store.embeddings(int8).embed_query("When are expense reports due?")
    found = collection.query(query_embeddings=[query], n_results=1,
                             include=["metadatas", "distances"])
    assert found["metadatas"][0][0]["source_id"] == "expenses.md"
    assert found["distances"][0][0] < 0.6  # still cosine distance after the metadata change


def test_onnx_export_is_shared_by_every_data_dir(make_settings, tmp_path: Path) -> None:
    from bot.config import cache_dir

    first, second = make_settings(), make_settings()
    second.data_dir = tmp_path / "another-data-dir"
    assert first.index.backend == "onnx"  # the default
    exports = cache_dir() / "models"
    assert sync_source(first, "wiki").ok
    after_first = {p.stat().st_mtime_ns for p in exports.glob("*/model.onnx")}
    assert after_first  # the export is in the machine-wide cache...
    assert sync_source(second, "wiki").ok
    assert {p.stat().st_mtime_ns for p in exports.glob("*/model.onnx")} == after_first  # reused
    assert not (first.data_dir / "models").exists() and not (second.data_dir / "models").exists()
