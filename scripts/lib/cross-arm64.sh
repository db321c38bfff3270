# Sourced by the scripts that build or run aarch64 code on this x86-64 machine
# (scripts/test-arm64.sh, scripts/pack-native.sh, scripts/setup-node-arm64.sh): installs Debian's
# cross toolchain and qemu-user and the Rust target when missing, and exports what cargo and the
# cc crate (mimalloc's C) need to link and run for aarch64-unknown-linux-gnu.
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null \
  || [ ! -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]; then
  apt-get update -qq
  # libstdc++6-arm64-cross: the arm64 Node binary (scripts/setup-node-arm64.sh) links it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user gcc-aarch64-linux-gnu \
    libc6-dev-arm64-cross libstdc++6-arm64-cross >/dev/null
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# qemu-user's sysroot for dynamically linked aarch64 programs (the arm64 Node binary).
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
