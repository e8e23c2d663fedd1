# The whole set-up: `make run` (the main job) and `make test`. Each creates .venv and installs
# the package with its dev extras on first use, and the system tools it needs when missing:
# gcc and binutils (native backend, GNU as comparisons), llvm (llvm-mca) and clang (the exported
# C and C++ are checked with both compilers).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# On a machine with an NVIDIA GPU (nvidia-smi answers), JAX is installed with CUDA; elsewhere for the CPU.
EXTRAS := dev$(shell nvidia-smi -L >/dev/null 2>&1 && echo ,cuda)
comma := ,
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)-$(subst $(comma),-,$(EXTRAS))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install system bench soak

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

system:
	@missing=""; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v as >/dev/null && command -v objcopy >/dev/null || missing="$$missing binutils"; \
	command -v llvm-mca >/dev/null || missing="$$missing llvm"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	command -v clang >/dev/null || missing="$$missing clang"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

install: $(STAMP) system

install: $(STAMP) system

run: $(STAMP) system
	$(VENV)/bin/alphadev train sort3

test: $(STAMP) system
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n auto

bench: $(STAMP) system
	$(PY) experiments/bench_machine.py
	$(PY) experiments/bench_games.py

soak: $(STAMP) system
	$(PY) experiments/soak_backends.py --programs 100000
