"""The on-disk vector cache: what it gives back is what the encoder computes, it is shared by
processes, it never outlives the export it belongs to, it stays within its size, and a broken
file only costs the work it would have saved."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.knowledge import vectors as store
from bot.knowledge.embedding import OnnxEmbeddings, vector_cache_for
from bot.knowledge.vector_cache import VectorCache

TEXTS = ["Expense reports are due every Friday before noon.", "VPN",
         "Parental leave can be taken in blocks of one month.", "", "VPN"]


class _Encoder:
    """Stands in for OnnxEncoder where only the bookkeeping matters: counts what it encodes."""

    dim = 3

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen += texts
        return np.array([[len(t), t.count("e"), 1.0] for t in texts], dtype=np.float32)


def _cache(path: Path, identity: str = "export-1", rows: int = 100) -> VectorCache:
    return VectorCache(path, identity, max_rows=rows)


def test_a_second_process_reads_back_what_the_first_encoded(tmp_path: Path) -> None:
    first = OnnxEmbeddings(_Encoder(), _cache(tmp_path / "v.sqlite"))
    want = first.embed_documents(TEXTS)
    assert first.encoder.seen == TEXTS  # cold: everything encoded
    second = OnnxEmbeddings(_Encoder(), _cache(tmp_path / "v.sqlite"))  # another process's view
    assert second.embed_documents(TEXTS) == want
    assert second.embed_query("VPN") == want[1]
    assert second.encoder.seen == []
    assert second.embed_documents(["VPN", "new text"]) == [want[1], [8.0, 2.0, 1.0]]
    assert second.encoder.seen == ["new text"]  # only the text it had not seen


def test_another_export_or_encoding_empties_the_file(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    OnnxEmbeddings(_Encoder(), _cache(path, "export-1")).embed_documents(TEXTS)
    again = OnnxEmbeddings(_Encoder(), _cache(path, "export-2"))
    again.embed_documents(TEXTS[:2])
    assert again.encoder.seen == TEXTS[:2]
    back = OnnxEmbeddings(_Encoder(), _cache(path, "export-1"))  # the old export's rows are gone
    back.embed_documents(TEXTS[:1])
    assert back.encoder.seen == TEXTS[:1]


def test_the_oldest_rows_go_once_the_cap_is_passed(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    texts = [f"text {i}" for i in range(10)]
    OnnxEmbeddings(_Encoder(), _cache(path, rows=4)).embed_documents(texts)
    cache = _cache(path, rows=4)
    assert sorted(cache.get(texts)) == [6, 7, 8, 9]


def test_a_broken_file_turns_the_cache_off_and_encodes_as_usual(tmp_path: Path, caplog) -> None:
    path = tmp_path / "v.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    embeddings = OnnxEmbeddings(_Encoder(), _cache(path))
    with caplog.at_level(logging.WARNING):
        got = embeddings.embed_documents(TEXTS)
        assert embeddings.embed_documents(TEXTS) == got  # no second warning, same vectors
    assert got == _Encoder().encode(TEXTS).tolist()
    assert embeddings.cache.enabled is False
    assert [r.message.count("turned off") for r in caplog.records] == [1]


def test_a_write_that_finds_the_file_locked_is_skipped_not_the_cache(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v.sqlite"
    embeddings = OnnxEmbeddings(_Encoder(), _cache(path))
    embeddings.embed_documents(TEXTS[:1])
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        assert embeddings.embed_documents(TEXTS[1:3]) == _Encoder().encode(TEXTS[1:3]).tolist()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert embeddings.cache.enabled
    embeddings.embed_documents(TEXTS[1:3])  # not kept while locked: encoded again, kept now
    again = OnnxEmbeddings(_Encoder(), _cache(path))
    again.embed_documents(TEXTS[:3])
    assert embeddings.encoder.seen == TEXTS[:3] + TEXTS[1:3] and again.encoder.seen == []


@pytest.mark.slow
def test_the_real_encoder_s_cached_vectors_are_its_own_and_survive_a_new_process(
        tmp_path: Path, _model_cache: Path) -> None:
    """The real export, its cache file in a copy of the export's folder; a second Python
    process opens the same file and reads every vector back without encoding one."""
    model_path = store.resolve_model_path("all-MiniLM-L6-v2")
    shared = store._embeddings(model_path, 64, "onnx", str(_model_cache / "models"))
    export = tmp_path / "export"
    export.mkdir()
    (export / "model.onnx").symlink_to(shared.encoder.onnx_path)
    from bot.knowledge.embedding import OnnxEncoder

    encoder = OnnxEncoder(model_path, export / "model.onnx")
    cached = OnnxEmbeddings(encoder, vector_cache_for(encoder, 1000))
    got = np.asarray(cached.embed_documents(TEXTS))
    assert np.array_equal(got, encoder.encode(TEXTS))
    assert (export / "model.vectors.sqlite").is_file()
    script = (
        "import sys, numpy as np\n"
        "from bot.knowledge.embedding import OnnxEmbeddings, OnnxEncoder, vector_cache_for\n"
        f"enc = OnnxEncoder({model_path!r}, __import__('pathlib').Path({str(export)!r}) / 'model.onnx')\n"
        "enc.encode = lambda texts: sys.exit('encoded %r' % texts)\n"
        "emb = OnnxEmbeddings(enc, vector_cache_for(enc, 1000))\n"
        f"np.save(sys.argv[1], np.asarray(emb.embed_documents({TEXTS!r})))\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "back.npy")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.array_equal(np.load(tmp_path / "back.npy"), got)
