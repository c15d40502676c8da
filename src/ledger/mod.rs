//! The NetBill server's books: accounts bound to public identities, double-entry money
//! movements, and every settlement with its escrowed K and signed receipt.
//!
//! [`sqlite`] is the embedded default (rusqlite, bundled SQLite, WAL, `synchronous=FULL`);
//! [`postgres`] keeps the same books in PostgreSQL (or CockroachDB) for settlers on many
//! machines; [`Ledger`] is either, chosen by how the ledger is named (a path, or a
//! `postgres://` URL). Settlements are recorded in groups, one transaction each, and a
//! receipt leaves the process only after its transaction commits.

pub mod audit;
pub mod journal;
pub mod postgres;
pub mod sqlite;
pub mod unwind;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::doc::{Body, Signed};
use crate::error::{Error, Result};
use crate::money::{Amount, SignedAmount};
use crate::netbill::batch::{Directory, Prepared};
use crate::netbill::delivery::EpoId;
use crate::netbill::receipt::Receipt;
use crate::netbill::settle::{Account, StoredSettlement};
use journal::Head;
use unwind::Plan;

pub use postgres::PgLedger;
pub use sqlite::{External, SqliteLedger};

/// Which way a movement went for the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Money in.
    Credit,
    /// Money out.
    Debit,
}

/// One line of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementLine {
    /// When the transaction was recorded.
    pub at: Time,
    /// `deposit`, `withdrawal` or `purchase`.
    pub kind: String,
    /// The purchase's EPO id (purchases only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epo_id: Option<EpoId>,
    /// The memo given with a deposit or withdrawal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// Credit or debit.
    pub direction: Direction,
    /// The amount moved.
    pub amount: Amount,
    /// The balance after this movement (below zero only where the server paid out of a
    /// balance changed behind its back; see `netbill-ledger unwind`).
    pub balance: SignedAmount,
}

/// The body of a `netbill.statement`: an account's every movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Account name.
    pub account: String,
    /// The key the account is bound to.
    pub key_id: KeyId,
    /// The current balance.
    pub balance: Amount,
    /// Movements, oldest first.
    pub movements: Vec<StatementLine>,
}

impl Body for Statement {
    const TYPE: &'static str = "netbill.statement";
}

/// The body of a `netbill.audit` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditReport {
    /// Number of accounts. This and the counts and sums below are the books as the verified
    /// journal makes them; where the tables differ, `problems` says so.
    pub accounts: u64,
    /// Number of transactions.
    pub transactions: u64,
    /// Number of stored receipts.
    pub receipts: u64,
    /// Sum of all balances.
    pub total_balances: Amount,
    /// Money deposited from outside.
    pub deposits: Amount,
    /// Money withdrawn to outside.
    pub withdrawals: Amount,
    /// The head of the verified journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<Head>,
    /// The first entry where the server acted on a balance changed behind its back: where to
    /// unwind from (`netbill-ledger unwind --from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwind_from: Option<u64>,
    /// Every violated invariant, precisely; empty when the books are sound.
    pub problems: Vec<String>,
}

impl Body for AuditReport {
    const TYPE: &'static str = "netbill.audit";
}

/// A ledger on either backend.
pub enum Ledger {
    /// An SQLite file.
    Sqlite(SqliteLedger),
    /// A PostgreSQL (or CockroachDB) database.
    Postgres(PgLedger),
}

/// The URL of a ledger named by a `postgres://` or `postgresql://` URL.
fn url(spec: &Path) -> Option<&str> {
    spec.to_str().filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// How a ledger is named in messages: its path, or its URL without a password.
pub fn describe(spec: &Path) -> String {
    match url(spec) {
        Some(u) => postgres::shown(u),
        None => spec.display().to_string(),
    }
}

/// Calls the same method on either backend.
macro_rules! either {
    ($self:ident, $l:ident => $call:expr) => {
        match $self {
            Ledger::Sqlite($l) => $call,
            Ledger::Postgres($l) => $call,
        }
    };
}

impl Ledger {
    /// Creates a ledger (a new SQLite file, or the tables in an empty database) for the server
    /// `server`, whose journal starts with the signed entry that creates it.
    pub fn create(spec: &Path, server: &PartyKeys, now: Time) -> Result<()> {
        match url(spec) {
            Some(u) => PgLedger::create(u, server, now),
            None => SqliteLedger::create(spec, server, now),
        }
    }

    /// Opens a ledger.
    pub fn open(spec: &Path) -> Result<Ledger> {
        Ok(match url(spec) {
            Some(u) => Ledger::Postgres(PgLedger::open(u)?),
            None => Ledger::Sqlite(SqliteLedger::open(spec)?),
        })
    }

    /// Whether `spec` names a database server rather than a file.
    pub fn is_server(spec: &Path) -> bool {
        url(spec).is_some()
    }

    /// The server's self-signed identity document.
    pub fn server_document(&self) -> &Signed<Identity> {
        either!(self, l => l.server_document())
    }

    /// Checks that `keys` are this ledger's server keys.
    pub fn check_server_keys(&self, keys: &PartyKeys) -> Result<()> {
        either!(self, l => l.check_server_keys(keys))
    }

    /// Opens an account bound to `identity` (journaled, signed by `server`).
    pub fn open_account(&mut self, identity: &Identity, server: &PartyKeys, now: Time) -> Result<()> {
        either!(self, l => l.open_account(identity, server, now))
    }

    /// Moves external money into or out of an account; returns the new balance.
    pub fn external(
        &mut self,
        account: &str,
        kind: External,
        value: Amount,
        memo: Option<&str>,
        server: &PartyKeys,
        now: Time,
    ) -> Result<Amount> {
        either!(self, l => l.external(account, kind, value, memo, server, now))
    }

    /// An account's balance.
    pub fn balance(&mut self, account: &str) -> Result<Amount> {
        either!(self, l => l.balance(account))
    }

    /// An account's statement.
    pub fn statement(&mut self, account: &str) -> Result<Statement> {
        either!(self, l => l.statement(account))
    }

    /// The audit: the journal replayed alone, and the books compared with it.
    pub fn audit(&mut self) -> Result<AuditReport> {
        self.audit_holding(&[])
    }

    /// The audit, also checking that the journal holds the history `held` receipts commit to.
    pub fn audit_holding(&mut self, held: &[audit::Held]) -> Result<AuditReport> {
        either!(self, l => Ok(audit::audit(&l.tables()?, l.server_document().unverified(), held)))
    }

    /// The plan that unwinds the books from entry `from` (see [`unwind`]).
    pub fn unwind_plan(&mut self, from: Option<u64>) -> Result<Plan> {
        either!(self, l => unwind::plan(&l.tables()?, l.server_document().unverified(), from))
    }

    /// Applies an unwinding plan atomically, if the books are still those it was made from.
    pub fn unwind_apply(&mut self, plan: &Plan, server: &PartyKeys, now: Time) -> Result<()> {
        either!(self, l => l.unwind_apply(plan, server, now))
    }

    /// The recorded settlement of `epo_id`, and its customer's account.
    pub fn settlement(&mut self, epo_id: &EpoId) -> Result<Option<(StoredSettlement, Option<Account>)>> {
        either!(self, l => l.settlement(epo_id))
    }

    /// Adds the accounts of `keys` to `directory`.
    pub fn fill_directory(&mut self, keys: Vec<KeyId>, directory: &mut Directory) -> Result<()> {
        either!(self, l => l.fill_directory(keys, directory))
    }

    /// Settles a group of prepared requests in one transaction.
    pub fn settle_group(
        &mut self,
        group: &[Prepared],
        server: &PartyKeys,
        now: Time,
        threads: usize,
    ) -> Result<Vec<Signed<Receipt>>> {
        either!(self, l => l.settle_group(group, server, now, threads))
    }
}

/// Checks that `keys` are the keys of the ledger's server `server`.
fn check_server(server: &Identity, keys: &PartyKeys) -> Result<()> {
    if keys.key_id() != server.key_id {
        return Err(Error::usage(format!("the server key {} is not this ledger's ({})", keys.key_id(), server.key_id)));
    }
    Ok(())
}

/// Refuses an account key settlement could not verify exactly in batches: a weak key, or one
/// with a small-order component (see [`crate::netbill::batch`]).
pub fn check_account_key(identity: &Identity) -> Result<()> {
    if !identity.verifying_key()?.to_edwards().is_torsion_free() {
        return Err(Error::refused(format!("the key of {} has a small-order component", identity.name)));
    }
    Ok(())
}

/// `(at, kind, EPO id, memo, signed amount)` of one movement of an account.
pub type MovementRow = (String, String, Option<String>, Option<String>, i64);

/// A statement's lines from its movements, oldest first, with the running balance.
pub fn statement_lines(rows: Vec<MovementRow>, place: &str) -> Result<Vec<StatementLine>> {
    let mut running: i128 = 0;
    let mut lines = Vec::with_capacity(rows.len());
    for (at, kind, epo_id, memo, delta) in rows {
        let moved = Amount::from_micros(delta.unsigned_abs())
            .ok_or_else(|| Error::malformed(format!("amount {delta} out of range")).at(place))?;
        let direction = if delta >= 0 { Direction::Credit } else { Direction::Debit };
        running += i128::from(delta);
        let balance = SignedAmount::from_micros(running)
            .ok_or_else(|| Error::malformed("statement out of range: run `netbill-ledger audit`").at(place))?;
        lines.push(StatementLine {
            at: at.parse().map_err(|e: Error| e.at(place))?,
            kind,
            epo_id: epo_id.map(|e| e.parse()).transpose().map_err(|e: Error| e.at(place))?,
            memo,
            direction,
            amount: moved,
            balance,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Hex;

    #[test]
    fn a_key_with_a_small_order_component_cannot_open_an_account() {
        let honest = PartyKeys::generate("alice").unwrap().identity();
        check_account_key(&honest).unwrap();
        let point = ed25519_dalek::VerifyingKey::from_bytes(&honest.ed25519.0).unwrap().to_edwards()
            + curve25519_dalek::constants::EIGHT_TORSION[1];
        let mixed = Identity {
            ed25519: Hex(point.compress().to_bytes()),
            key_id: KeyId::of(&point.compress().to_bytes()),
            ..honest
        };
        let e = check_account_key(&mixed).unwrap_err();
        assert!(e.message().contains("small-order component"), "{e}");
    }
}
