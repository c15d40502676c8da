//! `cash-bank`: the digital-cash bank.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cash::bank::Bank;
use crate::cash::docs::{RefundClaim, WithdrawalChallenge, WithdrawalRequest};
use crate::cli::{self, Clock};
use crate::doc::{self, Hex, Plain, Signed};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::money::Amount;

/// The digital-cash bank: accounts, blind withdrawals, deposits with the uniqueness check,
/// double-spender identification, refunds after a payment's deadline, voucher redemption.
///
/// Coins are Brands' off-line coins over ristretto255, one key per denomination: the bank
/// cannot link a coin to its withdrawal, and a coin answering two different challenges reveals
/// its spender, with a proof anyone can check (`dispute-judge double-spend`). A coin is
/// deposited by its payee before the payment's deadline, or refunded to its owner after it
/// (a blind RSA voucher, RFC 9474, unlinkable to the coin), never both. Every request is one
/// SQLite transaction and idempotent: sent again, it gets the same answer and moves no money.
/// Withdrawal sessions of a denomination are served one at a time (exit 75 while another is
/// open), against ROS-style forgeries.
#[derive(Debug, Parser)]
pub struct Args {
    /// The bank's database
    #[arg(long, value_name = "PATH", env = "CASH_BANK_DB", global = true)]
    db: Option<PathBuf>,
    /// The bank's secret-key file (signs every answer)
    #[arg(long, value_name = "FILE", env = "CASH_BANK_KEY", global = true)]
    key: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create the bank (and its signing key unless the key file exists); print its public
    /// keys document (`cash.bank`), which customers and merchants pin
    Init {
        /// The bank's name when a key is created
        #[arg(long, default_value = "bank")]
        name: String,
        /// Coin values, comma-separated
        #[arg(long, value_delimiter = ',', required = true, value_parser = cli::parse_amount)]
        denominations: Vec<Amount>,
        /// How long a withdrawal session stays open
        #[arg(long, default_value = "60s", value_parser = cli::parse_duration)]
        session: jiff::SignedDuration,
    },
    /// Print the bank's public keys document
    Keys,
    /// Open an account for a party; a customer who will withdraw registers her cash identity
    Open {
        /// The party's identity document
        identity: PathBuf,
        /// Her `cash.registration` (from `cash-withdraw init`)
        #[arg(long, value_name = "FILE")]
        registration: Option<PathBuf>,
    },
    /// Credit external money to an account; prints the balance
    Fund(Movement),
    /// Pay external money out of an account; prints the balance
    Payout(Movement),
    /// Print an account's balance
    Balance {
        /// Account name or key id
        account: String,
    },
    /// Answer a withdrawal: a request gets the commitment, a challenge the signature (and the
    /// account is debited)
    Withdraw {
        /// A cash.withdrawal-request or cash.withdrawal-challenge
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Credit a merchant's deposit; prints the receipt
    Deposit {
        /// A cash.deposit
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Answer refund claims (one or an NDJSON stream): deposited, refunded (a blind voucher
    /// signature), or pending until the deadline
    Refund {
        /// cash.refund-claim documents
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Credit vouchers to the redeeming account; prints the receipt
    Redeem {
        /// A cash.redemption
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// The paper's return of coins to their owner's account (a fresh challenge each)
    Return {
        /// A cash.return
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Print a coin's state: deposited, refunded, returned or unseen
    Status {
        /// The coin's A (hex)
        coin: String,
    },
    /// Print every recorded double spend as a proof (NDJSON)
    DoubleSpends,
    /// Check the books: every balance equals its movements, and balances + outstanding coins +
    /// outstanding vouchers equal the money paid in minus the money paid out. Exit status 1
    /// with the problems listed otherwise.
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
}

crate::cli::entry_points!("cash-bank", |a: Args| run(a));

fn run(a: Args) -> Result<ExitCode> {
    let now = a.clock.now();
    let path = a.db.ok_or_else(|| Error::usage("no bank database given: use --db PATH or set CASH_BANK_DB"))?;
    let key = a.key;
    let signer = || cli::read_given_keys(key.as_deref(), "use --key FILE or set CASH_BANK_KEY");
    let print = |s: String| cli::write_stdout(s.as_bytes());
    match a.action {
        Action::Init { name, denominations, session } => {
            if path.exists() {
                return Err(
                    Error::new(ErrorKind::CannotCreate, "already exists; refusing to overwrite").at(path.display())
                );
            }
            let key = key.ok_or_else(|| Error::usage("no bank key given: use --key FILE or set CASH_BANK_KEY"))?;
            let seconds = u32::try_from(session.as_secs()).ok().filter(|s| *s > 0);
            let seconds = seconds.ok_or_else(|| Error::usage("the session must last a positive number of seconds"))?;
            let document =
                cli::create_with_key(&key, &name, &path, |k| Bank::create(&path, k, &denominations, seconds))?;
            print(document.to_json_pretty())?;
        }
        Action::Keys => print(Bank::open(&path)?.document().to_json_pretty())?,
        Action::Open { identity, registration } => {
            let id = cli::read_identity(&identity)?;
            let reg = registration.as_deref().map(cli::read_signed).transpose()?;
            Bank::open(&path)?
                .open_account(&id, reg.as_ref(), now)
                .map_err(|e| cli::in_input(e, registration.as_deref().unwrap_or(&identity)))?;
        }
        Action::Fund(m) => print(format!("{}\n", Bank::open(&path)?.external(&m.account, m.amount, false, now)?))?,
        Action::Payout(m) => print(format!("{}\n", Bank::open(&path)?.external(&m.account, m.amount, true, now)?))?,
        Action::Balance { account } => print(format!("{}\n", Bank::open(&path)?.balance(&account)?))?,
        Action::Withdraw { input } => {
            let bytes = cli::read_input(&input)?;
            let mut bank = Bank::open(&path)?;
            let keys = signer()?;
            let answer = if doc::type_of(&bytes).as_deref() == Some(<WithdrawalChallenge as doc::Body>::TYPE) {
                let challenge = Signed::parse(&bytes).at(cli::display(&input))?;
                bank.sign(&challenge, &keys, now).map(|r| r.to_json_pretty())
            } else {
                let request: Signed<WithdrawalRequest> = Signed::parse(&bytes).at(cli::display(&input))?;
                bank.commit(&request, &keys, now).map(|c| c.to_json_pretty())
            };
            print(answer.map_err(|e| cli::in_input(e, &input))?)?;
        }
        Action::Deposit { input } => {
            let deposit = cli::read_signed(&input)?;
            let receipt =
                Bank::open(&path)?.deposit(&deposit, &signer()?, now).map_err(|e| cli::in_input(e, &input))?;
            print(receipt.to_json_pretty())?;
        }
        Action::Refund { input } => {
            let mut bank = Bank::open(&path)?;
            let keys = signer()?;
            let place = cli::display(&input);
            for (n, raw) in doc::stream(cli::open_input(&input)?).enumerate() {
                let at = format!("{place}: claim {}", n + 1);
                let claim: Signed<RefundClaim> = Signed::parse(raw.at(&at)?.get().as_bytes()).at(&at)?;
                let answer = bank.refund(&claim, &keys, now).map_err(|e| Error::new(e.kind(), e.message()).at(&at))?;
                print(answer.to_json_line())?;
            }
        }
        Action::Redeem { input } => {
            let redemption = cli::read_signed(&input)?;
            print(
                Bank::open(&path)?
                    .redeem(&redemption, &signer()?, now)
                    .map_err(|e| cli::in_input(e, &input))?
                    .to_json_pretty(),
            )?;
        }
        Action::Return { input } => {
            let ret = cli::read_signed(&input)?;
            print(
                Bank::open(&path)?
                    .give_back(&ret, &signer()?, now)
                    .map_err(|e| cli::in_input(e, &input))?
                    .to_json_pretty(),
            )?;
        }
        Action::Status { coin } => {
            let id = Hex::<32>::parse(&coin).map_err(|e| Error::usage(format!("coin {coin:?}: {e}")))?;
            let state = Bank::open(&path)?.coin_state(&id)?.unwrap_or_else(|| "unseen".into());
            print(Plain(CoinStatus { coin: id, state }).to_json_pretty())?;
        }
        Action::DoubleSpends => {
            for proof in Bank::open(&path)?.double_spends()? {
                print(proof.to_json_line())?;
            }
        }
        Action::Audit => {
            let audit = Bank::open(&path)?.audit()?;
            let problems = audit.problems.len();
            print(Plain(audit).to_json_pretty())?;
            if problems > 0 {
                eprintln!("cash-bank: {}: audit failed: {problems} problem(s)", path.display());
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cash.coin-status`: a coin's state at the bank.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinStatus {
    /// The coin's A.
    pub coin: Hex<32>,
    /// deposited, refunded, returned or unseen.
    pub state: String,
}

impl doc::Body for CoinStatus {
    const TYPE: &'static str = "cash.coin-status";
}
