#!/usr/bin/env bash
# What tools/evaluate.py needs on top of scripts/setup-torch.sh (.venv-torch: Debian's CPU torch
# 1.13): the pinned transformers, diffusers and tokenizers of tests/python/requirements-evaluate.txt,
# installed with --no-deps (Debian's torch is built against Debian's numpy 1.x, which must stay the
# numpy the venv sees). Idempotent: reinstalls only when the requirements file changed or a pinned
# package is not at its pinned version (e.g. another script replaced it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-torch.sh
req=tests/python/requirements-evaluate.txt
stamp=.venv-torch/.requirements-evaluate.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
pinned_ok() {
  .venv-torch/bin/python - "$req" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        got = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if got != want:
        sys.exit(1)
PY
}
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && pinned_ok; then
  exit 0
fi
.venv-torch/bin/pip install --quiet --disable-pip-version-check --no-deps -r "$req"
.venv-torch/bin/python -c 'import transformers, diffusers'
echo "$want" > "$stamp"
