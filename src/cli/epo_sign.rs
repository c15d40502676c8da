//! `epo-sign`: the customer's electronic purchase order (NetBill step 5).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use jiff::SignedDuration;

use crate::cli::{self, Clock};
use crate::clock::Time;
use crate::error::{Result, ResultExt};
use crate::money::Amount;
use crate::netbill::delivery::DeliveryNote;
use crate::netbill::epo::{Purchase, sign_epo};
use crate::netbill::offer::Offer;

/// Sign an electronic purchase order: the customer's point of no return.
///
/// Verifies the merchant's offer (made for this customer, not expired) and delivery note, and
/// that the ciphertext received has the checksum the note states; then signs the EPO: EPO id,
/// customer, merchant, NetBill server, product, price, ciphertext checksum, the digest of the
/// accepted offer, and an explicit expiry after which the server must refuse it.
#[derive(Debug, Parser)]
pub struct Args {
    /// The customer's secret-key file
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The merchant's offer
    #[arg(long, value_name = "FILE")]
    offer: PathBuf,
    /// The merchant's delivery note
    #[arg(long, value_name = "FILE")]
    delivery: PathBuf,
    /// The ciphertext received
    #[arg(long, value_name = "FILE")]
    ciphertext: PathBuf,
    /// The merchant's identity document
    #[arg(long, value_name = "FILE")]
    merchant: PathBuf,
    /// The NetBill server's identity document
    #[arg(long, value_name = "FILE")]
    server: PathBuf,
    /// How long the EPO stays valid
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = cli::parse_duration, conflicts_with = "expires_at")]
    expires_in: SignedDuration,
    /// Absolute expiry instead of --expires-in (UTC)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    expires_at: Option<Time>,
    /// Refuse to sign if the price is above this amount
    #[arg(long, value_name = "AMOUNT", value_parser = cli::parse_amount)]
    max_price: Option<Amount>,
    /// Write the EPO here instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    clock: Clock,
}

fn parse_time(s: &str) -> std::result::Result<Time, String> {
    s.parse().map_err(|e: crate::Error| e.message().to_string())
}

crate::cli::entry_points!("epo-sign", |a: Args| run(&a));

fn run(a: &Args) -> Result<ExitCode> {
    let customer = cli::read_keys(&a.key)?;
    let merchant = cli::read_identity(&a.merchant)?;
    let server = cli::read_identity(&a.server)?;
    let offer = cli::read_signed::<Offer>(&a.offer)?;
    let note = cli::read_signed::<DeliveryNote>(&a.delivery)?;
    let progress = cli::Progress::bytes(std::fs::metadata(&a.ciphertext).map_or(0, |m| m.len()), "checking");
    let (_, ciphertext_root) =
        crate::crypto::goods::ciphertext_root(cli::open_input(&a.ciphertext)?, &mut |n| progress.add(n))
            .at(cli::display(&a.ciphertext))?;
    drop(progress);
    let now = a.clock.now();
    let expires_at = match a.expires_at {
        Some(t) => t,
        None => now.plus(a.expires_in)?,
    };
    let purchase = Purchase {
        offer: &offer,
        merchant: &merchant,
        note: &note,
        ciphertext_root,
        server: &server,
        expires_at,
        max_price: a.max_price,
        now,
    };
    let epo = sign_epo(&purchase, &customer).map_err(|e| {
        cli::in_files(e, &[("offer", &a.offer), ("delivery note", &a.delivery), ("ciphertext", &a.ciphertext)])
    })?;
    cli::write_output(a.output.as_deref(), epo.to_json_pretty().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
