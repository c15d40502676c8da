//! `postal-authority`: certifies meters and issues refill vouchers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jiff::SignedDuration;

use crate::cli::{self, Clock};
use crate::clock::Day;
use crate::error::{Error, Result, ResultExt};
use crate::money::Amount;
use crate::postage::authority::AuthorityBook;

/// The postal authority (or meter vendor): certifies meters' keys and sells refills.
///
/// A certificate binds a meter id, its coprocessor's public key and its origin postal code
/// for a validity period. A refill voucher is bound to one meter and to that meter's next
/// reset number, so it can be used once and on that meter only. Everything issued is recorded
/// in the authority's own database.
#[derive(Debug, Parser)]
pub struct Args {
    /// The authority's record (SQLite)
    #[arg(long, value_name = "PATH", env = "POSTAL_AUTHORITY_DB", global = true)]
    db: Option<PathBuf>,
    /// The authority's secret-key file
    #[arg(long, value_name = "FILE", env = "POSTAL_AUTHORITY_KEY", global = true)]
    key: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create the record and the authority's key (or adopt an existing key file); print the
    /// authority's identity document
    Init {
        /// The authority's name when a key is created
        #[arg(long, default_value = "postal-authority")]
        name: String,
    },
    /// Print the authority's identity document
    Identity,
    /// Certify a meter's key from its certificate request
    Certify {
        /// The meter's certificate request
        #[arg(value_name = "REQUEST", default_value = "-")]
        request: PathBuf,
        /// How long the certificate is valid
        #[arg(long, value_name = "DURATION", default_value = "365 days", value_parser = cli::parse_duration)]
        valid_for: SignedDuration,
    },
    /// Issue a refill voucher for a certified meter's next reset
    Voucher {
        /// The meter
        #[arg(long)]
        meter: String,
        /// The postage
        #[arg(long, value_parser = cli::parse_amount)]
        amount: Amount,
    },
    /// Print every certificate and voucher issued (NDJSON)
    Issued,
}

crate::cli::entry_points!("postal-authority", |a: Args| run(a));

fn run(a: Args) -> Result<ExitCode> {
    let db = a.db.ok_or_else(|| Error::usage("no record given: use --db PATH or set POSTAL_AUTHORITY_DB"))?;
    let key = || a.key.clone().ok_or_else(|| Error::usage("no key given: use --key FILE or set POSTAL_AUTHORITY_KEY"));
    let now = a.clock.now();
    let print = |s: String| cli::write_stdout(s.as_bytes());
    match a.action {
        Action::Init { name } => {
            let key = key()?;
            let identity = cli::create_with_key(&key, &name, &db, |k| {
                let id = k.identity_document();
                AuthorityBook::create(&db, &id).map(|()| id)
            })?;
            print(identity.to_json_pretty())?;
        }
        Action::Identity => print(AuthorityBook::open(&db)?.identity()?.to_json_pretty())?,
        Action::Certify { request, valid_for } => {
            let keys = cli::read_keys(&key()?)?;
            let file = cli::display(&request);
            let request = cli::read_signed(&request)?;
            let today = Day::of(now);
            let until = Day::of(now.plus(valid_for)?);
            let certificate = AuthorityBook::open(&db)?.certify(&request, &keys, today, until).at(file)?;
            print(certificate.to_json_pretty())?;
        }
        Action::Voucher { meter, amount } => {
            let keys = cli::read_keys(&key()?)?;
            print(AuthorityBook::open(&db)?.voucher(&meter, amount, &keys, now)?.to_json_pretty())?;
        }
        Action::Issued => {
            for doc in AuthorityBook::open(&db)?.issued()? {
                print(doc)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
