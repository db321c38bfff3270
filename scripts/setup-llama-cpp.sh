#!/usr/bin/env bash
# Build llama.cpp's own tools (CPU only) as the reference for ArrowQuant's diffusion-LLM GGUF export
# (issue 15: `arrowquant export --to gguf --arch dream|llada`): our exported file must match what
# llama.cpp's convert_hf_to_gguf.py (+ llama-quantize) writes from the same checkpoint, and must load
# and generate in llama-diffusion-cli.
#
# Uses the same pinned llama-cpp-python sdist as scripts/setup-ggml.sh (it vendors llama.cpp; taken
# from setup-ggml's cache when that has it, else fetched from PyPI with pip), checks its sha256,
# extracts the whole vendored llama.cpp tree (less its dangling submodule .git pointer) and builds
# only the targets `llama-diffusion-cli` and `llama-quantize` (and what they link: ggml, ggml-cpu,
# llama, llama-common, cpp-httplib without TLS):
#     .cache/llama.cpp/<version>/build/bin/llama-diffusion-cli
#     .cache/llama.cpp/<version>/build/bin/llama-quantize
#     .cache/llama.cpp/<version>/src/llama.cpp/convert_hf_to_gguf.py   (+ conversion/, gguf-py/)
# Build: CMake Release (-O3 -DNDEBUG), static (BUILD_SHARED_LIBS=OFF: the binaries need no rpath),
# GGML_NATIVE=OFF (no -march=native; ggml then enables SSE4.2/AVX/AVX2/BMI2/FMA/F16C, or none of them
# when this CPU lacks one: numerics differ between the two builds, so compare outputs from one binary),
# no OpenMP (ggml's own thread pool), no TLS/HTTPS (LLAMA_OPENSSL=OFF; LLAMA_CURL no longer exists at
# this commit, it is "deprecated and ignored"), no tests, server, web UI or unified app. The llamafile
# sgemm and the CPU weight-repacking kernels are left out (GGML_LLAMAFILE=OFF, GGML_CPU_REPACK=OFF):
# they only change how the CPU backend multiplies, never what a GGUF contains or how llama-quantize
# quantizes (that is ggml-base's reference code), and cost build time.
# Nothing fetched or built leaves .cache/ (gitignored).
#
# Python (--python, or LLAMA_CPP_PYTHON=1): convert_hf_to_gguf.py imports torch, numpy, transformers
# (AutoConfig; AutoTokenizer for the vocab) and the sdist's own gguf-py (it puts that on sys.path
# itself; gguf-py needs numpy, yaml, tqdm), and for Dream `sentencepiece` (DreamModel.set_vocab tries
# the SentencePiece vocab before the GPT-2 one). This runs scripts/setup-evaluate.sh (.venv-torch:
# Debian's torch 1.13, transformers 4.44.2, tokenizers 0.19.1) and writes
#     .cache/llama.cpp/<version>/convert_hf_to_gguf_ref.py
# a wrapper that runs the sdist's convert_hf_to_gguf.py unchanged after three test-only patches:
# torch 1.13 lacks torch.float8_e4m3fn/float8_e5m2 (named in a class body, used only for FP8
# checkpoints); sentencepiece is stubbed when absent (only reached with a tokenizer.model); and
# LLAMA_CPP_TOKENIZER_PRE=<name>, when set, replaces the tokenizer-hash lookup
# (TextModel.get_vocab_base_pre), which rejects any tiny trained tokenizer. The script checks that the
# wrapper imports the Dream and LLaDA converters, then prints the interpreter and the wrapper first.
#
# Idempotent: a finished build whose inputs (this script, the compiler, the ISA choice) are unchanged
# is reused and only its paths printed; the sdist and the extraction are cached separately, and a
# rebuild keeps the object files (ninja recompiles only what changed).
# Prints on stdout: [python; wrapper (with --python)]; convert_hf_to_gguf.py; llama-quantize;
# llama-diffusion-cli (last line).
# Cold build (configure + 137 ninja steps): 1128 s on 2 cores shared with another Rust and C++ build
# (load 6-9; 10 min of CPU time in all), so about 5-6 min on 2 idle cores; a warm rerun ~0.1 s.
# Needs: python3 with pip (PyPI reachable), tar, cmake >= 3.14, gcc and g++; ninja if present.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# --- pins --------------------------------------------------------------------------------------
LCP_VERSION=0.3.36
LCP_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
# The llama.cpp commit that sdist vendors (its .git/modules/vendor/llama.cpp/HEAD; CHANGELOG:
# "update llama.cpp to ggml-org/llama.cpp@0c1e57098").
LLAMA_CPP_COMMIT=0c1e57098bba43ac29e6e3b677cdceebdd22334f
TARGETS=(llama-diffusion-cli llama-quantize)

root=${LLAMA_CPP_CACHE:-$repo/.cache/llama.cpp}/$LCP_VERSION
tarball=$root/llama_cpp_python-$LCP_VERSION.tar.gz
ggml_tarball=${GGML_ORACLE_CACHE:-$repo/.cache/ggml}/$LCP_VERSION/llama_cpp_python-$LCP_VERSION.tar.gz
src=$root/src
lc=$src/llama.cpp
build=$root/build
bindir=$build/bin
convert=$lc/convert_hf_to_gguf.py

want_python=${LLAMA_CPP_PYTHON:-0}
for a in "$@"; do
  case $a in
    --python) want_python=1 ;;
    *) printf 'setup-llama-cpp: unknown argument %s (usage: setup-llama-cpp.sh [--python])\n' "$a" >&2; exit 2 ;;
  esac
done

log() { printf 'setup-llama-cpp: %s\n' "$*" >&2; }

for tool in python3 tar cmake gcc g++ sha256sum; do
  command -v "$tool" >/dev/null || { log "needs $tool on PATH (Debian: apt-get install python3-pip cmake g++)"; exit 1; }
done

# The x86 extensions ggml enables by default with GGML_NATIVE=OFF: keep them only if this CPU has all.
isa_flags=()
isa=x86-64-v3
if [ "$(uname -m)" = x86_64 ]; then
  cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  for f in sse4_2 avx avx2 bmi2 fma f16c; do
    case $cpu_flags in *" $f "*) ;; *) isa=x86-64; break ;; esac
  done
  if [ "$isa" = x86-64 ]; then
    log "this CPU lacks one of SSE4.2/AVX/AVX2/BMI2/FMA/F16C: building for the plain x86-64 baseline"
    isa_flags=(-DGGML_SSE42=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_BMI2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF)
  fi
else
  isa=$(uname -m)
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

print_paths() {
  echo "$convert"
  echo "$bindir/llama-quantize"
  echo "$bindir/llama-diffusion-cli"
}

# The converter's Python environment (optional): .venv-torch, and the wrapper described above.
wrapper=$root/convert_hf_to_gguf_ref.py
python_env() {
  bash scripts/setup-evaluate.sh >&2
  local py=$repo/.venv-torch/bin/python
  cat > "$wrapper.tmp" <<PYWRAPPER
"""Run llama.cpp's convert_hf_to_gguf.py (sdist llama-cpp-python==$LCP_VERSION, llama.cpp ${LLAMA_CPP_COMMIT:0:9})
unchanged, after three test-only patches. Written by scripts/setup-llama-cpp.sh.
    LLAMA_CPP_TOKENIZER_PRE=qwen2 python convert_hf_to_gguf_ref.py MODEL_DIR --outtype f32 --outfile OUT.gguf
"""
import os, runpy, sys, types

LLAMA_CPP_DIR = "$lc"

import torch
# 1. torch < 2.1 has no float8 dtypes; conversion/base.py names them in LazyTorchTensor's class body
#    (only FP8 checkpoints use them). An otherwise unused dtype stands in.
for _name in ("float8_e4m3fn", "float8_e5m2"):
    if not hasattr(torch, _name):
        setattr(torch, _name, torch.complex32)

# 2. DreamModel.set_vocab tries the SentencePiece vocab first and falls back to GPT-2 BPE only on
#    FileNotFoundError (no tokenizer.model); without the package the import fails before that.
try:
    import sentencepiece  # noqa: F401
except ImportError:
    import transformers  # noqa: F401  (first: it probes for sentencepiece when imported)
    _sp = types.ModuleType("sentencepiece")
    class SentencePieceProcessor:  # only reached when the folder has a tokenizer.model
        def __init__(self, *args, **kwargs):
            raise ImportError("the sentencepiece package is not installed")
    _sp.SentencePieceProcessor = SentencePieceProcessor
    sys.modules["sentencepiece"] = _sp

sys.path.insert(0, LLAMA_CPP_DIR)

# 3. tokenizer.ggml.pre: the converter hashes the tokenization of a fixed text and knows only the
#    hashes of published tokenizers; a tiny trained tokenizer gets the name its real model would.
_pre = os.environ.get("LLAMA_CPP_TOKENIZER_PRE")
if _pre:
    from conversion.base import TextModel
    TextModel.get_vocab_base_pre = lambda self, tokenizer: _pre

if __name__ == "__main__":
    sys.argv[0] = os.path.join(LLAMA_CPP_DIR, "convert_hf_to_gguf.py")
    runpy.run_path(sys.argv[0], run_name="__main__")
PYWRAPPER
  mv -f "$wrapper.tmp" "$wrapper"
  "$py" - "$wrapper" >&2 <<'PYCHECK' || { log "convert_hf_to_gguf.py does not import with $py (through $wrapper)"; exit 1; }
import importlib.util, sys
spec = importlib.util.spec_from_file_location("convert_hf_to_gguf_ref", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
import convert_hf_to_gguf, gguf, conversion.dream, conversion.llada  # noqa: E401,F401
PYCHECK
  echo "$py"
  echo "$wrapper"
}

stamp_want=$( { cat "$0"; gcc --version | head -1; g++ --version | head -1; cmake --version | head -1; echo "$isa ${generator[*]}"; } | sha256sum | cut -d' ' -f1)
built() {
  for t in "${TARGETS[@]}"; do [ -x "$bindir/$t" ] || return 1; done
  [ -f "$convert" ] && [ "$(cat "$build/.stamp" 2>/dev/null)" = "$stamp_want" ]
}
if built; then
  [ "$want_python" = 1 ] && python_env
  print_paths
  exit 0
fi

mkdir -p "$root"

# --- 1. the sdist, checked ------------------------------------------------------------------------
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$LCP_SHA256" ]; }
if ! sha_ok "$tarball"; then
  if sha_ok "$ggml_tarball"; then
    log "taking llama-cpp-python==$LCP_VERSION from $ggml_tarball"
    ln -f "$ggml_tarball" "$tarball" 2>/dev/null || cp -f "$ggml_tarball" "$tarball"
  else
    log "downloading llama-cpp-python==$LCP_VERSION (sdist, ~77 MB) with pip"
    dl=$(mktemp -d "$root/dl.XXXXXX")
    # --no-binary for the package itself only: pip then prepares the sdist's metadata in an isolated
    # build environment whose build requirements may come as wheels.
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
      --no-binary llama-cpp-python --dest "$dl" "llama-cpp-python==$LCP_VERSION"
    mv -f "$dl/llama_cpp_python-$LCP_VERSION.tar.gz" "$tarball"
    rm -rf "$dl"
  fi
  if ! sha_ok "$tarball"; then
    log "sha256 mismatch for $tarball (want $LCP_SHA256, got $(sha256sum "$tarball" | cut -d' ' -f1))"
    rm -f "$tarball"
    exit 1
  fi
fi

# --- 2. extract the vendored llama.cpp ----------------------------------------------------------------
if [ ! -f "$src/.done" ]; then
  log "extracting llama.cpp from the sdist"
  rm -rf "$src"
  mkdir -p "$src/llama.cpp"
  p=llama_cpp_python-$LCP_VERSION
  # Left out: vendor/llama.cpp/.git, a submodule pointer to ../../.git/modules/... that does not exist
  # here (git would fail on it; without it, nothing in the tree looks like a repository).
  tar -xzf "$tarball" -C "$src/llama.cpp" --strip-components=3 \
    --exclude="$p/vendor/llama.cpp/.git" "$p/vendor/llama.cpp"
  tar -xzf "$tarball" -C "$src" "$p/.git/modules/vendor/llama.cpp/HEAD"
  vendored=$(cat "$src/$p/.git/modules/vendor/llama.cpp/HEAD")
  rm -rf "${src:?}/$p"
  if [ "$vendored" != "$LLAMA_CPP_COMMIT" ]; then
    log "the sdist vendors llama.cpp $vendored, expected $LLAMA_CPP_COMMIT"
    exit 1
  fi
  for f in CMakeLists.txt src/llama-model.cpp examples/diffusion/diffusion-cli.cpp tools/quantize/quantize.cpp \
           convert_hf_to_gguf.py conversion/dream.py conversion/llada.py gguf-py/gguf/__init__.py; do
    [ -f "$lc/$f" ] || { log "the sdist has no vendor/llama.cpp/$f"; exit 1; }
  done
  echo "$LLAMA_CPP_COMMIT" > "$lc/COMMIT"
  touch "$src/.done"
fi

# --- 3. configure and build the tools -------------------------------------------------------------
log "building ${TARGETS[*]} ($isa; log: $root/cmake-build.log)"
# A fresh configure every time (no stale cache entries), but the object files of an earlier build
# stay: ninja/make recompile only what a changed command line or source needs.
mkdir -p "$build"
rm -f "$build/CMakeCache.txt" "$build/.stamp"
# The extracted tree sits inside ArrowQuant's git work tree: without these, llama.cpp's build info and
# ggml_commit() would carry ArrowQuant's commit and commit count. GIT_EXE (ggml's) is a stand-in that
# prints the pinned commit; LLAMA_BUILD_COMMIT/NUMBER skip llama.cpp's own git queries' results.
cat > "$build/git-stand-in" <<EOF
#!/bin/sh
echo ${LLAMA_CPP_COMMIT:0:9}
EOF
chmod +x "$build/git-stand-in"
cmake -S "$lc" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_EXAMPLES=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_LLGUIDANCE=OFF -DLLAMA_ALL_WARNINGS=OFF -DLLAMA_TOOLS_INSTALL=OFF \
  -DLLAMA_BUILD_COMMIT="${LLAMA_CPP_COMMIT:0:9}" -DLLAMA_BUILD_NUMBER=0 \
  -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF -DGGML_LTO=OFF -DGGML_BACKEND_DL=OFF \
  -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_LLAMAFILE=OFF -DGGML_CPU_REPACK=OFF \
  -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF \
  "${isa_flags[@]}" \
  -DGIT_EXE="$build/git-stand-in" -DGIT_EXECUTABLE="$build/git-stand-in" \
  >"$root/cmake-configure.log" 2>&1 \
  || { cat "$root/cmake-configure.log" >&2; exit 1; }
start=$(date +%s)
cmake --build "$build" --target "${TARGETS[@]}" -j "$(nproc)" >"$root/cmake-build.log" 2>&1 \
  || { tail -50 "$root/cmake-build.log" >&2; exit 1; }
log "built in $(( $(date +%s) - start )) s"
# Smoke test: both print their usage (llama-quantize then exits 1 by design, so look at the text).
"$bindir/llama-diffusion-cli" --help 2>&1 | grep -q -- '--diffusion-steps' \
  || { log "$bindir/llama-diffusion-cli --help failed"; "$bindir/llama-diffusion-cli" --help >&2 || true; exit 1; }
{ "$bindir/llama-quantize" --help 2>&1 || true; } | grep -q 'Q4_K_M' \
  || { log "$bindir/llama-quantize --help failed"; "$bindir/llama-quantize" --help >&2 || true; exit 1; }
echo "$stamp_want" > "$build/.stamp"
[ "$want_python" = 1 ] && python_env
print_paths
