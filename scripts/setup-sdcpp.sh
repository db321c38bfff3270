#!/usr/bin/env bash
# Build stable-diffusion.cpp's `sd-cli` (CPU only) as the reference loader for ArrowQuant's image-model
# GGUF export (issue 15): our exported file must load in it and give the same image as the file its
# own `-M convert` writes from the same checkpoint at the same type.
#
# Fetches the pinned stable-diffusion-cpp-python sdist from PyPI with pip (it vendors
# stable-diffusion.cpp, and that vendors ggml), checks its sha256, extracts only the vendored
# stable-diffusion.cpp tree (no libwebp/libwebm/web frontend, no ggml examples/tests), and builds the
# `sd-cli` target alone:
#     .cache/sdcpp/<version>/build/bin/sd-cli
# Build: CMake Release (-O3 -DNDEBUG), static, GGML_NATIVE=OFF (no -march=native, so the binary does
# not depend on the build host's exact CPU), CPU backend only, no OpenMP (ggml's own thread pool), no
# WebP/WebM, no server. With GGML_NATIVE=OFF ggml turns on SSE4.2/AVX/AVX2/BMI2/FMA/F16C by default; when this CPU
# lacks any of them, all of them are turned off (plain x86-64 baseline, slower but still working).
# Numerics differ between those two builds, so compare images only from one binary.
# Nothing fetched or built leaves .cache/ (gitignored).
#
# Idempotent: a finished build whose inputs (this script's code, the compiler, the ISA choice) are unchanged
# is reused and only its path printed; the sdist download and the extraction are cached separately.
# Prints the binary's path on its last line of stdout. Cold build on 2 cores: 4 min idle, ~9 min
# beside a CI run.
# Needs: python3 with pip (PyPI reachable), tar, cmake >= 3.14, gcc and g++; ninja if present.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# --- pins --------------------------------------------------------------------------------------
SDCPP_PY_VERSION=0.4.7
SDCPP_PY_SHA256=998d1957260dd5ae4e18a8acc0c14b0a8757aaa9f96515197b6d5bbf46df9282
# The stable-diffusion.cpp commit that sdist vendors. The sdist carries no submodule HEAD; found by
# matching every vendored file's git blob hash against leejet/stable-diffusion.cpp's history (only
# this commit matches all of them): "feat: add max-vram based segmented param offload (#1476)",
# 2026-05-06. Its ggml submodule: ggml-org/ggml@404fcb9d7c96989569e68c9e7881ee3465a05c50 (0.9.8).
SDCPP_COMMIT=90e87bc846f17059771efb8aaa31e9ef0cab6f78
GGML_COMMIT=404fcb9d7c96989569e68c9e7881ee3465a05c50
GGML_VERSION=0.9.8

root=${SDCPP_CACHE:-$repo/.cache/sdcpp}/$SDCPP_PY_VERSION
tarball=$root/stable_diffusion_cpp_python-$SDCPP_PY_VERSION.tar.gz
src=$root/src
sd=$src/stable_diffusion_cpp_python-$SDCPP_PY_VERSION/vendor/stable-diffusion.cpp
build=$root/build
bin=$build/bin/sd-cli

log() { printf 'setup-sdcpp: %s\n' "$*" >&2; }

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

# The stamp covers this script without its comment lines (editing a comment rebuilds nothing).
stamp_want=$( { sed '/^[[:space:]]*#/d' "$0"; gcc --version | head -1; g++ --version | head -1; cmake --version | head -1; echo "$isa ${generator[*]}"; } | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ "$(cat "$build/.stamp" 2>/dev/null)" = "$stamp_want" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$root"

# --- 1. the sdist, checked ------------------------------------------------------------------------
have_sha() { [ -f "$tarball" ] && [ "$(sha256sum "$tarball" | cut -d' ' -f1)" = "$SDCPP_PY_SHA256" ]; }
if ! have_sha; then
  log "downloading stable-diffusion-cpp-python==$SDCPP_PY_VERSION (sdist, ~21 MB) with pip"
  dl=$(mktemp -d "$root/dl.XXXXXX")
  # --no-binary for the package itself only: pip then prepares the sdist's metadata in an isolated
  # build environment whose build requirements (scikit-build-core) may come as wheels.
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary stable-diffusion-cpp-python --dest "$dl" "stable-diffusion-cpp-python==$SDCPP_PY_VERSION"
  mv -f "$dl/stable_diffusion_cpp_python-$SDCPP_PY_VERSION.tar.gz" "$tarball"
  rm -rf "$dl"
  if ! have_sha; then
    log "sha256 mismatch for $tarball (want $SDCPP_PY_SHA256, got $(sha256sum "$tarball" | cut -d' ' -f1))"
    rm -f "$tarball"
    exit 1
  fi
fi

# --- 2. extract the vendored stable-diffusion.cpp (sources and build files only) --------------------
if [ ! -f "$src/.done" ]; then
  log "extracting stable-diffusion.cpp from the sdist"
  rm -rf "$src"
  mkdir -p "$src"
  p=stable_diffusion_cpp_python-$SDCPP_PY_VERSION
  v=$p/vendor/stable-diffusion.cpp
  # Left out: the submodules' .git pointer files, the image/video codecs and the server's web frontend
  # (all disabled below), and ggml's examples, tests and docs (not configured unless standalone).
  tar -xzf "$tarball" -C "$src" \
    --exclude="$v/.git" --exclude="$v/ggml/.git" --exclude="$v/.github" --exclude="$v/ggml/.github" \
    --exclude="$v/thirdparty/libwebp" --exclude="$v/thirdparty/libwebm" \
    --exclude="$v/examples/server/frontend" --exclude="$v/docs" \
    --exclude="$v/ggml/examples" --exclude="$v/ggml/tests" --exclude="$v/ggml/docs" \
    "$p/PKG-INFO" "$v"
  for f in CMakeLists.txt src/model.cpp examples/cli/main.cpp ggml/CMakeLists.txt ggml/src/ggml-cpu/ggml-cpu.c; do
    [ -f "$sd/$f" ] || { log "the sdist has no vendor/stable-diffusion.cpp/$f"; exit 1; }
  done
  got=$(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))$/\2/p' "$sd/ggml/CMakeLists.txt" | paste -sd.)
  if [ "$got" != "$GGML_VERSION" ]; then
    log "the sdist vendors ggml $got, expected $GGML_VERSION"
    exit 1
  fi
  touch "$src/.done"
fi

# --- 3. configure and build sd-cli --------------------------------------------------------------------
log "building sd-cli ($isa; cold: 4-10 min on 2 cores; log: $root/cmake-build.log)"
rm -rf "$build"
mkdir -p "$build"
# GIT_EXE: the extracted tree sits inside ArrowQuant's git work tree, and both CMakeLists would
# otherwise stamp ArrowQuant's commit into sd_commit()/ggml_commit(); this stand-in answers with the
# pinned commits instead (`git describe` and `git rev-parse --short HEAD` alike).
cat > "$build/git-stand-in" <<EOF
#!/bin/sh
case "\$PWD" in */ggml) echo ${GGML_COMMIT:0:7} ;; *) echo ${SDCPP_COMMIT:0:7} ;; esac
EOF
chmod +x "$build/git-stand-in"
cmake -S "$sd" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
  -DSD_BUILD_EXAMPLES=ON -DSD_BUILD_SHARED_LIBS=OFF -DSD_WEBP=OFF -DSD_WEBM=OFF \
  -DSD_SERVER_BUILD_FRONTEND=OFF \
  -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF -DGGML_LTO=OFF -DGGML_BACKEND_DL=OFF \
  -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DGGML_ALL_WARNINGS=OFF \
  "${isa_flags[@]}" \
  -DGIT_EXE="$build/git-stand-in" >"$root/cmake-configure.log" 2>&1 \
  || { cat "$root/cmake-configure.log" >&2; exit 1; }
start=$(date +%s)
cmake --build "$build" --target sd-cli -j "$(nproc)" >"$root/cmake-build.log" 2>&1 \
  || { tail -50 "$root/cmake-build.log" >&2; exit 1; }
log "built in $(( $(date +%s) - start )) s"
"$bin" --help >/dev/null 2>&1 || { log "$bin --help failed"; "$bin" --help >&2 || true; exit 1; }
echo "$stamp_want" > "$build/.stamp"
echo "$bin"
