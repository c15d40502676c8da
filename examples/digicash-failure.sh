#!/usr/bin/env bash
# Digital cash as in the paper, where a lost message leaves the customer two bad choices, then
# the recovery that keeps both money atomicity and her anonymity.
#
#   examples/digicash-failure.sh [WORKDIR]
#
# 1. alice pays, the merchant gets the coin, his acknowledgement is lost. She returns the coin
#    to the bank, as the paper allows; the merchant deposits it: two answers for one coin, and
#    the bank reveals her identity, with a proof a judge checks.
# 2. alice pays, the payment is lost. She keeps the coin and waits: nothing ever happens, and
#    she cannot spend it elsewhere without risking the same accusation. Her money is gone.
# 3. The fix: every payment names a deposit deadline. After it she asks the bank about the very
#    same spend: the lost payment of (2) is refunded as a blind voucher (unlinkable to the
#    coin), and a payment the merchant did deposit is confirmed as paid. Nobody is accused.
#
# Tools on PATH, or in $BIN_DIR when set. The clock is fixed (ATOMIC_COMMERCE_NOW) and moved
# past the deadline by hand.
set -euo pipefail
[ -n "${BIN_DIR:-}" ] && PATH="$BIN_DIR:$PATH"
work=${1:-$(mktemp -d)}
mkdir -p "$work" && cd "$work"
say() { printf '\n== %s\n' "$*" >&2; }
export ATOMIC_COMMERCE_NOW=2026-11-25T12:00:00Z
after_deadline=2026-11-25T12:11:00Z
export CASH_BANK_DB=bank.db CASH_BANK_KEY=bank.key CASH_WALLET=alice.wallet CASH_KEY=alice.key
export CASH_MERCHANT=bookshop.db CASH_MERCHANT_KEY=bookshop.key

say "a bank issuing coins of 0.1, 1 and 5; alice (3.00 in her account) and a bookshop"
keygen --name alice --secret-key alice.key > alice.id.json
keygen --name bookshop --secret-key bookshop.key > bookshop.id.json
cash-bank init --denominations 0.1,1,5 > bank.json
cash-withdraw init --bank bank.json > alice.registration.json
cash-bank open alice.id.json --registration alice.registration.json
cash-bank open bookshop.id.json
cash-bank fund alice 3 > /dev/null
cash-merchant init --bank bank.json

say "alice withdraws three coins of 1.00 (the bank signs them blind)"
for _ in 1 2 3; do
  cash-withdraw request --denomination 1 | cash-bank withdraw | cash-withdraw blind | cash-bank withdraw \
    | cash-withdraw finish > /dev/null
done
# The first coin of a payment document.
coin_of() { sed -n 's/.*"A": "\([0-9a-f]*\)".*/\1/p' "$1" | head -1; }

say "1. alice pays order-1; the bookshop accepts, and its acknowledgement is lost"
cash-merchant offer --order order-1 --price 1 --description "a book" > order-1.request.json
cash-spend pay order-1.request.json > order-1.payment.json
cash-merchant accept order-1.payment.json > /dev/null
say "she returns the coin to the bank, as the paper allows (the wallet warns her first)"
cash-spend return --key alice.key "$(coin_of order-1.payment.json)" > /dev/null || true
cash-spend return --key alice.key --as-in-the-paper "$(coin_of order-1.payment.json)" > return.json
cash-bank return return.json > return.receipt.json
say "the bookshop deposits the coin: the bank has two answers for it"
cash-merchant deposit | cash-bank deposit > order-1.receipt.json
sed -n 's/^ *"outcome": "\(.*\)"/  deposit outcome: \1/p' order-1.receipt.json >&2
cash-bank double-spends > proofs.ndjson
accused=$(dispute-judge double-spend --bank bank.json proofs.ndjson | sed -n 's/^ *"customer": "\(.*\)",*/\1/p')
echo "horn 1: accused of double spending: $accused"

say "2. alice pays order-2; the payment never reaches the bookshop"
cash-merchant offer --order order-2 --price 1 --description "another book" > order-2.request.json
cash-spend pay order-2.request.json > /dev/null
say "she keeps the coin and waits: no deposit comes, and re-spending it could unmask her"
pending=$(cash-withdraw list | sed -n 's/^ *"pending": "\(.*\)",/\1/p')
echo "horn 2: without a recovery, $pending stuck in a coin she dare not spend"

say "3. order-3 is paid and deposited, but the acknowledgement is lost as well"
cash-merchant offer --order order-3 --price 1 --description "a third book" > order-3.request.json
cash-spend pay order-3.request.json > order-3.payment.json
cash-merchant accept order-3.payment.json > /dev/null
ATOMIC_COMMERCE_NOW=2026-11-25T12:05:00Z cash-merchant deposit \
  | ATOMIC_COMMERCE_NOW=2026-11-25T12:05:00Z cash-bank deposit | cash-merchant record > /dev/null

say "the fix: after the deadline she asks the bank about the very same spends"
export ATOMIC_COMMERCE_NOW=$after_deadline
for order in order-2 order-3; do
  outcome=$(cash-spend claim --order $order | cash-bank refund | cash-spend settle | sed -n 's/.*"outcome":"\(.*\)".*/\1/p')
  echo "recovery: $order $outcome"
done
credited=$(cash-withdraw redeem | cash-bank redeem | cash-withdraw redeemed)
echo "recovery: voucher redeemed into her account: $credited"
cash-bank double-spends | wc -l | sed 's/^/recovery: double spends recorded in all: /'
cash-bank audit > /dev/null
echo "balances: alice $(cash-bank balance alice), bookshop $(cash-bank balance bookshop)"
