#!/usr/bin/env bash
# The npm packages a user installs, napi-rs style: `arrowquant` (JavaScript, the generated loader,
# the wire contract) and one prebuilt addon per platform, `@arrowquant/native-<platform>`
# (npm/<platform>/package.json, made by `napi create-npm-dirs` from package.json's napi targets).
#
#   bash scripts/pack-native.sh [OUT]     (default OUT: .cache/packages)
#
# Builds what is missing: the x86-64 addon (`npm run build:native`), the aarch64 addon
# cross-compiled with Debian's aarch64 gcc (scripts/lib/cross-arm64.sh), and the TypeScript.
# Writes OUT/arrowquant-<v>.tgz, OUT/arrowquant-native-linux-x64-gnu-<v>.tgz and
# OUT/arrowquant-native-linux-arm64-gnu-<v>.tgz, and prints their paths.
#
# ARROWQUANT_PACK_PLATFORMS (comma-separated, default linux-x64-gnu,linux-arm64-gnu) packs fewer
# platform packages: `npm test` packs linux-x64-gnu only, because the aarch64 cross-build takes
# 8-14 minutes of its 45-minute budget on two cores (`npm run test:edge` packs both).
#
# The darwin packages are declared (npm/darwin-*) but built on macOS: this machine has no Apple
# SDK, so they are not packed here.
#
# The main package's optionalDependencies (one per platform package, at the same version) are
# added to the packed package.json, as `napi pre-publish` does, and not to the repository's: until
# the platform packages are published, each would be a registry lookup on every developer's
# `npm install` (and a name anybody could take).
#
# The addons are built on this machine's Debian 12 (glibc 2.36) and need glibc >= 2.34 where they
# run (the versioned symbols they import; the napi-rs glibc-2.17 cross toolchains on npm do not
# install: @napi-rs/cross-toolchain 1.0.5 asks for target packages 1.0.5 that were never published).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${1:-$repo/.cache/packages}
version=$(node -p 'require("./package.json").version')
log() { printf 'pack-native: %s\n' "$*" >&2; }

IFS=, read -r -a platforms <<<"${ARROWQUANT_PACK_PLATFORMS:-linux-x64-gnu,linux-arm64-gnu}"
for p in "${platforms[@]}"; do
  case $p in linux-x64-gnu | linux-arm64-gnu) ;; *) log "ARROWQUANT_PACK_PLATFORMS: no platform '$p' is built here (linux-x64-gnu, linux-arm64-gnu)"; exit 2 ;; esac
done
wants() { local q; for q in "${platforms[@]}"; do [ "$q" = "$1" ] && return 0; done; return 1; }

# --- the addons ------------------------------------------------------------------------------------
# An addon older than any Rust source is rebuilt.
stale() { [ ! -f "$1" ] || [ -n "$(find crates Cargo.lock Cargo.toml -newer "$1" -print -quit)" ]; }
if wants linux-x64-gnu && stale native/arrowquant.linux-x64-gnu.node; then npm run --silent build:native >&2; fi
if wants linux-arm64-gnu; then . scripts/lib/cross-arm64.sh; fi
if wants linux-arm64-gnu && stale native/arrowquant.linux-arm64-gnu.node; then
  log "cross-compiling the addon for aarch64-unknown-linux-gnu"
  # --no-js: the loader (native/index.cjs) is the one the x86-64 build generated, for every platform.
  npx napi build --platform --release --target aarch64-unknown-linux-gnu \
    --manifest-path crates/node/Cargo.toml --package-json-path package.json \
    --output-dir native --no-js --dts index.d.cts >&2
fi
[ -f dist/cli/main.js ] || npm run --silent build:ts >&2

# --- stage and pack ------------------------------------------------------------------------------
stage=$(mktemp -d "${TMPDIR:-/tmp}/arrowquant-pack.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out"

for p in "${platforms[@]}"; do
  addon=native/arrowquant.$p.node
  [ -f "$addon" ] || { log "missing $addon"; exit 1; }
  cp -r "npm/$p" "$stage/$p"
  # Without the line tables the release profile keeps for local backtraces (55 MB -> ~12 MB).
  case $p in
    linux-x64-*) strip --strip-debug -o "$stage/$p/$(basename "$addon")" "$addon" ;;
    linux-arm64-*) aarch64-linux-gnu-strip --strip-debug -o "$stage/$p/$(basename "$addon")" "$addon" ;;
  esac
  pkg_version=$(node -p "require('$stage/$p/package.json').version")
  [ "$pkg_version" = "$version" ] || { log "npm/$p/package.json is at $pkg_version, arrowquant at $version (napi version)"; exit 1; }
  (cd "$stage/$p" && npm pack --silent --pack-destination "$out" >/dev/null)
done

# The main package: exactly the files `npm pack` takes from the repository ("files" in
# package.json), with the optional dependencies added.
mkdir -p "$stage/main"
npm pack --dry-run --json 2>/dev/null | node -e '
  const [{ files }] = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const f of files) if (f.path !== "package.json") console.log(f.path);
' | while read -r f; do
  mkdir -p "$stage/main/$(dirname "$f")"
  cp "$f" "$stage/main/$f"
done
if ls "$stage/main/native/"*.node >/dev/null 2>&1; then
  log "the main package must not carry an addon: check package.json's files"
  exit 1
fi
node -e '
  const fs = require("fs");
  const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
  const dirs = fs.readdirSync("npm").sort();
  pkg.optionalDependencies = Object.fromEntries(
    dirs.map((d) => [JSON.parse(fs.readFileSync(`npm/${d}/package.json`, "utf8")).name, pkg.version]),
  );
  delete pkg.devDependencies;
  delete pkg.scripts;
  fs.writeFileSync(process.argv[1], JSON.stringify(pkg, null, 2) + "\n");
' "$stage/main/package.json"
(cd "$stage/main" && npm pack --silent --pack-destination "$out" >/dev/null)

echo "$out/arrowquant-$version.tgz"
for p in "${platforms[@]}"; do echo "$out/arrowquant-native-$p-$version.tgz"; done
