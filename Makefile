# The README's two commands: `make demo` and `make test`. Both create .venv at the
# repository root when it is missing and install the project into it (fast when the
# installed stamp is newer than setup.py).
PYTHON ?= python3
VENV := .venv
# bench_learner.py's d3rlpy comparison: d3rlpy pins gymnasium 1.0, so it has its own venv.
D3RLPY_VENV := .venv-d3rlpy
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests and benchmarks run on CPU: pinned so an accelerator plugin (the cuda extra)
# changes nothing there. The demo uses whatever JAX finds (docs/scaling.md).
CPU_ONLY := JAX_PLATFORMS=$${JAX_PLATFORMS:-cpu}
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo test test-slow bench clean

install: $(STAMP)

# envlogger 1.2 is test-only: its TFDS backend writes one of the foreign RLDS datasets the
# loader is tested on. 1.3 needs a newer glibc than Debian 12; 1.2's dependencies are
# already in the stack (dm-env through the test extra), so it is installed without
# letting it move them.
$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps 'envlogger==1.2'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/offline-rl demo

test: $(STAMP)
	$(CPU_ONLY) $(BIN)/python -m pytest -q -n 2 -m "not slow" tests

test-slow: $(STAMP)
	$(CPU_ONLY) $(BIN)/python -m pytest -q -n 2 -m slow tests

bench: $(STAMP) $(D3RLPY_VENV)/.installed
	for b in benchmarks/*.py; do $(CPU_ONLY) $(BIN)/python $$b || exit 1; done

# The versions the reference figure was measured with (torch 2.13 CPU build, d3rlpy 2.8.1).
$(D3RLPY_VENV)/.installed:
	test -x $(D3RLPY_VENV)/bin/python || $(PYTHON) -m venv $(D3RLPY_VENV)
	$(D3RLPY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(D3RLPY_VENV)/bin/python -m pip install --quiet 'torch==2.13.0' 'd3rlpy==2.8.1'
	touch $@

clean:
	rm -rf $(VENV) $(D3RLPY_VENV) runs build *.egg-info
