#!/usr/bin/env bash
# Build ggml's own quantization code as a test oracle and speed baseline for ArrowQuant's GGUF kernels.
#
# Fetches the pinned llama-cpp-python sdist from PyPI (it vendors llama.cpp, hence ggml) with pip,
# checks its sha256, extracts only ggml's build files and sources (no backends), builds ggml's
# `ggml-base` target (ggml.c, ggml-quants.c, ...: the portable scalar reference code; the ggml-cpu
# backend with its SIMD paths is not built at all) as a static library, and links it with our own
# harness tests/oracle/ggml_oracle.c into
#     .cache/ggml/<version>/out/libggml_oracle.so   (ctypes: tests/python/ggml_oracle.py)
#     .cache/ggml/<version>/out/ggml_oracle         (CLI: quantize / dequantize / bench)
#     .cache/ggml/<version>/out/ggml_oracle_O3      (the same CLI with ggml-quants.c at -O3)
# Flags: -O2 -ffp-contract=off, no -march (plain x86-64 baseline), no OpenMP, NDEBUG as in
# llama.cpp's release builds. llama.cpp itself ships ggml-base as a CMake Release build, i.e. -O3
# (still no -march: GGML_NATIVE only reaches the ggml-cpu backend); at -O3 GCC vectorises some of
# the reference loops (q4_0/q4_1 ref, q6_K: ~1.4x faster here) without changing a byte, so
# ggml_oracle_O3 is the speed baseline to compare with and ggml_oracle / the .so the byte oracle.
# Nothing fetched or built leaves .cache/ (gitignored).
#
# Idempotent: a finished build whose inputs (this script, the harness, the compiler) are unchanged
# is reused and only its path printed; the sdist download and the ggml-base build are cached
# separately. Prints the library's path on its last line of stdout.
# Needs: python3 with pip (PyPI reachable), tar, cmake >= 3.14, gcc and g++ (ggml-base has C++ files).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# --- pins --------------------------------------------------------------------------------------
LCP_VERSION=0.3.36
LCP_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
# The llama.cpp commit that sdist vendors (its CHANGELOG: "update llama.cpp to ggml-org/llama.cpp@0c1e57098").
LLAMA_CPP_COMMIT=0c1e57098bba43ac29e6e3b677cdceebdd22334f

root=${GGML_ORACLE_CACHE:-$repo/.cache/ggml}/$LCP_VERSION
tarball=$root/llama_cpp_python-$LCP_VERSION.tar.gz
src=$root/src
ggml=$src/llama_cpp_python-$LCP_VERSION/vendor/llama.cpp/ggml
build=$root/build
out=$root/out
harness=$repo/tests/oracle/ggml_oracle.c

CFLAGS_ORACLE="-O2 -ffp-contract=off -fPIC"

log() { printf 'setup-ggml: %s\n' "$*" >&2; }

for tool in python3 tar cmake gcc g++ sha256sum; do
  command -v "$tool" >/dev/null || { log "needs $tool on PATH (Debian: apt-get install python3-pip cmake g++)"; exit 1; }
done

stamp_want=$( { cat "$0" "$harness"; gcc --version | head -1; g++ --version | head -1; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/libggml_oracle.so" ] && [ -x "$out/ggml_oracle" ] && [ -x "$out/ggml_oracle_O3" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp_want" ]; then
  echo "$out/libggml_oracle.so"
  exit 0
fi

mkdir -p "$root"

# --- 1. the sdist, checked ------------------------------------------------------------------------
have_sha() { [ -f "$tarball" ] && [ "$(sha256sum "$tarball" | cut -d' ' -f1)" = "$LCP_SHA256" ]; }
if ! have_sha; then
  log "downloading llama-cpp-python==$LCP_VERSION (sdist, ~77 MB) with pip"
  dl=$(mktemp -d "$root/dl.XXXXXX")
  # --no-binary for the package itself only: pip then prepares the sdist's metadata in an isolated
  # build environment whose build requirements may come as wheels.
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary llama-cpp-python --dest "$dl" "llama-cpp-python==$LCP_VERSION"
  mv -f "$dl/llama_cpp_python-$LCP_VERSION.tar.gz" "$tarball"
  rm -rf "$dl"
  if ! have_sha; then
    log "sha256 mismatch for $tarball (want $LCP_SHA256, got $(sha256sum "$tarball" | cut -d' ' -f1))"
    rm -f "$tarball"
    exit 1
  fi
fi

# --- 2. extract ggml only (build files, headers, top-level sources; no backends) -------------------
if [ ! -f "$src/.done" ]; then
  log "extracting ggml from the sdist"
  rm -rf "$src"
  mkdir -p "$src"
  p=llama_cpp_python-$LCP_VERSION
  g=$p/vendor/llama.cpp/ggml
  tar -xzf "$tarball" -C "$src" --wildcards --no-wildcards-match-slash \
    "$p/PKG-INFO" "$p/.git/modules/vendor/llama.cpp/HEAD" "$p/vendor/llama.cpp/LICENSE" \
    "$g/CMakeLists.txt" "$g/cmake/*" "$g/include/*" \
    "$g/src/CMakeLists.txt" "$g/src/*.c" "$g/src/*.cpp" "$g/src/*.h" "$g/src/*.in" \
    "$g/src/ggml-cpu/ggml-cpu-impl.h"
  vendored=$(cat "$src/$p/.git/modules/vendor/llama.cpp/HEAD")
  if [ "$vendored" != "$LLAMA_CPP_COMMIT" ]; then
    log "the sdist vendors llama.cpp $vendored, expected $LLAMA_CPP_COMMIT"
    exit 1
  fi
  # The sdist leaves out ggml.pc.in (a pkg-config template); ggml's CMakeLists configures it
  # unconditionally. We never install, so an empty one will do.
  [ -f "$ggml/ggml.pc.in" ] || : > "$ggml/ggml.pc.in"
  touch "$src/.done"
fi

# --- 3. ggml-base (static, PIC), reference build flags ---------------------------------------------
lib_base=$build/src/libggml-base.a
base_stamp_want=$(printf '%s\n' "$LCP_VERSION" "$CFLAGS_ORACLE" "$(gcc --version | head -1)" "$(cmake --version | head -1)" | sha256sum | cut -d' ' -f1)
if [ ! -f "$lib_base" ] || [ "$(cat "$build/.stamp" 2>/dev/null)" != "$base_stamp_want" ]; then
  log "building ggml-base (cmake, a few seconds)"
  rm -rf "$build"
  # GIT_EXE=true: the extracted tree sits inside ArrowQuant's git work tree, and ggml's CMakeLists
  # would otherwise stamp ArrowQuant's commit into ggml_commit().
  cmake -S "$ggml" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_C_FLAGS="-ffp-contract=off" -DCMAKE_CXX_FLAGS="-ffp-contract=off" \
    -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF -DGGML_CPU=OFF -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF -DGGML_LTO=OFF \
    -DGGML_BACKEND_DL=OFF -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DGGML_ALL_WARNINGS=OFF \
    -DGIT_EXE="$(command -v true)" >"$root/cmake-configure.log" 2>&1 \
    || { cat "$root/cmake-configure.log" >&2; exit 1; }
  cmake --build "$build" --target ggml-base -j "$(nproc)" -- VERBOSE=1 >"$root/cmake-build.log" 2>&1 \
    || { tail -50 "$root/cmake-build.log" >&2; exit 1; }
  # Guard the promise: no target-specific flags reached ggml-quants.c.
  if grep 'ggml-quants.c' "$root/cmake-build.log" | grep -Eq -- ' -m(arch|tune|avx|fma|f16c|sse)'; then
    log "ggml-quants.c was compiled with target-specific flags; see $root/cmake-build.log"
    exit 1
  fi
  echo "$base_stamp_want" > "$build/.stamp"
fi

# --- 4. our harness: the shared library and the CLI ------------------------------------------------
log "building libggml_oracle.so, ggml_oracle and ggml_oracle_O3"
mkdir -p "$out"
defs=(-DORACLE_SDIST_VERSION="\"$LCP_VERSION\"" -DORACLE_LLAMA_CPP_COMMIT="\"${LLAMA_CPP_COMMIT:0:9}\"")
incs=(-I"$ggml/include" -I"$ggml/src")
# shellcheck disable=SC2086
gcc $CFLAGS_ORACLE -std=gnu11 -Wall -Wextra "${defs[@]}" "${incs[@]}" -c "$harness" -o "$out/ggml_oracle.o"
# shellcheck disable=SC2086
gcc $CFLAGS_ORACLE -std=gnu11 -Wall -Wextra -DGGML_ORACLE_MAIN "${defs[@]}" "${incs[@]}" -c "$harness" -o "$out/ggml_oracle_main.o"
gcc -shared -o "$out/libggml_oracle.so.tmp" "$out/ggml_oracle.o" "$lib_base" -lstdc++ -lm -lpthread -Wl,--no-undefined
gcc -o "$out/ggml_oracle.tmp" "$out/ggml_oracle_main.o" "$lib_base" -lstdc++ -lm -lpthread
# The speed baseline: ggml-quants.c as llama.cpp's Release build compiles it (-O3, same defines as
# ggml-base's CMake target), linked ahead of libggml-base.a so the archive's -O2 copy is not used.
gcc -O3 -DNDEBUG -ffp-contract=off -fPIC -std=gnu11 -D_GNU_SOURCE -D_XOPEN_SOURCE=600 "${incs[@]}" \
  -c "$ggml/src/ggml-quants.c" -o "$out/ggml-quants-O3.o"
gcc -o "$out/ggml_oracle_O3.tmp" "$out/ggml_oracle_main.o" "$out/ggml-quants-O3.o" "$lib_base" -lstdc++ -lm -lpthread
mv -f "$out/libggml_oracle.so.tmp" "$out/libggml_oracle.so"
mv -f "$out/ggml_oracle.tmp" "$out/ggml_oracle"
mv -f "$out/ggml_oracle_O3.tmp" "$out/ggml_oracle_O3"
"$out/ggml_oracle" version >&2
echo "$stamp_want" > "$out/.stamp"
echo "$out/libggml_oracle.so"
