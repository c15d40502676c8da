//! `netbill-ledger`: the NetBill server's books.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::{self, Clock};
use crate::crypto::keys::PartyKeys;
use crate::doc::Plain;
use crate::error::{Error, Result, ResultExt};
use crate::ledger::unwind::Plan;
use crate::ledger::{External, Ledger, describe};
use crate::money::Amount;

/// Keep the NetBill server's books: accounts bound to public identities, external deposits
/// and withdrawals, statements, and an audit of every invariant.
///
/// The ledger is an embedded SQLite database (WAL mode, full fsync on commit), or, named by a
/// postgres:// URL, a PostgreSQL (or CockroachDB) database that many settlers share.
#[derive(Debug, Parser)]
pub struct Args {
    /// The ledger: an SQLite file, or a postgres:// URL
    #[arg(long, value_name = "PATH|URL", env = "NETBILL_LEDGER", global = true)]
    ledger: Option<PathBuf>,
    /// The server's secret-key file: it signs every journal entry (created with mode 0600 by
    /// `init` if missing)
    #[arg(long, value_name = "FILE", env = "NETBILL_SERVER_KEY", global = true)]
    key: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create a ledger, and the server's key unless the key file exists (then adopt it);
    /// print the server's identity document
    Init {
        /// The server's name when a key is created
        #[arg(long, default_value = "netbill")]
        name: String,
    },
    /// Print the server's identity document
    Identity,
    /// Open an account bound to a party's public identity (named after the party)
    Open {
        /// The party's identity document
        #[arg(value_name = "IDENTITY")]
        identity: PathBuf,
    },
    /// Credit external money to an account; prints the new balance
    Deposit(Movement),
    /// Pay external money out of an account; prints the new balance
    Withdraw(Movement),
    /// Print an account's balance
    Balance {
        /// Account name or key id
        account: String,
    },
    /// Print every movement of an account with its EPO id (JSON)
    Statement {
        /// Account name or key id
        account: String,
    },
    /// Check the books against the journal: the journal's hash chain and every signature in it,
    /// then every account, transaction, movement and settlement against the books the journal
    /// alone makes. Exit status 1 with the problems listed, and where to unwind from when the
    /// server acted on a balance changed behind its back.
    Audit {
        /// A receipt a party holds: the journal must hold the head it follows, and the receipt
        /// itself if it is binding (repeatable; catches a truncated or rewritten journal)
        #[arg(long = "receipt", value_name = "FILE")]
        receipts: Vec<PathBuf>,
        /// The server's identity document, kept apart from the database: the ledger must be
        /// this server's (otherwise the audit trusts the identity stored in the database)
        #[arg(long, value_name = "ID")]
        server: Option<PathBuf>,
    },
    /// Restore books corrupted behind the server's back: print a reviewable plan (JSON), or
    /// apply one atomically. The journal is never rewritten: applying appends a signed
    /// correction entry and rebuilds the books from the journal.
    Unwind {
        /// Move back the money of every entry from this one on (the audit's `unwind_from`);
        /// by default only the books are restored to what the journal says
        #[arg(long, value_name = "ENTRY", conflicts_with = "apply")]
        from: Option<u64>,
        /// Apply this plan, made by `unwind` on the same books (refused if they changed since)
        #[arg(long, value_name = "PLAN")]
        apply: Option<PathBuf>,
    },
}

/// An external movement of money.
#[derive(Debug, clap::Args)]
struct Movement {
    /// Account name or key id
    account: String,
    /// Amount (exact decimal, up to 6 places)
    #[arg(value_parser = cli::parse_amount)]
    amount: Amount,
    /// Free text recorded with the movement
    #[arg(long)]
    memo: Option<String>,
}

crate::cli::entry_points!("netbill-ledger", |a: Args| run(a));

fn run(a: Args) -> Result<ExitCode> {
    let now = a.clock.now();
    let path = a.ledger.ok_or_else(|| Error::usage("no ledger given: use --ledger PATH or set NETBILL_LEDGER"))?;
    let print = |s: String| cli::write_stdout(s.as_bytes());
    const HINT: &str = "use --key FILE or set NETBILL_SERVER_KEY";
    let keys = || cli::read_given_keys(a.key.as_deref(), HINT);
    match a.action {
        Action::Init { name } => {
            if !Ledger::is_server(&path) && path.exists() {
                return Err(Error::new(crate::ErrorKind::CannotCreate, "already exists; refusing to overwrite")
                    .at(path.display()));
            }
            let key = a.key.as_deref().ok_or_else(|| Error::usage(format!("no key given: {HINT}")))?;
            let identity = cli::create_with_key(key, &name, &path, |k| {
                Ledger::create(&path, k, now).map(|()| k.identity_document())
            })?;
            print(identity.to_json_pretty())?;
        }
        Action::Identity => print(Ledger::open(&path)?.server_document().to_json_pretty())?,
        Action::Open { identity } => {
            let identity = cli::read_identity(&identity)?;
            Ledger::open(&path)?.open_account(&identity, &keys()?, now)?;
        }
        Action::Deposit(m) => external(&path, External::Deposit, &m, &keys()?, now)?,
        Action::Withdraw(m) => external(&path, External::Withdrawal, &m, &keys()?, now)?,
        Action::Balance { account } => print(format!("{}\n", Ledger::open(&path)?.balance(&account)?))?,
        Action::Statement { account } => print(Plain(Ledger::open(&path)?.statement(&account)?).to_json_pretty())?,
        Action::Audit { receipts, server } => {
            let mut ledger = Ledger::open(&path)?;
            if let Some(pinned) = server {
                let pinned = cli::read_identity(&pinned)?;
                let stored = ledger.server_document().unverified();
                if *stored != pinned {
                    return Err(Error::refused(format!(
                        "the ledger's server is {} (key {}), not the pinned {} (key {})",
                        stored.name, stored.key_id, pinned.name, pinned.key_id
                    ))
                    .at(describe(&path)));
                }
            }
            let held =
                receipts.iter().map(|f| Ok((cli::display(f), cli::read_signed(f)?))).collect::<Result<Vec<_>>>()?;
            let report = ledger.audit_holding(&held)?;
            let problems = report.problems.len();
            print(Plain(report).to_json_pretty())?;
            if problems > 0 {
                eprintln!("netbill-ledger: {}: audit failed: {problems} problem(s)", describe(&path));
                return Ok(ExitCode::from(1));
            }
        }
        Action::Unwind { from, apply: None } => {
            let plan = Ledger::open(&path)?.unwind_plan(from)?;
            if plan.is_empty() {
                eprintln!(
                    "netbill-ledger: {}: nothing to unwind: the books are what the journal says",
                    describe(&path)
                );
            }
            print(Plain(plan).to_json_pretty())?;
        }
        Action::Unwind { apply: Some(file), .. } => {
            let plan: Plan = Plain::parse(&cli::read_input(&file)?).at(cli::display(&file))?;
            let mut ledger = Ledger::open(&path)?;
            if plan.is_empty() {
                eprintln!("netbill-ledger: {}: nothing to unwind", describe(&path));
            } else {
                ledger.unwind_apply(&plan, &keys()?, now)?;
            }
            print(Plain(ledger.audit()?).to_json_pretty())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn external(path: &Path, kind: External, m: &Movement, server: &PartyKeys, now: crate::clock::Time) -> Result<()> {
    let balance = Ledger::open(path)?.external(&m.account, kind, m.amount, m.memo.as_deref(), server, now)?;
    cli::write_stdout(format!("{balance}\n").as_bytes())
}
