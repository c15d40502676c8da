//! The audit of a ledger, as a pure function of its tables: every backend reads the same rows
//! and gets the same report.

use std::collections::HashMap;

use crate::crypto::keys::Identity;
use crate::doc::Signed;
use crate::ledger::AuditReport;
use crate::money::Amount;
use crate::netbill::receipt::{Outcome, Receipt};

/// A ledger's tables, as the audit reads them (one consistent snapshot).
#[derive(Debug, Default)]
pub struct Tables {
    /// `(id, name, key id, balance)` of every account.
    pub accounts: Vec<(i64, String, String, i64)>,
    /// `(transaction, account or None for the outside world, amount)` of every movement.
    pub movements: Vec<(i64, Option<i64>, i64)>,
    /// `(id, kind, EPO id)` of every transaction.
    pub transactions: Vec<(i64, String, Option<String>)>,
    /// Every settlement.
    pub settlements: Vec<SettlementRow>,
}

/// `(EPO id, request digest, result, goods key, receipt, transaction)` of a settlement.
pub type SettlementRow = (String, String, String, Option<String>, String, Option<i64>);

/// Recomputes every balance from the movements and checks every transaction and receipt.
pub fn audit(t: &Tables, server: &Identity) -> AuditReport {
    let mut problems = Vec::new();
    let mut per_account: HashMap<i64, i128> = HashMap::new();
    let mut per_txn: HashMap<i64, Vec<(Option<i64>, i64)>> = HashMap::new();
    let mut external: i128 = 0;
    let kinds: HashMap<i64, &str> = t.transactions.iter().map(|(id, k, _)| (*id, k.as_str())).collect();
    let (mut deposits, mut withdrawals) = (0i128, 0i128);
    for (txn, account, value) in &t.movements {
        per_txn.entry(*txn).or_default().push((*account, *value));
        match account {
            Some(a) => *per_account.entry(*a).or_default() += i128::from(*value),
            None => {
                external += i128::from(*value);
                match kinds.get(txn) {
                    Some(&"deposit") => deposits -= i128::from(*value),
                    Some(&"withdrawal") => withdrawals += i128::from(*value),
                    k => problems.push(format!("transaction {txn}: external movement in a {k:?} transaction")),
                }
            }
        }
    }
    let mut total: i128 = 0;
    for (id, name, _, balance) in &t.accounts {
        total += i128::from(*balance);
        let moved = per_account.get(id).copied().unwrap_or(0);
        if i128::from(*balance) != moved {
            problems.push(format!(
                "account {name}: balance {} but its movements sum to {}",
                show(i128::from(*balance)),
                show(moved)
            ));
        }
    }
    for (id, kind, _) in &t.transactions {
        match per_txn.get(id) {
            None => problems.push(format!("transaction {id} ({kind}) has no movements")),
            Some(moves) if moves.iter().map(|(_, v)| i128::from(*v)).sum::<i128>() != 0 => problems.push(format!(
                "transaction {id} ({kind}) is unbalanced: its movements sum to {}",
                show(moves.iter().map(|(_, v)| i128::from(*v)).sum())
            )),
            Some(moves) if moves.len() != 2 => {
                problems.push(format!("transaction {id} ({kind}) has {} movements, expected 2", moves.len()))
            }
            Some(_) => {}
        }
    }
    if let Some(txn) = per_txn.keys().find(|t| !kinds.contains_key(t)) {
        problems.push(format!("movements refer to missing transaction {txn}"));
    }
    if total != -external || total != deposits - withdrawals {
        problems.push(format!(
            "sum of balances {} differs from deposits {} minus withdrawals {}",
            show(total),
            show(deposits),
            show(withdrawals)
        ));
    }
    check_settlements(t, server, &per_txn, &mut problems);
    let to_amount = |v: i128| u64::try_from(v).ok().and_then(Amount::from_micros).unwrap_or(Amount::MAX);
    AuditReport {
        accounts: t.accounts.len() as u64,
        transactions: t.transactions.len() as u64,
        receipts: t.settlements.len() as u64,
        total_balances: to_amount(total),
        deposits: to_amount(deposits),
        withdrawals: to_amount(withdrawals),
        problems,
    }
}

/// Every stored receipt verifies, says what its row says, and a paid one matches exactly one
/// purchase moving its price from its customer to its merchant.
fn check_settlements(
    t: &Tables,
    server: &Identity,
    per_txn: &HashMap<i64, Vec<(Option<i64>, i64)>>,
    problems: &mut Vec<String>,
) {
    let key_ids: HashMap<i64, &str> = t.accounts.iter().map(|(id, _, key, _)| (*id, key.as_str())).collect();
    let mut settled_txns = HashMap::new();
    for (epo_id, request, result, goods_key, receipt_json, txn) in &t.settlements {
        let receipt = match Signed::<Receipt>::parse(receipt_json.as_bytes()) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("settlement {epo_id}: stored receipt is malformed: {}", e.message()));
                continue;
            }
        };
        let Ok(body) = receipt.verify(server) else {
            problems.push(format!(
                "settlement {epo_id}: receipt signature does not verify with the server key {}",
                server.key_id
            ));
            continue;
        };
        let paid = body.result == Outcome::Paid;
        let consistent = body.epo_id.as_str() == epo_id
            && body.request.to_string() == *request
            && (if paid { "paid" } else { "refused" }) == result
            && body.key.map(|k| k.to_string()) == *goods_key;
        if !consistent {
            problems.push(format!("settlement {epo_id}: row differs from its signed receipt"));
        }
        match (paid, txn) {
            (false, None) => {}
            (false, Some(t)) => {
                problems.push(format!("settlement {epo_id}: refused but moved money (transaction {t})"))
            }
            (true, None) => problems.push(format!("settlement {epo_id}: paid but no money moved")),
            (true, Some(t)) => {
                settled_txns.insert(*t, epo_id.clone());
                let mut moves = per_txn.get(t).cloned().unwrap_or_default();
                moves.sort_by_key(|(_, amount)| *amount);
                let price = i64::try_from(body.price.micros()).unwrap_or(i64::MAX);
                let key_of = |a: &Option<i64>| a.and_then(|a| key_ids.get(&a).copied()).unwrap_or_default().to_string();
                let expected = moves.len() == 2
                    && moves[0].1 == -price
                    && moves[1].1 == price
                    && key_of(&moves[0].0) == body.customer.to_string()
                    && key_of(&moves[1].0) == body.merchant.to_string();
                if !expected {
                    problems.push(format!(
                        "settlement {epo_id}: transaction {t} does not move {} from customer {} to merchant {}",
                        body.price, body.customer, body.merchant
                    ));
                }
            }
        }
    }
    for (id, kind, epo_id) in &t.transactions {
        if kind == "purchase" && !settled_txns.contains_key(id) {
            problems.push(format!(
                "transaction {id}: purchase {} has no settlement receipt",
                epo_id.as_deref().unwrap_or("(no EPO id)")
            ));
        }
    }
}

/// An i128 of micro-units as a signed decimal amount, for audit messages.
fn show(micros: i128) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    match u64::try_from(micros.unsigned_abs()).ok().and_then(Amount::from_micros) {
        Some(m) => format!("{sign}{m}"),
        None => format!("{micros} micro-units"),
    }
}
