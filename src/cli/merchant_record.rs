//! `merchant-record`: the merchant records the server's receipt and forwards it (NetBill step 8).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{self, Clock};
use crate::doc::{self, Signed};
use crate::error::{Error, Result, ResultExt};
use crate::netbill::merchant_store::MerchantStore;
use crate::netbill::receipt::Receipt;

/// Record NetBill receipts in the merchant's store and forward them to the customer.
///
/// Each receipt (one document or an NDJSON stream, as netbill-settle prints them) must be
/// signed by the NetBill server and answer the endorsement recorded for its EPO id. It is
/// stored, so the merchant can later answer the customer's key-fetch, then printed unchanged.
#[derive(Debug, Parser)]
pub struct Args {
    /// Receipts: one document or an NDJSON stream
    #[arg(default_value = "-", value_name = "RECEIPTS")]
    input: PathBuf,
    /// The merchant's store directory
    #[arg(long, value_name = "DIR", env = "NETBILL_MERCHANT_STORE")]
    store: PathBuf,
    /// The NetBill server's identity document
    #[arg(long, value_name = "FILE")]
    server: PathBuf,
    #[command(flatten)]
    clock: Clock,
}

crate::cli::entry_points!("merchant-record", |a: Args| run(&a));

fn run(a: &Args) -> Result<ExitCode> {
    let server = cli::read_identity(&a.server)?;
    let store = MerchantStore::open(&a.store)?;
    for (n, raw) in doc::stream(cli::open_input(&a.input)?).enumerate() {
        let place = format!("{}: receipt {}", cli::display(&a.input), n + 1);
        let receipt = Signed::<Receipt>::parse(raw.at(&place)?.get().as_bytes()).at(&place)?;
        let body = receipt.verify(&server).at(&place)?;
        let endorsed = store
            .endorsed(&body.epo_id)?
            .ok_or_else(|| Error::refused(format!("no endorsement for {} in this store", body.epo_id)).at(&place))?;
        if endorsed.digest() != body.request {
            return Err(Error::refused("the receipt answers another request than the one endorsed").at(&place));
        }
        store.record_receipt(&receipt).at(&place)?;
        cli::write_stdout(receipt.to_json_line().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
