#!/usr/bin/env bash
# The cluster tests run a real etcd: Debian's etcd-server (3.4). Installs it when missing.
set -euo pipefail
if command -v etcd >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-server >/dev/null
# The package starts a system etcd on :2379; the tests start their own on free ports.
($SUDO systemctl disable --now etcd >/dev/null 2>&1 || true)
etcd --version | head -1
