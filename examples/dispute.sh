#!/usr/bin/env bash
# Certified delivery: disputes ruled from files.
#
#   examples/dispute.sh [WORKDIR]
#
# 1. The merchant sells "today's market report" (dynamic goods: no digest promised) and
#    delivers last year's file. The judge confirms what was delivered is what both signed for,
#    and hands the decrypted goods to a person, who sees the wrong file.
# 2. The merchant sells a paper whose digest the offer promises, and releases a bogus key K
#    (a program of his own, not the toolkit, commits his delivery note to it). The judge finds
#    the merchant at fault,
#    from the whole ciphertext and from a proof of one chunk (`dispute-judge prove`).
# 3. The customer, in turn, presents a damaged ciphertext. The judge finds her at fault.
set -euo pipefail
source "$(dirname "$0")/netbill-setup.sh"

printf 'Market report, 25 November 2026: everything is up.\n' > today.txt
printf 'Market report, 25 November 2025: everything is down.\n' > last-year.txt
printf 'A paper on atomicity in electronic commerce.\n' > paper.txt
cat > catalog.json <<JSON
{ "products": [
    { "id": "todays-report", "description": "Today's market report", "price": "0.02" },
    { "id": "paper", "description": "Atomicity in Electronic Commerce", "price": "0.10", "goods": "paper.txt" } ] }
JSON

# One purchase through steps 1-8: buy PRODUCT GOODS-FILE NAME (files NAME.*).
buy() {
  merchant-offer --catalog catalog.json --key bookshop.key --customer alice.id.json --product "$1" > "$3.offer.json"
  goods-encrypt --key bookshop.key --offer "$3.offer.json" --goods "$2" --store store \
    --ciphertext "$3.enc" > "$3.delivery.json"
  [ -n "${CHEAT:-}" ] && $CHEAT "$3"
  epo-sign --key alice.key --offer "$3.offer.json" --delivery "$3.delivery.json" --ciphertext "$3.enc" \
    --merchant bookshop.id.json --server netbill.id.json > "$3.epo.json"
  epo-countersign --key bookshop.key --store store --customer alice.id.json --server netbill.id.json \
      "$3.epo.json" \
    | netbill-settle --ledger netbill.db --key netbill.key \
    | merchant-record --store store --server netbill.id.json > "$3.receipt.json"
}
# The evidence alice holds for purchase NAME.
evidence() { echo alice.id.json bookshop.id.json netbill.id.json "$1".{offer,delivery,epo,receipt}.json "$1.enc"; }
# Rules on a bundle and reports the verdict without stopping the script on "not upheld".
rule() {
  status=0
  dispute-judge rule "$@" > "$1/ruling.json" || status=$?
  sed -n 's/^    "\(verdict\|upheld\|summary\)": \(.*\)$/  \1: \2/p' "$1/ruling.json" | sed 's/,$//' >&2
  echo "  exit status $status" >&2
}

say "1. alice buys today's report; the merchant delivers last year's"
buy todays-report last-year.txt report
goods-decrypt --receipt report.receipt.json --server netbill.id.json --ciphertext report.enc -o report.txt
say "alice reads: $(cat report.txt)"
dispute-judge bundle --claim not-what-i-ordered -o case-report $(evidence report)
rule case-report --goods-out for-a-person.txt
cmp -s for-a-person.txt last-year.txt && say "the person reads the decrypted goods: last year's report"

say "2. alice buys the paper; the merchant commits to a bogus key"
# The merchant's own program (Python's cryptography): it commits his delivery note to an
# all-zero K, re-signing the note as only he can, and keeps that K in his store to release it.
bogus_key() {
  local epo_id key
  epo_id=$(sed -n 's/.*"epo_id": "\([^"]*\)".*/\1/p' "$1.delivery.json")
  python3 - "$1.delivery.json" "store/$epo_id/delivery.json" bookshop.key <<'PY'
import hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
note_path, stored_path, key_path = sys.argv[1:]
seed = bytes.fromhex(json.load(open(key_path))["body"]["ed25519_seed"])
doc = json.load(open(note_path))
body = doc["body"]
label = b"atomic-commerce:netbill.key-commitment:v1\0"
body["key_commitment"] = hashlib.sha256(label + body["epo_id"].encode() + b"\0" + bytes(32)).hexdigest()
unsigned = {k: v for k, v in doc.items() if k != "signature"}
jcs = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
message = b"atomic-commerce:netbill.delivery:v1\0" + jcs
doc["signature"]["ed25519"] = Ed25519PrivateKey.from_private_bytes(seed).sign(message).hex()
for path in (note_path, stored_path):
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
PY
  key=$(sed -n 's/.*"key": "\([0-9a-f]*\)".*/\1/p' "store/$epo_id/key.json")
  sed -i "s/$key/$(printf '%064d' 0)/" "store/$epo_id/key.json"
}
CHEAT=bogus_key buy paper paper.txt paper
if ! goods-decrypt --receipt paper.receipt.json --server netbill.id.json --ciphertext paper.enc -o paper.out; then
  say "alice cannot decrypt; she files a claim"
fi
dispute-judge bundle --claim key-does-not-decrypt -o case-key $(evidence paper)
rule case-key
say "   the same claim from one chunk of the ciphertext: the first one K does not open"
dispute-judge prove paper.enc --receipt paper.receipt.json --offer paper.offer.json -o paper.proof.json
dispute-judge bundle --claim key-does-not-decrypt -o case-key-proof \
  alice.id.json bookshop.id.json netbill.id.json paper.{offer,delivery,epo,receipt}.json paper.proof.json
rule case-key-proof

say "3. alice claims again with a damaged copy of the ciphertext"
# Flip the low bit of byte 40 (writing a fixed byte would leave the file unchanged when it was already that byte).
byte=$(od -An -tu1 -j40 -N1 paper.enc)
cp paper.enc damaged.enc
printf "\\$(printf '%03o' $((byte ^ 1)))" | dd of=damaged.enc bs=1 seek=40 conv=notrunc status=none
cmp -s paper.enc damaged.enc && { echo "damaging the copy failed" >&2; exit 1; }
dispute-judge bundle --claim key-does-not-decrypt -o case-damaged \
  alice.id.json bookshop.id.json netbill.id.json paper.{offer,delivery,epo,receipt}.json damaged.enc
rule case-damaged
echo "rulings in $work: case-report, case-key, case-key-proof, case-damaged (each /ruling.json)"
