"""A command imports only what it needs: `--help`, `status`, `audit`, a config error and a no-op
`sync` never import torch, transformers, Chroma, LangChain's runnables and chat models, numpy or
an inference runtime (each one costs the user seconds before the first line; see bench/startup.py for the times).

Each command runs as its own process (`python -X importtime -m bot.cli ...`), the way a user
meets it, and the modules it imported are read from the import-time report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config import REPO_ROOT

HEAVY = ("torch", "transformers", "sentence_transformers", "chromadb", "langchain_openai",
         "langchain_chroma", "langchain_huggingface", "peft", "onnxruntime", "onnxruntime_genai",
         "numpy", "langchain_core.runnables", "langchain_text_splitters")


def imported(*args: str, env: dict | None = None) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "bot.cli", *args],
                          cwd=REPO_ROOT, env={**os.environ, "COLUMNS": "100", **(env or {})},
                          capture_output=True, text=True, timeout=300)
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    assert names, proc.stderr[-2000:]
    return names


def heavy(names: set[str]) -> list[str]:
    return sorted(h for h in HEAVY if h in names)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    (wiki / "vpn.md").write_text("# VPN\n\nReset your token at vpn.example.\n")
    path = tmp_path / "ragbot.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"),
                                    "sources": [{"name": "wiki", "type": "folder",
                                                 "path": str(wiki)}]}))
    return path


def test_help_imports_no_model_library():
    assert heavy(imported("--help")) == []


def test_help_does_not_read_the_config_or_the_database():
    """`--help` only lists commands: the config's validation (pydantic, YAML, every connector's
    options), SQLAlchemy and the ragvsft tree loader are for the commands that use them."""
    names = imported("--help")
    assert sorted(n for n in ("bot.config", "pydantic", "yaml", "sqlalchemy",
                              "bot.decision.loader", "apscheduler") if n in names) == []


def test_status_and_audit_import_no_model_library(config: Path):
    assert heavy(imported("-c", str(config), "status")) == []
    assert heavy(imported("-c", str(config), "audit")) == []


def test_config_error_imports_no_model_library(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("no_such_key: 1\n")
    assert heavy(imported("-c", str(bad), "sync")) == []


@pytest.mark.slow
def test_noop_sync_builds_no_embedding_model(config: Path):
    from bot.config import load_settings
    from bot.knowledge.sync import sync_source

    assert sync_source(load_settings(config), "wiki").ok  # the first sync embeds (in this process)
    names = imported("-c", str(config), "sync")
    assert heavy(names) == []
    assert "bot.knowledge.embedding" not in names
