# Sourced by the examples: a working directory with three parties and a NetBill ledger.
#
# Uses $1 as the working directory (default: a fresh temporary one) and the tools on PATH, or
# in $BIN_DIR when set (scripts/demo sets it to the release build). Leaves alice.key, bookshop.key,
# netbill.key, their identity documents, and netbill.db with alice holding 5.00.

[ -n "${BIN_DIR:-}" ] && PATH="$BIN_DIR:$PATH"
work=${1:-$(mktemp -d)}
mkdir -p "$work" && cd "$work"
say() { printf '\n== %s\n' "$*" >&2; }

say "keys for the customer, the merchant and the NetBill server"
keygen --name alice --secret-key alice.key > alice.id.json
keygen --name bookshop --secret-key bookshop.key > bookshop.id.json
netbill-ledger --ledger netbill.db init --key netbill.key > netbill.id.json

say "accounts: alice deposits 5.00; the merchant starts at zero"
netbill-ledger --ledger netbill.db --key netbill.key open alice.id.json
netbill-ledger --ledger netbill.db --key netbill.key open bookshop.id.json
netbill-ledger --ledger netbill.db --key netbill.key deposit alice 5.00 --memo "card top-up" >/dev/null
