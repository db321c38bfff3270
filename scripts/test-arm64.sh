#!/usr/bin/env bash
# Run the kernel tests for aarch64 under qemu-user, so the NEON kernels are held equal to the
# scalar references on every change. Installs the cross linker, qemu and the Rust target when
# missing (Debian packages, rustup: scripts/lib/cross-arm64.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cross-arm64.sh
cargo test -p arrowquant-kernels --release --target aarch64-unknown-linux-gnu
