#!/usr/bin/env bash
# One NetBill purchase, from keygen to decrypted goods, as a pipeline of the toolkit's tools.
#
#   examples/netbill-purchase.sh [WORKDIR]
#
# Runs in WORKDIR (default: a fresh temporary directory), with the tools found on PATH, or in
# $BIN_DIR when set (scripts/demo sets it to the release build). Every step is one protocol
# message of Tygar's NetBill outline; the files left behind are the evidence each party holds.
set -euo pipefail

source "$(dirname "$0")/netbill-setup.sh"

say "the merchant's catalog: one static good, with a discount for ACM students"
printf 'How to Make a Million Dollars Fast on the Internet\n(an honest guide)\n' > goods.txt
alice_key_id=$(sed -n 's/.*"key_id": "\([0-9a-f]*\)".*/\1/p' alice.id.json | head -n 1)
cat > catalog.json <<JSON
{
  "offer_validity": "15m",
  "groups": { "acm-student": ["$alice_key_id"] },
  "products": [
    { "id": "million-dollars", "description": "How to Make a Million Dollars Fast on the Internet",
      "price": "0.10", "group_prices": { "acm-student": "0.07" }, "goods": "goods.txt" }
  ]
}
JSON

say "steps 1-2: alice asks for a price; the merchant offers (alice is a student: 0.07)"
merchant-offer --catalog catalog.json --key bookshop.key --customer alice.id.json \
  --product million-dollars > offer.json

say "steps 3-4: alice accepts; the merchant sends the goods encrypted under a fresh K"
goods-encrypt --key bookshop.key --offer offer.json --goods goods.txt --store bookshop-store \
  --ciphertext goods.enc > delivery.json

say "step 5: alice checks the ciphertext and signs the EPO (her point of no return)"
epo-sign --key alice.key --offer offer.json --delivery delivery.json --ciphertext goods.enc \
  --merchant bookshop.id.json --server netbill.id.json --expires-in 1h --max-price 1 > epo.json

say "steps 6-8: countersign with K sealed to the server | settle | record and forward"
epo-countersign --key bookshop.key --store bookshop-store --customer alice.id.json \
    --server netbill.id.json epo.json \
  | netbill-settle --ledger netbill.db --key netbill.key \
  | merchant-record --store bookshop-store --server netbill.id.json > receipt.json

say "alice decrypts her goods with the K from the receipt"
goods-decrypt --receipt receipt.json --server netbill.id.json --ciphertext goods.enc \
  --offer offer.json --merchant bookshop.id.json -o goods.out
cmp goods.txt goods.out

say "balances and audit"
printf 'alice %s, bookshop %s\n' "$(netbill-ledger --ledger netbill.db balance alice)" \
  "$(netbill-ledger --ledger netbill.db balance bookshop)"
netbill-ledger --ledger netbill.db audit > audit.json
echo "purchase complete in $work: goods.out is byte-identical to goods.txt; the books balance"
