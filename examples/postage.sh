#!/usr/bin/env bash
# Cryptographic postage indicia: provision a meter, refill it, print indicia as barcodes,
# and run them through a sorting station (with one copied indicium among them).
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

say "printed as barcodes: PDF417, Data Matrix, PDF417; and a copy of the first on a fourth envelope"
n=0
while read -r indicium; do
  n=$((n + 1))
  symbology=$([ $((n % 2)) = 0 ] && echo datamatrix || echo pdf417)
  printf '%s\n' "$indicium" | indicia-render --symbology "$symbology" -o "letter-$n.png"
done < indicia.ndjson
cp letter-1.png copy-of-letter-1.png
cat > sorting.ndjson <<'JSON'
{"piece": "letter-1.png", "address": "THE WHITE HOUSE 1600 PENNSYLVANIA AVE NW WASHINGTON DC"}
{"piece": "letter-2.png", "address": "Carnegie Mellon University, 5000 Forbes Ave., Pittsburgh PA"}
{"piece": "letter-3.png", "address": "Smithsonian Institution\n1000 Jefferson Dr SW\nWashington DC"}
{"piece": "copy-of-letter-1.png", "address": "The White House, 1600 Pennsylvania Ave NW, Washington DC"}
JSON
postal-authority --db authority.db issued > certificates.ndjson

say "the sorting station: three letters accepted, the copy caught"
status=0
indicia-verify --station station.db check --authority authority.id.json \
  --certificates certificates.ndjson --manifest sorting.ndjson > verdicts.ndjson || status=$?
sed -n 's/.*"piece":"\([^"]*\)","accepted":\([a-z]*\)\(,"reason":"\([^"]*\)"\)\{0,1\}.*/  \1: accepted \2 \4/p' verdicts.ndjson >&2
echo "  exit status $status; verdicts in $work/verdicts.ndjson" >&2
