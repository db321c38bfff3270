#!/usr/bin/env bash
# `npm run test:runtimes`: the image GGUF export against stable-diffusion.cpp (issue 15; docs/RUN-SD-CPP.md).
#
#   fast   tests/python/test_sdcpp.py: tiny SD1/SDXL pipelines, a small Flux and a tiny SD3 transformer
#          and arrowquant-synth's flux pipeline, each file compared tensor for tensor with sd-cli's own
#          -M convert of the same checkpoint at the same types, and Flux images pixel for pixel
#          (25 tests: 4.5 min on this 2-core machine, 13 beside another job).
#   sd15   tests/python/test_sdcpp_sd15.py: a random SD1.5 pipeline at its real size (2.1 GB f16) at q8_0
#          and q4_K, the checkpoint and its images against sd-cli's (6-13 min, 9 GB of temporary files
#          in pytest's temporary folder, 8.8 GB peak RSS).
#   all    both (the default).
# Not part of scripts/test-all.sh (the CI run's time); the docs test runs docs/RUN-SD-CPP.md's
# commands only where sd-cli is built.
#
# Builds what it needs first (each step is cached and idempotent): sd-cli from the pinned sdist
# (scripts/setup-sdcpp.sh: 4 min cold on an idle 2-core machine, ~9 min beside other builds), the torch
# venv with the pinned diffusers/transformers (scripts/setup-evaluate.sh), the TypeScript (npm run build:ts;
# the native addon must already be built, as by npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
case $what in fast | sd15 | all) ;; *) echo "usage: $0 [fast|sd15|all]" >&2; exit 2 ;; esac

step() { printf '\n== %s\n' "$*"; }
start=$(date +%s)

step "stable-diffusion.cpp's sd-cli (pinned stable-diffusion-cpp-python 0.4.7 sdist)"
SD_CLI=$(bash scripts/setup-sdcpp.sh | tail -1)
export SD_CLI
step "PyTorch venv with the pinned diffusers and transformers"
bash scripts/setup-evaluate.sh
step "TypeScript"
npm run --silent build:ts
built=$(date +%s)
echo "setup: $((built - start)) s"

cd tests/python
if [ "$what" != sd15 ]; then
  step "fast: tiny SD1/SDXL/Flux/SD3 against sd-cli -M convert, Flux images"
  t=$(date +%s)
  ../../.venv-torch/bin/python -m pytest -q test_sdcpp.py
  echo "fast part: $(($(date +%s) - t)) s"
fi
if [ "$what" != fast ]; then
  step "SD1.5 at its real size: the checkpoint and its images against sd-cli's"
  t=$(date +%s)
  ARROWQUANT_SD15=1 ../../.venv-torch/bin/python -m pytest -q test_sdcpp_sd15.py
  echo "SD1.5 part: $(($(date +%s) - t)) s"
fi
echo "total: $(($(date +%s) - start)) s"
