# qvlua — build, test and run. `make help` lists the targets.
SWIFT   ?= swift
QVLUA   := .build/release/qvlua
APT_PKGS := liblua5.4-dev libopenblas-dev libreadline-dev zlib1g-dev dataset-fashion-mnist pkg-config

.PHONY: help setup build debug test test-swift test-lua test-repl train bench clean

help:
	@echo "make setup   install the Debian packages qvlua needs (apt)"
	@echo "make build   release build of .build/release/qvlua"
	@echo "make train   set up, build and run scripts/train.lua (Fashion-MNIST)"
	@echo "make test    Swift tests, Lua tests and REPL tests"
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

# A second `make train` continues runs/default (or finds it finished);
# `make train ARGS=--force` starts it afresh.
train: build
	$(QVLUA) scripts/train.lua $$([ -e runs/default/checkpoint.safetensors ] && echo --resume) $(ARGS)

# `swift test` includes the REPL tests (Tests/QvluaTests, driven through a pty).
test: build test-swift test-lua

test-swift:
	$(SWIFT) test

test-repl:
	$(SWIFT) test --filter QvluaTests

test-lua: build
	$(QVLUA) Tests/lua/run.lua

bench: setup
	$(SWIFT) build -c release --product qvbench
	$(SWIFT) build -c release --product bmbench
	.build/release/qvbench all
	.build/release/bmbench all 11

clean:
	rm -rf .build
