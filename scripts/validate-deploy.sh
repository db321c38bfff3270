#!/usr/bin/env bash
# Validates deploy/ without Docker or a Kubernetes cluster:
# - every manifest under deploy/k8s against the Kubernetes 1.31 schemas, strictly (unknown fields
#   are errors), with kubernetes-validate from PyPI (it ships the schemas: works offline);
# - kustomization.yaml lists exactly the manifests beside it;
# - the systemd unit with systemd-analyze verify (unknown keys are errors too);
# - the Dockerfile: every COPY source exists, and the entrypoint is a file the build produces.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
K8S_VERSION=1.31.0

if [ ! -x .venv-deploy/bin/kubernetes-validate ]; then
  python3 -m venv .venv-deploy
  .venv-deploy/bin/pip install --quiet --disable-pip-version-check -r requirements-deploy.txt
fi

echo "== Kubernetes manifests (schemas of $K8S_VERSION, strict)"
mapfile -t manifests < <(find deploy/k8s -name '*.yaml' ! -name kustomization.yaml | sort)
.venv-deploy/bin/kubernetes-validate --strict --quiet -k "$K8S_VERSION" "${manifests[@]}"
echo "ok: ${#manifests[@]} files"

echo "== kustomization.yaml lists every manifest in deploy/k8s (optional/ excluded)"
listed=$(sed -n 's/^  - \(.*\.yaml\)$/\1/p' deploy/k8s/kustomization.yaml | sort)
present=$(cd deploy/k8s && ls *.yaml | grep -v '^kustomization.yaml$' | sort)
if [ "$listed" != "$present" ]; then
  echo "kustomization.yaml lists:"; echo "$listed"; echo "deploy/k8s has:"; echo "$present"; exit 1
fi
echo ok

echo "== systemd unit"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq systemd >/dev/null
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp deploy/systemd/arrowquant-worker.service "$tmp/"
if ! out=$(systemd-analyze verify --man=no "$tmp/arrowquant-worker.service" 2>&1) || grep -qE "Unknown (key|section|lvalue)|Failed to parse" <<<"$out"; then
  echo "$out"; exit 1
fi
echo ok

echo "== Dockerfile"
df=deploy/docker/Dockerfile
status=0
while read -r src; do
  [ -e "$src" ] || { echo "COPY source missing: $src"; status=1; }
done < <(grep -E '^COPY ' "$df" | grep -v -- '--from=' | sed -E 's/^COPY +//' | awk '{for (i = 1; i < NF; i++) print $i}')
grep -q 'ENTRYPOINT \["node", "/app/dist/cli/main.js"\]' "$df" || { echo "entrypoint is not /app/dist/cli/main.js"; status=1; }
grep -q 'COPY --from=build /src/dist ./dist' "$df" || { echo "the runtime stage does not copy dist/"; status=1; }
grep -qE '^ +"build": "npm run build:native && npm run build:ts"' package.json || { echo "package.json build script changed: check the Dockerfile"; status=1; }
[ $status = 0 ] && echo ok
exit $status
