//! `epo-countersign`: the merchant's endorsement (NetBill step 6).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{self, Clock};
use crate::crypto::keys::Identity;
use crate::error::{Error, Result, ResultExt};
use crate::netbill::epo::{Endorsement, Epo, countersign};
use crate::netbill::merchant_store::MerchantStore;

/// Countersign a customer's EPO and attach K sealed to the NetBill server: the merchant's
/// point of no return.
///
/// Checks the EPO against the merchant's own records of the offer and the delivery (same
/// EPO id, product, price, ciphertext checksum, key commitment, server) and its expiry, then
/// prints the endorsed EPO for netbill-settle. K travels sealed on the channel between the
/// merchant's and the server's X25519 keys, never in clear; the server releases it only if it
/// is the K the delivery note committed to. Countersigning the same EPO again prints the
/// first endorsement (the server would refuse a different one as a replay).
#[derive(Debug, Parser)]
pub struct Args {
    /// The customer-signed EPO
    #[arg(default_value = "-", value_name = "EPO")]
    epo: PathBuf,
    /// The merchant's secret-key file
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The merchant's store directory
    #[arg(long, value_name = "DIR", env = "NETBILL_MERCHANT_STORE")]
    store: PathBuf,
    /// The customer's identity document
    #[arg(long, value_name = "FILE")]
    customer: PathBuf,
    /// The NetBill server's identity document
    #[arg(long, value_name = "FILE")]
    server: PathBuf,
    /// Write the endorsed EPO here instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    clock: Clock,
}

crate::cli::entry_points!("epo-countersign", |a: Args| run(&a));

fn run(a: &Args) -> Result<ExitCode> {
    let merchant = cli::read_keys(&a.key)?;
    let customer_bytes = cli::read_input(&a.customer)?;
    let customer = Identity::parse(&customer_bytes).at(cli::display(&a.customer))?;
    let server = cli::read_identity(&a.server)?;
    let epo = cli::read_signed::<Epo>(&a.epo)?;
    let store = MerchantStore::open(&a.store)?;
    let epo_id = epo.unverified().epo_id.clone();

    if let Some(done) = store.endorsed(&epo_id)? {
        if done.unverified().epo.digest() != epo.digest() {
            let why =
                format!("{epo_id} was already countersigned for a different EPO; refusing to endorse a second one");
            return Err(Error::refused(why).at(cli::display(&a.epo)));
        }
        cli::write_output(a.output.as_deref(), done.to_json_pretty().as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let record = store.delivery(&epo_id)?;
    let endorsement = Endorsement {
        epo: &epo,
        customer: &customer,
        offer: &record.offer,
        note: &record.note,
        key: &record.key,
        server: &server,
        now: a.clock.now(),
    };
    let endorsed = countersign(&endorsement, &merchant).map_err(|e| cli::in_files(e, &[("EPO", &a.epo)]))?;
    store.record_endorsement(&endorsed, &customer_bytes)?;
    cli::write_output(a.output.as_deref(), endorsed.to_json_pretty().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
