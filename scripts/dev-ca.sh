#!/usr/bin/env bash
# Make a development CA and certificates for an ArrowQuant cluster (mutual TLS):
#   ca.pem / ca-key.pem            the cluster CA (keep ca-key.pem off the machines)
#   coordinator.pem / -key.pem     server + client auth; SANs: localhost, 127.0.0.1, ::1 and $ARROWQUANT_SANS
#   worker.pem / -key.pem          client auth
#   client.pem / -key.pem          client auth (for `arrowquant quantize --coordinator`)
# Usage: scripts/dev-ca.sh OUTDIR [extra-SAN ...]   e.g. scripts/dev-ca.sh certs DNS:coord.example IP:10.0.0.5
# ECDSA P-256, valid 30 days: for development and tests, not production.
set -euo pipefail
out=${1:?usage: dev-ca.sh OUTDIR [SAN...]}
shift
mkdir -p "$out"
cd "$out"
sans="DNS:localhost,IP:127.0.0.1,IP:::1"
for s in "$@" ${ARROWQUANT_SANS:-}; do sans="$sans,$s"; done

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days 30 -subj "/CN=ArrowQuant dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem

issue() { # name CN extendedKeyUsage [SANs]
  local name=$1 cn=$2 eku=$3 san=${4:-}
  key "$name-key.pem"
  openssl req -new -key "$name-key.pem" -subj "/CN=$cn" -out "$name.csr"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 -sha256 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

issue coordinator "arrowquant-coordinator" "serverAuth,clientAuth" "$sans"
issue worker "arrowquant-worker" "clientAuth" "DNS:arrowquant-worker"
issue client "arrowquant-client" "clientAuth" "DNS:arrowquant-client"
rm -f ca.srl
chmod 600 ./*-key.pem
echo "wrote $(pwd): ca.pem coordinator.pem worker.pem client.pem (+ -key.pem)"
