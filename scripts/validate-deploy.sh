#!/usr/bin/env bash
# Validates deploy/ without Docker or a Kubernetes cluster:
# - every manifest under deploy/k8s against the Kubernetes 1.31 schemas, strictly (unknown fields
#   are errors), with kubernetes-validate from PyPI (it ships the schemas: works offline);
# - kustomization.yaml lists exactly the manifests beside it;
# - the systemd unit with systemd-analyze verify (unknown keys are errors too);
# - the Dockerfile: every COPY source exists in its build context, and its install step, run
#   outside a container for amd64 from the tarballs scripts/pack-native.sh makes, installs a CLI
#   that runs.
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

echo "== Dockerfile (its install step run outside a container, for amd64, from freshly packed tarballs)"
df=deploy/docker/Dockerfile
status=0
version=$(node -p 'require("./package.json").version')
grep -q "^ARG VERSION=$version\$" "$df" || { echo "ARG VERSION is not package.json's $version"; status=1; }
grep -q 'ENTRYPOINT \["node", "/app/node_modules/arrowquant/dist/cli/main.js"\]' "$df" || { echo "entrypoint is not the installed package's CLI"; status=1; }
# The build context: deploy/docker with the packages pack-native.sh makes (as its header says).
ctx=$tmp/context
mkdir -p "$ctx"
cp -r deploy/docker/. "$ctx/"
bash scripts/pack-native.sh "$ctx/packages" >/dev/null
while read -r src; do
  [ -e "$ctx/$src" ] || { echo "COPY source missing in the build context: $src"; status=1; }
done < <(grep -E '^COPY ' "$df" | grep -v -- '--from=' | sed -E 's/^COPY +//' | awk '{for (i = 1; i < NF; i++) print $i}')
# The RUN step that installs the packages, with /app and /tmp/packages mapped into $tmp.
run=$(awk '/^RUN set -eu;/{on=1} on{print} on && !/\\$/{exit}' "$df" | sed -e 's/^RUN //' -e 's/\\$//')
mkdir -p "$tmp/app"
cp -r "$ctx/packages" "$tmp/packages"
run=${run//\/tmp\/packages/$tmp/packages}
run=${run//\/app\//$tmp/app/}
run=${run//\/root\/.npm/$tmp/npm-cache-unused}
if ! out=$(cd "$tmp/app" && TARGETARCH=amd64 VERSION=$version FROM_REGISTRY=0 npm_config_cache="$HOME/.npm" bash -c "$run" 2>&1); then
  echo "the Dockerfile's install step failed:"; echo "$out"; status=1
elif [ "$(tail -1 <<<"$out")" != "$version" ]; then
  echo "the installed CLI printed '$(tail -1 <<<"$out")', expected $version"; status=1
fi
[ -f "$tmp/app/node_modules/@arrowquant/native-linux-x64-gnu/arrowquant.linux-x64-gnu.node" ] || { echo "the install step did not install the amd64 addon"; status=1; }
[ $status = 0 ] && echo ok
exit $status
