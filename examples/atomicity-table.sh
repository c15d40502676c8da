#!/usr/bin/env bash
# The paper's atomicity table, measured: every protocol under every single fault at every
# message boundary, each party recovering afterwards; then one counterexample replayed.
#
#   examples/atomicity-table.sh [WORKDIR]
#
# Writes table.txt and table.json in WORKDIR. Tools on PATH, or in $BIN_DIR when set.
# `atomicity-lab table --faults 2` explores every pair of faults too (a minute or two).
set -euo pipefail
[ -n "${BIN_DIR:-}" ] && PATH="$BIN_DIR:$PATH"
work=${1:-$(mktemp -d)}
mkdir -p "$work" && cd "$work"

atomicity-lab table | tee table.txt
atomicity-lab table --json > table.json 2> /dev/null

# The paper's DigiCash scenario, step by step: the payment is lost and she keeps the coin.
trace=$(sed -n 's/^ *DigiCash (paper; she keeps the coin) *money *\(.*\)$/\1/p' table.txt)
echo
atomicity-lab replay "$trace"
