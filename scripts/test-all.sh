#!/usr/bin/env bash
# Every test ArrowQuant has, in the order a failure is cheapest to read. Run from a clean clone
# after `npm install`; installs what the tests need (Python venv, aarch64 cross tools) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's header carries the time since the start, so a CI log shows where its minutes went.
step() { printf '\n== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "ggml's own C (from the pinned llama-cpp-python sdist): the byte oracle of the GGUF formats"
# Built once and cached under .cache/ggml; from here on a missing oracle fails the tests that
# compare with it instead of skipping them.
bash scripts/setup-ggml.sh
export ARROWQUANT_REQUIRE_ORACLE=1

step "Rust: kernels (incl. every GGUF format against ggml), Parquet format, source reads (x86-64, every ISA this CPU has)"
# The ci profile: release without LTO (Cargo.toml says why).
cargo test --workspace --profile ci

step "Build: native addon (napi-rs, release) and TypeScript"
npm run build

step "Edge: the npm packages (main and linux-x64-gnu)"
# tests/edge/packages.test.ts installs the tarballs with no Rust on PATH and runs the example.
# The arm64 package and the aarch64 worker under qemu (tests/edge/arm64.test.ts) need the aarch64
# addon's 8-14 minute cross-build: they run under `npm run test:edge` (about 15 minutes cold),
# while the NEON kernels themselves are tested under qemu below. The deploy test's
# validate-deploy.sh packs the same platform.
export ARROWQUANT_PACK_PLATFORMS=linux-x64-gnu
bash scripts/pack-native.sh

step "TypeScript (vitest): binding, config, generator, pipeline, API, telemetry, report, cluster, edge and CLI tests"
# The docs test runs docs/reference_reader.py (the venv's pyarrow) and the report test Chromium.
bash scripts/setup-python.sh
bash scripts/setup-chromium.sh
# The cluster tests start a real etcd (Debian's etcd-server 3.4) and make certificates with openssl.
bash scripts/setup-etcd.sh
# RUN-LLAMA-CPP.md's commands run llama.cpp's llama-diffusion-cli (built once, cached in .cache/llama.cpp).
bash scripts/setup-llama-cpp.sh >/dev/null
# vitest runs tests/**/*.test.ts from the sources; the CLI they spawn is the dist/ built above
# (vitest.config.ts: each test file in its own process, at most cores − 1 files at a time, as
# node --test did).
npx vitest run

step "Python: byte-for-byte cross-checks (gguf-py, ml_dtypes) and docs/reference_reader.py equal to the TypeScript reader"
bash scripts/setup-python.sh
(cd tests/python && ../../.venv/bin/python -m pytest -q --ignore=test_capture_calibration.py --ignore=test_capture_to_gptq.py --ignore=test_evaluate.py)

step "Python + PyTorch (Debian's CPU build): tools/capture_calibration.py, and captured calibration → GPTQ through the CLI"
bash scripts/setup-torch.sh
(cd tests/python && ../../.venv-torch/bin/python -m pytest -q test_capture_calibration.py test_capture_to_gptq.py)

step "Python + PyTorch + the pinned transformers and diffusers: tools/evaluate.py on tiny models quantized by the CLI"
# scripts/setup-evaluate.sh: transformers 4.44.2 and diffusers 0.31.0 (pinned; both run over
# Debian's torch 1.13) into .venv-torch. The MiniLM test runs only after scripts/setup-real-model.sh.
bash scripts/setup-evaluate.sh
(cd tests/python && ../../.venv-torch/bin/python -m pytest -q test_evaluate.py)

step "llama.cpp: Dream/LLaDA exported with --arch equal convert_hf_to_gguf.py + llama-quantize byte for byte, and run in llama-diffusion-cli"
bash scripts/setup-llama-cpp.sh --python >/dev/null
(cd tests/python && ../../.venv-torch/bin/python -m pytest -q test_llama_cpp_diffusion.py)

step "Rust on aarch64 under qemu: NEON kernels equal to the references"
bash scripts/test-arm64.sh

step "done: every test passed"
