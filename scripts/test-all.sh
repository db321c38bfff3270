#!/usr/bin/env bash
# Every test ArrowQuant has, in the order a failure is cheapest to read. Run from a clean clone
# after `npm install`; installs what the tests need (Python venv, aarch64 cross tools) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "Rust: kernel unit, property and determinism tests (x86-64, every ISA this CPU has)"
cargo test --workspace --release

step "Build: native addon (napi-rs, release) and TypeScript"
npm run build

step "Node: binding tests"
node --test dist/tests/

step "Python: byte-for-byte cross-checks against gguf-py (llama.cpp) and ml_dtypes"
bash scripts/setup-python.sh
(cd tests/python && ../../.venv/bin/python -m pytest -q)

step "Rust on aarch64 under qemu: NEON kernels equal to the references"
bash scripts/test-arm64.sh
