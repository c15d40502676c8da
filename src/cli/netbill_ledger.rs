//! `netbill-ledger`: the NetBill server's books.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::{self, Clock};
use crate::doc::Plain;
use crate::error::{Error, Result};
use crate::ledger::{External, Ledger};
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
        /// The server's secret-key file (created with mode 0600 if missing)
        #[arg(long, value_name = "FILE", env = "NETBILL_SERVER_KEY")]
        key: PathBuf,
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
    /// Check the books: balances equal their movements, every transaction balances, the sum of
    /// balances equals deposits minus withdrawals, every stored receipt's signature is valid
    /// and matches the money it moved. Exit status 1 with the problems listed otherwise.
    Audit,
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
    match a.action {
        Action::Init { key, name } => {
            if !Ledger::is_server(&path) && path.exists() {
                return Err(Error::new(crate::ErrorKind::CannotCreate, "already exists; refusing to overwrite")
                    .at(path.display()));
            }
            let identity = cli::create_with_key(&key, &name, &path, |k| {
                let id = k.identity_document();
                Ledger::create(&path, &id, now).map(|()| id)
            })?;
            print(identity.to_json_pretty())?;
        }
        Action::Identity => print(Ledger::open(&path)?.server_document().to_json_pretty())?,
        Action::Open { identity } => {
            let identity = cli::read_identity(&identity)?;
            Ledger::open(&path)?.open_account(&identity, now)?;
        }
        Action::Deposit(m) => external(&path, External::Deposit, &m, now)?,
        Action::Withdraw(m) => external(&path, External::Withdrawal, &m, now)?,
        Action::Balance { account } => print(format!("{}\n", Ledger::open(&path)?.balance(&account)?))?,
        Action::Statement { account } => print(Plain(Ledger::open(&path)?.statement(&account)?).to_json_pretty())?,
        Action::Audit => {
            let report = Ledger::open(&path)?.audit()?;
            let problems = report.problems.len();
            print(Plain(report).to_json_pretty())?;
            if problems > 0 {
                eprintln!("netbill-ledger: {}: audit failed: {problems} problem(s)", path.display());
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn external(path: &Path, kind: External, m: &Movement, now: crate::clock::Time) -> Result<()> {
    let balance = Ledger::open(path)?.external(&m.account, kind, m.amount, m.memo.as_deref(), now)?;
    cli::write_stdout(format!("{balance}\n").as_bytes())
}
