#!/usr/bin/env bash
# Cryptographic postage indicia: provision a meter, refill it, print indicia.
#
#   examples/postage.sh [WORKDIR]
#
# The postal authority certifies the meter's key (made inside its coprocessor, here the
# emulated one; `--coprocessor pkcs11:token=…;object=…` uses a PKCS#11 token instead) and
# sells a refill voucher bound to this meter and its next reset number. Each print debits the
# registers and returns an indicium signed inside the coprocessor.
set -euo pipefail
[ -n "${BIN_DIR:-}" ] && PATH="$BIN_DIR:$PATH"
work=${1:-$(mktemp -d)}
mkdir -p "$work" && cd "$work"
say() { printf '\n== %s\n' "$*" >&2; }

say "the postal authority, and a meter licensed to mail from 15213"
postal-authority --db authority.db --key authority.key init > authority.id.json
meter --device meter init --meter-id M-0001 --origin 15213 --authority authority.id.json > request.json
postal-authority --db authority.db --key authority.key certify request.json --valid-for "365 days" > certificate.json
meter --device meter install-certificate certificate.json

say "a refill of 20.00, then the same voucher again (refused: vouchers are single-use)"
postal-authority --db authority.db --key authority.key voucher --meter M-0001 --amount 20 > voucher.json
meter --device meter refill --voucher voucher.json >/dev/null
meter --device meter refill --voucher voucher.json 2>&1 >/dev/null | sed 's/^/  /' >&2 || true

say "three letters"
today=$(date -u +%F)
for to in "The White House|1600 Pennsylvania Ave NW|Washington DC|20500" \
          "Carnegie Mellon University|5000 Forbes Ave|Pittsburgh PA|15213" \
          "Smithsonian Institution|1000 Jefferson Dr SW|Washington DC|20560"; do
  IFS='|' read -r name street city zip <<< "$to"
  printf '{"recipient": "%s\\n%s\\n%s", "destination_postal_code": "%s", "postage": "0.73", "date": "%s", "rate_category": "letter"}\n' \
    "$name" "$street" "$city" "$zip" "$today"
done > envelopes.ndjson
meter --device meter print envelopes.ndjson > indicia.ndjson

say "registers: descending + ascending = control total"
meter --device meter status
echo "indicia in $work/indicia.ndjson" >&2
