#!/usr/bin/env bash
# Made the test certificates beside this script (once; they are committed and valid for 100
# years): a CA, a server certificate it signed for 127.0.0.1 and localhost, one it signed for
# another name only, and an unrelated CA. Test keys only: nothing trusts them outside the tests.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
ec() { openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$1"; }
ca() {
  ec "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days "$days" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem"
}
leaf() {
  ec "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$days" -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}
ca ca "image-chat test CA"
ca stranger-ca "an unrelated CA"
leaf server "image-chat test PostgreSQL" "IP:127.0.0.1,DNS:localhost"
leaf other-name "another database" "DNS:db.invalid"
rm -f ca.key stranger-ca.key ca.srl
