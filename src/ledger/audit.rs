//! The audit of a ledger, as a pure function of one snapshot of its tables: the journal is
//! replayed alone ([`journal::replay`]), then every row of the books is compared with the books
//! the journal makes. Every backend reads the same rows and gets the same report.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::crypto::keys::Identity;
use crate::doc::{Hex, Signed};
use crate::ledger::AuditReport;
use crate::ledger::journal::{self, Replayed};
use crate::money::Amount;
use crate::netbill::receipt::{Receipt, RefusalReason};

/// The queries that read a snapshot, the same on every backend (their columns are [`Tables`]').
pub const SELECT_ACCOUNTS: &str = "SELECT id, name, key_id, identity, balance, opened_at FROM accounts ORDER BY id";
/// See [`SELECT_ACCOUNTS`].
pub const SELECT_TRANSACTIONS: &str = "SELECT id, kind, epo_id, memo, at, entry, action FROM transactions ORDER BY id";
/// See [`SELECT_ACCOUNTS`].
pub const SELECT_MOVEMENTS: &str = "SELECT txn, account, amount FROM movements ORDER BY id";
/// See [`SELECT_ACCOUNTS`].
pub const SELECT_SETTLEMENTS: &str = "SELECT epo_id, request_sha256, result, ciphertext_root, goods_key, entry, \
                                      action, txn, at FROM settlements ORDER BY epo_id";
/// See [`SELECT_ACCOUNTS`].
pub const SELECT_JOURNAL: &str = "SELECT seq, entry FROM journal ORDER BY seq";
/// See [`SELECT_ACCOUNTS`].
pub const SELECT_HEAD: &str = "SELECT seq, digest FROM journal_head";

/// `(id, name, key id, identity, balance, opened at)` of an account.
pub type AccountRow = (i64, String, String, String, i64, String);
/// `(id, kind, EPO id, memo, at, journal entry, action)` of a transaction.
pub type TxnRow = (i64, String, Option<String>, Option<String>, String, i64, i64);
/// `(EPO id, request digest, result, ciphertext digest, goods key, journal entry and action
/// holding its receipt, transaction, at)`.
pub type SettlementRow = (String, String, String, String, Option<String>, i64, i64, Option<i64>, String);

/// A ledger's tables, as the audit reads them (one consistent snapshot).
#[derive(Debug, Default, Serialize)]
pub struct Tables {
    /// Every account.
    pub accounts: Vec<AccountRow>,
    /// Every transaction.
    pub transactions: Vec<TxnRow>,
    /// `(transaction, account or None for the outside world, amount)` of every movement.
    pub movements: Vec<(i64, Option<i64>, i64)>,
    /// Every settlement.
    pub settlements: Vec<SettlementRow>,
    /// `(sequence number, signed entry)` of every journal entry.
    pub journal: Vec<(i64, String)>,
    /// The recorded head: `(sequence number, digest)`.
    pub head: Option<(i64, String)>,
}

impl Tables {
    /// SHA-256 of the whole snapshot: what an unwinding plan was made from.
    pub fn digest(&self) -> Hex<32> {
        Hex(Sha256::digest(serde_json::to_vec(self).expect("rows serialize")).into())
    }
}

/// A receipt a party holds, and the file it came from.
pub type Held = (String, Signed<Receipt>);

/// Replays the journal and compares the books with it, and with the receipts `held` by
/// parties (each a commitment to the history before it).
pub fn audit(t: &Tables, server: &Identity, held: &[Held]) -> AuditReport {
    let replayed = journal::replay(&t.journal, server);
    let mut problems = replayed.problems.clone();
    for (file, receipt) in held {
        problems.extend(check_held(file, receipt, &replayed, server));
    }
    for d in &replayed.divergences {
        problems.push(format!(
            "journal entry {}: the server acted on a balance of {} for {}, where the journal gives {}: its books \
             were changed behind the server's back after entry {}",
            d.seq,
            show(d.seen),
            d.account,
            show(d.journal),
            d.after
        ));
    }
    if replayed.intact {
        let recorded = replayed.head.map(|h| (h.seq as i64, h.digest.to_string()));
        if t.head != recorded {
            problems.push("the recorded journal head is not the journal's last entry".into());
        }
        problems.extend(compare(t, &replayed));
    } else {
        problems.push("the books were not compared with a broken journal".into());
    }
    let to_amount = |v: i128| u64::try_from(v).ok().and_then(Amount::from_micros).unwrap_or(Amount::MAX);
    AuditReport {
        accounts: replayed.accounts.len() as u64,
        transactions: replayed.transactions.len() as u64,
        receipts: replayed.receipts() as u64,
        total_balances: to_amount(replayed.total()),
        deposits: to_amount(replayed.deposits),
        withdrawals: to_amount(replayed.withdrawals),
        journal: replayed.head,
        unwind_from: replayed.divergences.iter().map(|d| d.seq).min(),
        problems,
    }
}

/// What a held receipt says the journal is, against what it is.
fn check_held(file: &str, receipt: &Signed<Receipt>, j: &Replayed, server: &Identity) -> Option<String> {
    let Ok(body) = receipt.verify(server) else {
        return Some(format!("{file}: not a receipt of this ledger's server {}", server.key_id));
    };
    let head = body.journal;
    let last = j.digests.len() as u64;
    let held = match usize::try_from(head.seq).ok().and_then(|s| j.digests.get(s)) {
        None => format!(
            "{file}: follows journal entry {}, but the journal has {last} verified entries: it was truncated",
            head.seq
        ),
        Some(d) if *d != head.digest => {
            format!("{file}: follows another journal entry {}: the journal was rewritten from there", head.seq)
        }
        Some(_) => {
            let binds = body.reason.is_none_or(RefusalReason::binds);
            match j.settlements.get(body.epo_id.as_str()) {
                _ if !binds => return None,
                None => format!("{file}: its settlement of {} is not in the journal: it was dropped", body.epo_id),
                Some(s) if s.receipt != receipt.to_json_line() => format!(
                    "{file}: the journal holds another receipt for {}: the server signed two results",
                    body.epo_id
                ),
                Some(_) => return None,
            }
        }
    };
    Some(held)
}

/// Every difference between the books and the books the journal makes, one line each.
pub fn compare(t: &Tables, j: &Replayed) -> Vec<String> {
    let mut problems = Vec::new();
    let key_of: HashMap<i64, &str> = t.accounts.iter().map(|a| (a.0, a.2.as_str())).collect();
    let accounts: BTreeMap<&str, &AccountRow> = t.accounts.iter().map(|a| (a.2.as_str(), a)).collect();
    for (key, a) in &j.accounts {
        let Some(row) = accounts.get(key.as_str()) else {
            problems.push(format!("account {} ({key}) is in the journal but missing from the books", a.name));
            continue;
        };
        if i128::from(row.4) != a.balance {
            problems.push(format!(
                "account {}: balance {} in the books, {} by the journal (entry {} last moved it)",
                a.name,
                show(i128::from(row.4)),
                show(a.balance),
                a.last
            ));
        }
        if row.1 != a.name || row.3 != a.identity || row.5 != a.opened_at {
            problems.push(format!("account {}: its name, identity or opening time differ from the journal's", a.name));
        }
    }
    for (key, row) in &accounts {
        if !j.accounts.contains_key(*key) {
            problems.push(format!("account {} ({key}) in the books is not in the journal", row.1));
        }
    }

    let mut moves: HashMap<i64, Vec<(Option<String>, i64)>> = HashMap::new();
    for (txn, account, amount) in &t.movements {
        let who = account.map(|a| key_of.get(&a).map_or_else(|| format!("account #{a}"), |k| k.to_string()));
        moves.entry(*txn).or_default().push((who, *amount));
    }
    let mut place_of: HashMap<i64, (u64, u32)> = HashMap::new();
    let mut txns: BTreeMap<(u64, u32), &TxnRow> = BTreeMap::new();
    for row in &t.transactions {
        match (u64::try_from(row.5), u32::try_from(row.6)) {
            (Ok(e), Ok(a)) if j.transactions.contains_key(&(e, a)) => {
                place_of.insert(row.0, (e, a));
                txns.insert((e, a), row);
            }
            _ => problems.push(format!("transaction {} ({}) in the books is not in the journal", row.0, what(row))),
        }
    }
    for (place, txn) in &j.transactions {
        let Some(row) = txns.get(place) else {
            let name = txn.epo_id.as_deref().or(txn.memo.as_deref()).unwrap_or("");
            problems.push(format!("{} {name} of journal entry {} is missing from the books", txn.kind, place.0));
            continue;
        };
        let mut stored = moves.remove(&row.0).unwrap_or_default();
        stored.sort();
        let same =
            row.1 == txn.kind && row.2 == txn.epo_id && row.3 == txn.memo && row.4 == txn.at && stored == txn.moves;
        if !same {
            problems.push(format!(
                "transaction {} ({}) differs from journal entry {}: its rows were changed",
                row.0,
                what(row),
                place.0
            ));
        }
    }
    let mut orphans: Vec<&i64> = moves.keys().filter(|t| !place_of.contains_key(t)).collect();
    orphans.sort();
    if let Some(txn) = orphans.first() {
        problems.push(format!("movements of transaction {txn} in the books are not in the journal"));
    }

    let settlements: BTreeMap<&str, &SettlementRow> = t.settlements.iter().map(|s| (s.0.as_str(), s)).collect();
    for (epo_id, s) in &j.settlements {
        let Some(row) = settlements.get(epo_id.as_str()) else {
            problems.push(format!("settlement {epo_id} is in the journal but missing from the books"));
            continue;
        };
        if (row.5, row.6) != (s.place.0 as i64, i64::from(s.place.1)) {
            problems.push(format!(
                "settlement {epo_id}: the books place its receipt at journal entry {}, action {}; the journal holds it \
                 at entry {}, action {}",
                row.5, row.6, s.place.0, s.place.1
            ));
        } else if row.1 != s.request
            || row.2 != s.result
            || row.3 != s.ciphertext
            || row.4 != s.goods_key
            || row.7.and_then(|t| place_of.get(&t).copied()) != s.txn
            || row.8 != s.at
        {
            problems.push(format!("settlement {epo_id}: its row differs from the journal's"));
        }
    }
    for epo_id in settlements.keys() {
        if !j.settlements.contains_key(*epo_id) {
            problems.push(format!("settlement {epo_id} in the books is not in the journal"));
        }
    }
    problems
}

/// A transaction row named for messages.
fn what(row: &TxnRow) -> String {
    match (&row.2, &row.3) {
        (Some(epo), _) => format!("{} {epo}", row.1),
        (None, Some(memo)) => format!("{} {memo:?}", row.1),
        (None, None) => row.1.clone(),
    }
}

/// An i128 of micro-units as a signed decimal amount, for messages.
pub fn show(micros: i128) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    match u64::try_from(micros.unsigned_abs()).ok().and_then(Amount::from_micros) {
        Some(m) => format!("{sign}{m}"),
        None => format!("{micros} micro-units"),
    }
}
