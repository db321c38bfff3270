#!/usr/bin/env bash
# Run the kernel tests for aarch64 under qemu-user, so the NEON kernels are held equal to the
# scalar references on every change. Installs the cross linker, qemu and the Rust target when
# missing (Debian packages, rustup: scripts/lib/cross-arm64.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cross-arm64.sh
# The ci profile (Cargo.toml) is release without LTO: the same code and bits, linked in a
# fraction of the time. ARROWQUANT_EMULATED trims the tests whose cost is repetition, not coverage.
ARROWQUANT_EMULATED=1 cargo test -p arrowquant-kernels --profile ci --target aarch64-unknown-linux-gnu
