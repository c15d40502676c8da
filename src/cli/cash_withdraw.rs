//! `cash-withdraw`: the customer's wallet, and withdrawing coins into it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cash::wallet::Wallet;
use crate::cli::{self, Clock};
use crate::doc::Plain;
use crate::error::{Error, ErrorKind, Result};
use crate::money::Amount;

/// The customer's wallet: withdraw blinded coins from the bank, see what the wallet holds,
/// cash refund vouchers into the account.
///
/// A withdrawal is three moves: `request` (to the bank: `cash-bank withdraw`), `blind` (its
/// commitment in, the blinded challenge out, to the bank again) and `finish` (the bank's
/// signature in, a coin stored). The bank never sees the coin it signs. Every step stores what
/// it needs before printing, and run again on the same input prints the same document, so a
/// lost message is simply sent again. The wallet file (mode 0600) holds the account secret
/// and every coin's secrets.
#[derive(Debug, Parser)]
pub struct Args {
    /// The wallet file
    #[arg(long, value_name = "PATH", env = "CASH_WALLET", global = true)]
    wallet: Option<PathBuf>,
    /// The customer's secret-key file (signs her requests to the bank)
    #[arg(long, value_name = "FILE", env = "CASH_KEY", global = true)]
    key: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create a wallet for the bank's coins with a fresh account secret; print the
    /// registration to give the bank (`cash-bank open --registration`)
    Init {
        /// The bank's public keys document (`cash-bank keys`)
        #[arg(long, value_name = "FILE")]
        bank: PathBuf,
    },
    /// Start withdrawing one coin: print the request for the bank
    Request {
        /// The coin's value (one of the bank's denominations)
        #[arg(long, value_parser = cli::parse_amount)]
        denomination: Amount,
    },
    /// Blind the bank's commitment: print the challenge for the bank
    Blind {
        /// The cash.withdrawal-commitment
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Unblind the bank's signature into a coin, after checking it; print the coin
    Finish {
        /// The cash.withdrawal-response
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Print what the wallet holds: totals by state, and every coin
    List,
    /// Print a redemption of every voucher not yet cashed (for `cash-bank redeem`)
    Redeem,
    /// Record the bank's redemption receipt; print the amount credited
    Redeemed {
        /// The cash.redemption-receipt
        #[arg(default_value = "-")]
        input: PathBuf,
    },
}

crate::cli::entry_points!("cash-withdraw", |a: Args| run(a));

fn run(a: Args) -> Result<ExitCode> {
    let path = a.wallet.ok_or_else(|| Error::usage("no wallet given: use --wallet PATH or set CASH_WALLET"))?;
    let key_path = a.key;
    let keys = || cli::read_given_keys(key_path.as_deref(), "use --key FILE or set CASH_KEY");
    let print = |s: String| cli::write_stdout(s.as_bytes());
    match a.action {
        Action::Init { bank } => {
            let document = cli::read_input(&bank)?;
            let registration = Wallet::create(&path, &document, &keys()?).map_err(|e| cli::in_input(e, &bank))?;
            print(registration.to_json_pretty())?;
        }
        Action::Request { denomination } => {
            print(Wallet::open(&path)?.request(&keys()?, denomination)?.to_json_pretty())?;
        }
        Action::Blind { input } => {
            let commitment = cli::read_signed(&input)?;
            let keys = keys()?;
            print(
                Wallet::open(&path)?.blind(&keys, &commitment).map_err(|e| cli::in_input(e, &input))?.to_json_pretty(),
            )?;
        }
        Action::Finish { input } => {
            let response = cli::read_signed(&input)?;
            print(
                Plain(Wallet::open(&path)?.finish(&response).map_err(|e| cli::in_input(e, &input))?).to_json_pretty(),
            )?;
        }
        Action::List => print(Plain(Wallet::open(&path)?.contents()?).to_json_pretty())?,
        Action::Redeem => match Wallet::open(&path)?.redeem(&keys()?)? {
            Some(redemption) => print(redemption.to_json_pretty())?,
            None => return Err(Error::new(ErrorKind::NoInput, "no voucher to redeem").at(path.display())),
        },
        Action::Redeemed { input } => {
            let receipt = cli::read_signed(&input)?;
            print(format!("{}\n", Wallet::open(&path)?.redeemed(&receipt).map_err(|e| cli::in_input(e, &input))?))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
