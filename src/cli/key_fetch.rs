//! `key-fetch`: recover K after any failure (the paper's status query).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::{self, Clock};
use crate::doc::{Plain, Signed};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::ledger::Ledger;
use crate::netbill::delivery::EpoId;
use crate::netbill::epo::Epo;
use crate::netbill::merchant_store::MerchantStore;
use crate::netbill::recovery::{self, KeyAnswer, KeyRequest};

/// Recover the key K of a purchase, and with it the goods, after any failure.
///
/// Three separate steps so any transport (a file, a pipe, ssh) carries the messages: the
/// customer signs a request; the NetBill server (from its ledger) or the merchant (from his
/// store) answers with the stored receipt sealed to that customer's key; the customer opens
/// the answer and gets the server-signed receipt, which goods-decrypt uses. Only the EPO's
/// signer may ask.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    step: Step,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Step {
    /// Customer: sign a key request for one EPO
    Request {
        /// The customer's secret-key file
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The EPO she signed
        #[arg(long, value_name = "FILE", required_unless_present = "epo_id", conflicts_with = "epo_id")]
        epo: Option<PathBuf>,
        /// The EPO id, if the EPO itself was lost
        #[arg(long, value_name = "ID")]
        epo_id: Option<String>,
        /// Write the request here instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Server or merchant: answer a key request with the stored receipt, sealed to the customer
    Answer {
        /// The key request
        #[arg(default_value = "-", value_name = "REQUEST")]
        request: PathBuf,
        /// Answer as the NetBill server, from this ledger (an SQLite file, or a postgres:// URL)
        #[arg(long, value_name = "PATH|URL", required_unless_present = "store", conflicts_with = "store")]
        ledger: Option<PathBuf>,
        /// Answer as the merchant, from this store directory
        #[arg(long, value_name = "DIR")]
        store: Option<PathBuf>,
        /// Write the answer here instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Customer: open an answer and print the server-signed receipt
    Open {
        /// The answer
        #[arg(default_value = "-", value_name = "ANSWER")]
        answer: PathBuf,
        /// The customer's secret-key file
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The NetBill server's identity document
        #[arg(long, value_name = "FILE")]
        server: PathBuf,
        /// Write the receipt here instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

crate::cli::entry_points!("key-fetch", |a: Args| run(a.step));

fn no_record(epo_id: &EpoId, holder: &str) -> Error {
    Error::new(ErrorKind::NoInput, format!("no receipt for {epo_id} in {holder}"))
}

fn run(step: Step) -> Result<ExitCode> {
    match step {
        Step::Request { key, epo, epo_id, output } => {
            let customer = cli::read_keys(&key)?;
            let epo_id: EpoId = match (epo, epo_id) {
                (Some(path), _) => cli::read_signed::<Epo>(&path)?.unverified().epo_id.clone(),
                (None, Some(id)) => id.parse().map_err(|e: Error| Error::usage(e.message()))?,
                (None, None) => unreachable!("clap requires --epo or --epo-id"),
            };
            let request = recovery::request(epo_id, &customer);
            cli::write_output(output.as_deref(), request.to_json_pretty().as_bytes())?;
        }
        Step::Answer { request: path, ledger, store, output } => {
            let request = cli::read_signed::<KeyRequest>(&path)?;
            let epo_id = request.unverified().epo_id.clone();
            let (customer, receipt) = match (ledger, store) {
                (Some(ledger), _) => {
                    let place = crate::ledger::describe(&ledger);
                    let (stored, customer) = Ledger::open(&ledger)?
                        .settlement(&epo_id)?
                        .ok_or_else(|| no_record(&epo_id, "the ledger: nothing was charged for it").at(&place))?;
                    let customer =
                        customer.ok_or_else(|| Error::refused("the customer's account is gone").at(&place))?;
                    (customer.identity, stored.receipt)
                }
                (None, Some(dir)) => {
                    let place = dir.display().to_string();
                    let store = MerchantStore::open(&dir)?;
                    let receipt = store
                        .receipt(&epo_id)?
                        .ok_or_else(|| no_record(&epo_id, "the merchant's store; ask the NetBill server").at(&place))?;
                    let customer =
                        store.customer(&epo_id)?.ok_or_else(|| no_record(&epo_id, "the store").at(&place))?;
                    (customer, receipt)
                }
                (None, None) => unreachable!("clap requires --ledger or --store"),
            };
            let answer = recovery::answer(&request, &customer, &receipt).at(cli::display(&path))?;
            cli::write_output(output.as_deref(), Plain(answer).to_json_pretty().as_bytes())?;
        }
        Step::Open { answer: path, key, server, output } => {
            let customer = cli::read_keys(&key)?;
            let server = cli::read_identity(&server)?;
            let answer = Plain::<KeyAnswer>::parse(&cli::read_input(&path)?).at(cli::display(&path))?;
            let receipt: Signed<_> = recovery::open(&answer, &customer, &server).at(cli::display(&path))?;
            cli::write_output(output.as_deref(), receipt.to_json_pretty().as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
