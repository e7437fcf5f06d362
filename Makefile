# Two entry points (see README):
#   make play   set up .venv and start the GTP engine on stdin/stdout
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: play test bench venv clean

venv: $(VENV)/.installed $(VENV)/.warm

# torch is pinned first so pip takes the CPU build on disk instead of a multi-GB CUDA one;
# pyproject says torch>=2.3 so GPU users keep their own build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Compile every Numba kernel once and cache it, so the engine answers a GUI at once.
# Kernels inline functions from other modules (nets/ and selfplay/ kernels call engine/ ones),
# which Numba's cache does not track: drop all cached machine code whenever a source changes.
JIT_SOURCES := $(wildcard engine/*.py nets/*.py selfplay/*.py)
$(VENV)/.warm: $(VENV)/.installed $(JIT_SOURCES)
	find engine nets selfplay -name '*.nbi' -delete -o -name '*.nbc' -delete
	$(PY) -m engine.warmup
	touch $@

play: venv
	$(PY) -m gtp $(ARGS)

test: venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: venv
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
