# qvlua — build, test and run. `make help` lists the targets.
SWIFT   ?= swift
QVLUA   := .build/release/qvlua
APT_PKGS := liblua5.4-dev libopenblas-dev libreadline-dev zlib1g-dev dataset-fashion-mnist pkg-config

.PHONY: help setup build debug test test-swift test-lua test-repl test-fuzz fuzz memory train bench clean

help:
	@echo "make setup   install the Debian packages qvlua needs (apt)"
	@echo "make build   release build of .build/release/qvlua"
	@echo "make train   set up, build and run scripts/train.lua (Fashion-MNIST)"
	@echo "make test    Swift tests, Lua tests, REPL tests and a 2-minute fuzz budget"
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

build: setup
	$(SWIFT) build -c release --product qvlua

train: build
	$(QVLUA) scripts/train.lua

# `swift test` includes the REPL tests (Tests/QvluaTests, driven through a pty).
test: build test-swift test-lua test-fuzz

test-swift:
	$(SWIFT) test

test-repl:
	$(SWIFT) test --filter QvluaTests

test-lua: build
	$(QVLUA) Tests/lua/run.lua

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
