//! `cash-merchant`: the merchant's side of a cash payment.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cash::docs::Payment;
use crate::cash::merchant::Merchant;
use crate::cli::{self, Clock};
use crate::doc::Plain;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::money::Amount;

/// The merchant's side of a cash payment: requests, acceptance against his set of coins seen,
/// deposits.
///
/// `offer` prints a signed payment request: the order, the price and a deposit deadline (after
/// it, coins not deposited go back to the customer). `accept` checks a payment (each coin signed
/// by the bank, each answer to this request's challenge, the price exact, no coin seen before)
/// and prints the signed acknowledgement; the same payment again gets the same one. `deposit`
/// prints a deposit of every coin accepted and not yet credited (the same document until a
/// receipt is recorded); `record` records the bank's receipt.
#[derive(Debug, Parser)]
pub struct Args {
    /// The merchant's store
    #[arg(long, value_name = "PATH", env = "CASH_MERCHANT", global = true)]
    store: Option<PathBuf>,
    /// The merchant's secret-key file
    #[arg(long, value_name = "FILE", env = "CASH_MERCHANT_KEY", global = true)]
    key: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create the store, banking with the bank of this public keys document
    Init {
        /// The bank's public keys document (`cash-bank keys`)
        #[arg(long, value_name = "FILE")]
        bank: PathBuf,
    },
    /// Print a signed payment request for a new order
    Offer {
        /// The order id (unique)
        #[arg(long)]
        order: String,
        /// The price
        #[arg(long, value_parser = cli::parse_amount)]
        price: Amount,
        /// What is sold
        #[arg(long, default_value = "")]
        description: String,
        /// How long he has to deposit the coins (after it, they are refunded to the customer)
        #[arg(long, default_value = "10m", value_parser = cli::parse_duration)]
        deadline: jiff::SignedDuration,
    },
    /// Accept a payment; print the acknowledgement
    Accept {
        /// The cash.payment
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Print a deposit of every accepted coin not yet credited (exit 66 if there is none)
    Deposit,
    /// Record the bank's deposit receipt; print the amount credited
    Record {
        /// The cash.deposit-receipt
        #[arg(default_value = "-")]
        input: PathBuf,
    },
}

crate::cli::entry_points!("cash-merchant", |a: Args| run(a));

fn run(a: Args) -> Result<ExitCode> {
    let now = a.clock.now();
    let path = a.store.ok_or_else(|| Error::usage("no store given: use --store PATH or set CASH_MERCHANT"))?;
    let key_path = a.key;
    let keys = || cli::read_given_keys(key_path.as_deref(), "use --key FILE or set CASH_MERCHANT_KEY");
    let print = |s: String| cli::write_stdout(s.as_bytes());
    match a.action {
        Action::Init { bank } => {
            let document = cli::read_input(&bank)?;
            Merchant::create(&path, &document, &keys()?).map_err(|e| cli::in_input(e, &bank))?;
        }
        Action::Offer { order, price, description, deadline } => {
            let deadline = now.plus(deadline)?;
            let request =
                Merchant::open(&path)?.offer(&keys()?, &order, &description, price, deadline).at(path.display())?;
            print(request.to_json_pretty())?;
        }
        Action::Accept { input } => {
            let payment = Plain::<Payment>::parse(&cli::read_input(&input)?).at(cli::display(&input))?;
            let keys = keys()?;
            print(
                Merchant::open(&path)?
                    .accept(&keys, &payment, now)
                    .map_err(|e| cli::in_input(e, &input))?
                    .to_json_pretty(),
            )?;
        }
        Action::Deposit => match Merchant::open(&path)?.deposit(&keys()?, now)? {
            Some(deposit) => print(deposit.to_json_pretty())?,
            None => return Err(Error::new(ErrorKind::NoInput, "nothing to deposit").at(path.display())),
        },
        Action::Record { input } => {
            let receipt = cli::read_signed(&input)?;
            print(format!("{}\n", Merchant::open(&path)?.record(&receipt).map_err(|e| cli::in_input(e, &input))?))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
