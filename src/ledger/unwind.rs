//! Unwinding a corrupted ledger: a reviewable plan, made from one snapshot of the books and the
//! journal, then applied atomically.
//!
//! The journal is the truth (`netbill-ledger audit` has checked its chain and signatures). The
//! plan restores the books the journal makes (every row changed, deleted or inserted behind the
//! server's back) and, when the server itself acted on corrupted balances from entry `from` on,
//! moves back the money of every entry from there, so that each balance is what the journal
//! gave before the corruption began. Applying appends one signed `correction` entry (the
//! history is never rewritten) and rebuilds the tables from the journal, in one transaction,
//! and only if the books are still exactly those the plan was made from.

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::doc::{Body, Hex, Signed};
use crate::error::{Error, Result};
use crate::ledger::Direction;
use crate::ledger::audit::{Tables, compare, show};
use crate::ledger::journal::{Action, Entry, Head, Move, Replayed, replay};
use crate::money::Amount;

/// The body of a `netbill.unwind-plan`: what `netbill-ledger unwind --apply` will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The server whose books these are.
    pub server: KeyId,
    /// The journal's head the plan was made against.
    pub journal: Head,
    /// SHA-256 of the snapshot of the books the plan was made from.
    pub books: Hex<32>,
    /// The first entry whose money is moved back (one past the head: none).
    pub from: u64,
    /// The entries from `from` on that moved money.
    pub reversed: Vec<u64>,
    /// Every account whose balance in the books changes.
    pub balances: Vec<Restored>,
    /// Every row the rebuild from the journal repairs, as the audit names it.
    pub rows: Vec<String>,
    /// The money the correction entry moves.
    pub correction: Vec<Move>,
}

impl Body for Plan {
    const TYPE: &'static str = "netbill.unwind-plan";
}

/// One account's balance, as the books have it and as the plan restores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restored {
    /// The account's name.
    pub account: String,
    /// The key it is bound to.
    pub key_id: KeyId,
    /// Its balance in the books now (none: the row is missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub books: Option<Amount>,
    /// Its balance once the plan is applied.
    pub restored: Amount,
}

impl Plan {
    /// Whether applying the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.correction.is_empty() && self.balances.is_empty()
    }
}

/// Makes the plan that unwinds the ledger of `server` from entry `from` (default: no entry
/// reversed, only the books restored), from the snapshot `t`.
pub fn plan(t: &Tables, server: &Identity, from: Option<u64>) -> Result<Plan> {
    let full = replay(&t.journal, server);
    let (Some(head), true) = (full.head, full.intact) else {
        return Err(Error::refused(format!(
            "the journal itself is broken ({}): restore it from a backup (receipts name its entries) before unwinding",
            full.problems.first().map_or("no entry", String::as_str)
        )));
    };
    let from = from.unwrap_or(head.seq + 1);
    if from == 0 || from > head.seq + 1 {
        return Err(Error::usage(format!("--from must name an entry from 1 to {} (the head plus one)", head.seq + 1)));
    }
    if let Some(d) = full.divergences.iter().find(|d| d.seq < from) {
        return Err(Error::refused(format!(
            "the server acted on a changed balance of {} at entry {}, before entry {from}: unwind from entry {} or earlier",
            d.account, d.seq, d.seq
        )));
    }
    let rows: Vec<(i64, String)> = t.journal.iter().filter(|(seq, _)| (*seq as u64) < from).cloned().collect();
    let before = replay(&rows, server);
    let mut correction = Vec::new();
    let mut balances = Vec::new();
    for (key, account) in &full.accounts {
        let target = before.accounts.get(key).map_or(0, |a| a.balance);
        let restored = amount(target).ok_or_else(|| {
            Error::refused(format!(
                "{} would be left with {}: unwind from an earlier entry",
                account.name,
                show(target)
            ))
        })?;
        let key_id: KeyId = key.parse()?;
        let delta = target - account.balance;
        if delta != 0 {
            let direction = if delta > 0 { Direction::Credit } else { Direction::Debit };
            let moved = amount(delta.abs()).ok_or_else(|| Error::refused("a correction moves too much money"))?;
            correction.push(Move { account: key_id, direction, amount: moved, balance: restored });
        }
        let books = t.accounts.iter().find(|a| a.2 == *key).map(|a| i128::from(a.4));
        if books != Some(target) {
            balances.push(Restored { account: account.name.clone(), key_id, books: books.and_then(amount), restored });
        }
    }
    let mut reversed: Vec<u64> = full.transactions.keys().map(|(e, _)| *e).filter(|e| *e >= from).collect();
    reversed.dedup();
    Ok(Plan {
        server: server.key_id,
        journal: head,
        books: t.digest(),
        from,
        reversed,
        balances,
        rows: compare(t, &full),
        correction,
    })
}

/// Checks that `given` is the plan the snapshot `t` makes now, and returns the correction
/// entry to append and the books the journal makes with it, to rebuild the tables from.
pub fn apply(t: &Tables, server: &PartyKeys, given: &Plan, now: Time) -> Result<(Signed<Entry>, Replayed)> {
    let identity = server.identity();
    if plan(t, &identity, Some(given.from))? != *given {
        return Err(Error::refused(
            "the books or the journal changed since this plan was made (or it was edited): make a new plan",
        ));
    }
    let action = Action::Correction { from: given.from, moves: given.correction.clone() };
    let entry = Entry::sign(Some(given.journal), now, vec![action], server);
    let mut rows = t.journal.clone();
    rows.push((entry.unverified().seq as i64, entry.to_json_line()));
    let replayed = replay(&rows, &identity);
    if !replayed.intact || !replayed.divergences.is_empty() || replayed.accounts.values().any(|a| a.balance < 0) {
        return Err(Error::refused("the correction does not restore the books (a bug: nothing was changed)"));
    }
    Ok((entry, replayed))
}

fn amount(micros: i128) -> Option<Amount> {
    u64::try_from(micros).ok().and_then(Amount::from_micros)
}
