#!/usr/bin/env bash
# Create .venv with the pinned Python packages the cross-check tests need (idempotent: skips the
# install when requirements.txt has not changed since the last successful one).
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/python/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
