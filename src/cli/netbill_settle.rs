//! `netbill-settle`: the NetBill server's settlement (NetBill step 7).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{self, Clock};
use crate::doc::{self, Signed};
use crate::error::{Result, ResultExt};
use crate::ledger::SqliteLedger;
use crate::netbill::epo::EndorsedEpo;
use crate::netbill::receipt::Outcome;

/// Settle endorsed EPOs: check, move the money atomically, escrow K, sign the receipt.
///
/// For each endorsed EPO read (one document, or an NDJSON stream), verifies the merchant's and
/// the customer's signatures with the keys bound to their accounts, the server named, the
/// price against the countersigned offer, the expiry, the sealed key and the funds; then, in
/// ONE database transaction, debits the customer, credits the merchant, records the EPO id,
/// checksum and escrowed K, and stores the signed receipt. Refusals are signed receipts too
/// and move no money. Prints one receipt line per request line, in order, each only after
/// its transaction committed. Re-sending a request returns the identical stored receipt; the
/// same EPO id with different content is refused as a replay.
///
/// Exit status 1 when any receipt is a refusal. A malformed request stops the stream with
/// status 65 after the receipts for the lines before it.
#[derive(Debug, Parser)]
pub struct Args {
    /// Endorsed EPOs: one document or an NDJSON stream
    #[arg(default_value = "-", value_name = "REQUESTS")]
    input: PathBuf,
    /// The ledger database
    #[arg(long, value_name = "PATH", env = "NETBILL_LEDGER")]
    ledger: PathBuf,
    /// The NetBill server's secret-key file
    #[arg(long, value_name = "FILE", env = "NETBILL_SERVER_KEY")]
    key: PathBuf,
    #[command(flatten)]
    clock: Clock,
}

crate::cli::entry_points!("netbill-settle", |a: Args| run(&a));

fn run(a: &Args) -> Result<ExitCode> {
    let server = cli::read_keys(&a.key)?;
    let mut ledger = SqliteLedger::open(&a.ledger)?;
    ledger.check_server_keys(&server)?;
    let input = cli::open_input(&a.input)?;
    let mut refused = false;
    for (n, raw) in doc::stream(input).enumerate() {
        let place = format!("{}: request {}", cli::display(&a.input), n + 1);
        let raw = raw.at(&place)?;
        let request = Signed::<EndorsedEpo>::parse(raw.get().as_bytes()).at(&place)?;
        let receipt = ledger.settle(&request, &server, a.clock.now())?;
        refused |= receipt.unverified().result == Outcome::Refused;
        cli::write_stdout(receipt.to_json_line().as_bytes())?;
    }
    Ok(if refused { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
