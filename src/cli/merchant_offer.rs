//! `merchant-offer`: answer a price request (NetBill steps 1–2).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{self, Clock};
use crate::error::{Result, ResultExt};
use crate::netbill::offer::{Catalog, OfferRequest, make_offer};

/// Answer a customer's price request with a merchant-signed offer.
///
/// The price comes from the catalog and may depend on the customer (discount groups). For
/// static goods (a catalog entry with a "goods" file) the offer promises the goods: their size
/// and the Merkle root of their chunks (read in constant memory, whatever the size). The offer names the customer and expires (catalog "offer_validity",
/// default 15 minutes).
#[derive(Debug, Parser)]
pub struct Args {
    /// The merchant's catalog (JSON)
    #[arg(long, value_name = "FILE")]
    catalog: PathBuf,
    /// The merchant's secret-key file
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The customer's identity document (the price request)
    #[arg(long, value_name = "FILE")]
    customer: PathBuf,
    /// The product id asked for
    #[arg(long)]
    product: String,
    /// Write the offer here instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    clock: Clock,
}

crate::cli::entry_points!("merchant-offer", |a: Args| run(&a));

fn run(a: &Args) -> Result<ExitCode> {
    let merchant = cli::read_keys(&a.key)?;
    let customer = cli::read_identity(&a.customer)?;
    let catalog = Catalog::parse(&cli::read_input(&a.catalog)?).at(cli::display(&a.catalog))?;
    let catalog_dir = a.catalog.parent().unwrap_or(Path::new("."));
    let request =
        OfferRequest { catalog: &catalog, catalog_dir, product: &a.product, customer: &customer, now: a.clock.now() };
    let offer = make_offer(&request, &merchant).at(cli::display(&a.catalog))?;
    cli::write_output(a.output.as_deref(), offer.to_json_pretty().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
