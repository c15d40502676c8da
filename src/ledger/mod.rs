//! The NetBill server's books: accounts bound to public identities, double-entry money
//! movements, and every settlement with its escrowed K and signed receipt.
//!
//! [`sqlite`] is the embedded default (rusqlite, bundled SQLite, WAL, `synchronous=FULL`):
//! each settlement is one `BEGIN IMMEDIATE` transaction, and a receipt leaves the process
//! only after its transaction commits.

pub mod audit;
pub mod sqlite;

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::crypto::keys::KeyId;
use crate::doc::Body;
use crate::money::Amount;
use crate::netbill::delivery::EpoId;

pub use sqlite::SqliteLedger;

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
    /// The balance after this movement.
    pub balance: Amount,
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
    /// Number of accounts.
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
    /// Every violated invariant, precisely; empty when the books are sound.
    pub problems: Vec<String>,
}

impl Body for AuditReport {
    const TYPE: &'static str = "netbill.audit";
}
