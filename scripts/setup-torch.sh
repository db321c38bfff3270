#!/usr/bin/env bash
# A Python environment with PyTorch for tools/capture_calibration.py's tests: Debian's CPU-only
# python3-torch (152 MB of packages; PyPI only has the CUDA build, ~3 GB with its libraries, which
# does not import without them) in a venv over the system site-packages (.venv-torch), plus the
# pinned pytest, safetensors and pyarrow. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch python3-venv >/dev/null
fi
req=tests/python/requirements-torch.txt
stamp=.venv-torch/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x .venv-torch/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
/usr/bin/python3 -m venv --system-site-packages .venv-torch
# --no-deps: Debian's torch is built against Debian's numpy 1.x, which must stay the numpy it sees.
.venv-torch/bin/pip install --quiet --disable-pip-version-check --no-deps -r "$req"
echo "$want" > "$stamp"
