# qvlua — build, test and run. `make help` lists the targets.
SWIFT   ?= swift
QVLUA   := .build/release/qvlua
APT_PKGS := liblua5.4-dev libopenblas-dev libreadline-dev zlib1g-dev libdnnl-dev openmpi-bin libopenmpi-dev dataset-fashion-mnist pkg-config python3 python3-venv

PYTHON  ?= python3
JVENV   := .venv-jupyter
JPY     := $(JVENV)/bin/python
TVENV   := .venv-torch
TPY     := $(TVENV)/bin/python

.PHONY: help setup build debug test test-swift test-lua test-repl test-kernel test-interop test-fuzz fuzz memory jupyter-env torch-env kernel notebook-html train bench clean

help:
	@echo "make setup   install the Debian packages qvlua needs (apt), and dwave-samplers, dwave-system (pip) for the dimod adapter's tests"
	@echo "make build   release build of .build/release/qvlua"
	@echo "make train   set up, build and run scripts/train.lua (Fashion-MNIST)"
	@echo "make test    Swift tests, Lua tests, REPL tests, Jupyter kernel tests, interop tests and a 2-minute fuzz budget"
	@echo "make test-interop  the PyTorch loader (python/qvlua_torch.py) and graph files against networkx, in .venv-torch"
	@echo "make kernel  install the qvlua Jupyter kernel for the current user"
	@echo "make fuzz    the long fuzz run of RELIABILITY.md (10^6 calls, 10^5 files)"
	@echo "make memory  peak RSS of create-and-drop loops per object kind"
	@echo "make bench   benchmarks (see BENCHMARKS.md)"

setup:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@# the D-Wave Ocean adapter's tests (scripts/samplers/dimod_sampler.py) need dwave-samplers, and
	@# dwave-system for its QPU path against the mock QPU, from PyPI
	@python3 -c 'import dimod, dwave.samplers, dwave.system.testing, minorminer' >/dev/null 2>&1 || \
	  python3 -m pip install -q dwave-samplers dwave-system >/dev/null 2>&1 || \
	  echo "note: could not pip install dwave-samplers dwave-system; the dimod adapter's tests will be skipped"

build: setup
	$(SWIFT) build -c release --product qvlua

# A second `make train` continues runs/default (or finds it finished);
# `make train ARGS=--force` starts it afresh.
train: build
	$(QVLUA) scripts/train.lua $$([ -e runs/default/checkpoint.safetensors ] && echo --resume) $(ARGS)

# `swift test` includes the REPL tests (Tests/QvluaTests, driven through a pty).
test: build test-swift test-lua test-kernel test-interop test-fuzz

test-swift:
	$(SWIFT) test

test-repl:
	$(SWIFT) test --filter QvluaTests

test-lua: build
	$(QVLUA) Tests/lua/run.lua

# The Jupyter kernel (jupyter/, README "Jupyter"): ipykernel and the test
# tools in a project venv; `make kernel` writes the user's kernelspec.
jupyter-env: $(JVENV)/.installed

$(JVENV)/.installed: jupyter/requirements.txt
	$(PYTHON) -m venv $(JVENV)
	$(JPY) -m pip install -q --disable-pip-version-check -r jupyter/requirements.txt
	touch $@

kernel: build jupyter-env
	$(JPY) jupyter/install_kernel.py

# Kernel protocol tests and the notebook under docs/notebooks, run by nbclient.
# Skipped, with the reason, only when the Python packages cannot be installed.
test-kernel: build
	@if $(MAKE) --no-print-directory jupyter-env; then \
	  $(JPY) Tests/kernel/test_kernel.py -v; \
	else \
	  echo "SKIPPED kernel tests: could not install jupyter/requirements.txt into $(JVENV) (no PyPI?)"; \
	fi

# PyTorch, networkx (and dwave_networkx, if it installs) in a project venv
# for the interop tests: python/qvlua_torch.py against qvlua's own numbers,
# graph files both ways with networkx.
torch-env: $(TVENV)/.installed

$(TVENV)/.installed: python/requirements.txt
	$(PYTHON) -m venv $(TVENV)
	$(TPY) -m pip install -q --disable-pip-version-check -r python/requirements.txt
	@$(TPY) -m pip install -q --disable-pip-version-check dwave-networkx || \
	  echo "note: could not pip install dwave-networkx; the Chimera/Pegasus comparisons will be skipped"
	touch $@

# Skipped, with the reason, only when the Python packages cannot be installed.
test-interop: build
	@if $(MAKE) --no-print-directory torch-env; then \
	  QVLUA=$(QVLUA) $(TPY) Tests/interop/test_torch_loader.py -v && \
	  QVLUA=$(QVLUA) $(TPY) Tests/interop/test_graph_files.py -v; \
	else \
	  echo "SKIPPED interop tests: could not install python/requirements.txt into $(TVENV) (no PyPI?)"; \
	fi

# Executes the notebook, renders it to HTML and screenshots it (docs/images);
# needs nbconvert (pip) and Debian's chromium.
notebook-html: build jupyter-env
	$(JPY) -m pip install -q --disable-pip-version-check nbconvert
	$(JPY) jupyter/render_notebook.py

# The fuzz harness (Tests/fuzz, RELIABILITY.md): a bounded budget in `make
# test` (fails on any crash, hang or abort not in Tests/fuzz/known.txt) ...
FUZZ_SEED ?= 1
test-fuzz: build
	$(QVLUA) Tests/fuzz/fuzz.lua --seed $(FUZZ_SEED) --calls 150000 --files 15000 --time 150 --out .build/fuzz-ci

# ... and the documented long run.
fuzz: build
	nice -n 10 $(QVLUA) Tests/fuzz/fuzz.lua --seed $(FUZZ_SEED) --calls 1000000 --files 100000 --batch 20000 --out .build/fuzz-long

memory: build
	$(QVLUA) Tests/fuzz/memory.lua

bench: setup
	$(SWIFT) build -c release --product qvbench
	$(SWIFT) build -c release --product bmbench
	.build/release/qvbench all
	.build/release/bmbench all 11

clean:
	rm -rf .build
