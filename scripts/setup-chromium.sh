#!/usr/bin/env bash
# Headless Chromium for the HTML report's rendering test (Debian's package). Idempotent.
set -euo pipefail
if ! command -v chromium >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
