//! `cash-spend`: the customer pays a merchant, and recovers a payment whose fate she does not know.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cash::docs::RefundAnswer;
use crate::cash::wallet::{Settled, Wallet};
use crate::cli::{self, Clock};
use crate::crypto::keys::KeyId;
use crate::doc::{self, Hex, Signed};
use crate::error::{Error, ErrorKind, Result, ResultExt};

/// Pay a merchant with coins, and recover when a message is lost.
///
/// `pay` binds coins worth exactly the price to the merchant's request, for good, and prints
/// the payment: their answers to the request's challenge, which names the merchant, the order
/// and the deposit deadline. Paying the same request again prints the same bytes. If the
/// acknowledgement never comes, do not spend those coins elsewhere and do not return them to
/// the bank: `claim` asks the bank about the very same spend, and after the deadline the bank
/// answers either that the merchant deposited it (she has paid) or with a blind voucher of its
/// value (she is refunded, anonymously). She is never asked a second challenge, so she can
/// never be taken for a double-spender. `return --as-in-the-paper` is the paper's flawed way
/// back, kept to reproduce its failure.
#[derive(Debug, Parser)]
pub struct Args {
    /// The wallet file
    #[arg(long, value_name = "PATH", env = "CASH_WALLET", global = true)]
    wallet: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Pay a merchant's request: print the payment for him
    Pay {
        /// The cash.payment-request
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Record the merchant's acknowledgement
    Ack {
        /// The cash.payment-ack
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Print refund claims (NDJSON) for the unsettled coins of an order, for `cash-bank refund`
    Claim {
        /// The order id
        #[arg(long)]
        order: String,
        /// The merchant's key id, when several merchants used that order id
        #[arg(long, value_name = "KEY_ID")]
        merchant: Option<KeyId>,
    },
    /// Apply the bank's answers to her claims; print one line per coin: paid, refunded or
    /// pending. Exit 75 if any is still pending (ask again after the deadline).
    Settle {
        /// cash.refund-answer documents (one or an NDJSON stream)
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// The paper's return: deposit coins into her own account, each answering a fresh
    /// challenge. A coin handed to a merchant is refused unless --as-in-the-paper, since if
    /// he got it, the bank will reveal her as a double-spender.
    Return {
        /// The customer's secret-key file (signs the return)
        #[arg(long, value_name = "FILE", env = "CASH_KEY")]
        key: PathBuf,
        /// Return coins even when handed to a merchant (reproduces the paper's failure)
        #[arg(long)]
        as_in_the_paper: bool,
        /// The coins' A (hex)
        #[arg(required = true)]
        coins: Vec<String>,
    },
}

crate::cli::entry_points!("cash-spend", |a: Args| run(a));

fn run(a: Args) -> Result<ExitCode> {
    let now = a.clock.now();
    let path = a.wallet.ok_or_else(|| Error::usage("no wallet given: use --wallet PATH or set CASH_WALLET"))?;
    let print = |s: String| cli::write_stdout(s.as_bytes());
    match a.action {
        Action::Pay { input } => {
            let request = cli::read_signed(&input)?;
            print(Wallet::open(&path)?.pay(&request, now).map_err(|e| cli::in_input(e, &input))?.to_json_pretty())?;
        }
        Action::Ack { input } => {
            let ack = cli::read_signed(&input)?;
            Wallet::open(&path)?.acknowledge(&ack).map_err(|e| cli::in_input(e, &input))?;
        }
        Action::Claim { order, merchant } => {
            for claim in Wallet::open(&path)?.claim(&order, merchant).map_err(|e| e.at(path.display()))? {
                print(claim.to_json_line())?;
            }
        }
        Action::Settle { input } => {
            let mut wallet = Wallet::open(&path)?;
            let place = cli::display(&input);
            let mut pending = false;
            for (n, raw) in doc::stream(cli::open_input(&input)?).enumerate() {
                let at = format!("{place}: answer {}", n + 1);
                let answer: Signed<RefundAnswer> = Signed::parse(raw.at(&at)?.get().as_bytes()).at(&at)?;
                let outcome = wallet.settle(&answer).map_err(|e| Error::new(e.kind(), e.message()).at(&at))?;
                pending |= outcome == Settled::Pending;
                let word = match outcome {
                    Settled::Paid => "paid",
                    Settled::Refunded => "refunded",
                    Settled::Pending => "pending",
                };
                print(format!("{{\"coin\":\"{}\",\"outcome\":\"{word}\"}}\n", answer.unverified().coin))?;
            }
            if pending {
                eprintln!(
                    "cash-spend: {place}: the deadline has not passed: the merchant may still deposit; claim again after it"
                );
                return Ok(ExitCode::from(ErrorKind::Busy.exit_code()));
            }
        }
        Action::Return { key, as_in_the_paper, coins } => {
            let keys = cli::read_keys(&key)?;
            let ids = coins
                .iter()
                .map(|c| Hex::<32>::parse(c).map_err(|e| Error::usage(format!("coin {c:?}: {e}"))))
                .collect::<Result<Vec<_>>>()?;
            let ret =
                Wallet::open(&path)?.give_back(&keys, &ids, as_in_the_paper, now).map_err(|e| e.at(path.display()))?;
            print(ret.to_json_pretty())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
