//! `goods-encrypt`: deliver goods encrypted under a fresh key (NetBill step 4).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{self, Clock};
use crate::error::{Error, ErrorKind, Result};
use crate::fsio;
use crate::netbill::delivery::deliver_to;
use crate::netbill::merchant_store::MerchantStore;
use crate::netbill::offer::Offer;

/// Encrypt goods under a fresh random 256-bit key K (AES-256-GCM) for an accepted offer.
///
/// The goods are encrypted in chunks, in constant memory whatever their size (a progress bar
/// shows on a terminal). Assigns the EPO id, records K (mode 0600), the offer and the delivery
/// note in the merchant's store, then writes the ciphertext and prints the merchant-signed
/// delivery note (EPO id, Merkle root of the ciphertext). K never goes to stdout. If the offer
/// promised the goods (size and Merkle root), other goods are refused before anything is
/// written.
#[derive(Debug, Parser)]
pub struct Args {
    /// The merchant's secret-key file
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The offer the customer accepted (merchant-signed)
    #[arg(long, value_name = "FILE")]
    offer: PathBuf,
    /// The plaintext goods
    #[arg(long, value_name = "FILE")]
    goods: PathBuf,
    /// The merchant's store directory (created if missing)
    #[arg(long, value_name = "DIR", env = "NETBILL_MERCHANT_STORE")]
    store: PathBuf,
    /// Where to write the ciphertext (a new file: an existing one is never replaced)
    #[arg(long, value_name = "FILE")]
    ciphertext: PathBuf,
    /// Write the delivery note here instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    clock: Clock,
}

crate::cli::entry_points!("goods-encrypt", |a: Args| run(&a));

fn run(a: &Args) -> Result<ExitCode> {
    cli::ensure_distinct(&a.goods, Some(&a.ciphertext))?;
    if a.ciphertext.exists() {
        // It may be a ciphertext already sold: its buyers' EPOs sign its root.
        return Err(Error::new(ErrorKind::CannotCreate, "exists already; refusing to overwrite a ciphertext")
            .at(a.ciphertext.display()));
    }
    let merchant = cli::read_keys(&a.key)?;
    let offer = cli::read_signed::<Offer>(&a.offer)?;
    let size = cli::sized_file(&a.goods)?;
    let store = MerchantStore::create(&a.store)?;
    let mut ciphertext = fsio::pending(&a.ciphertext)?;
    let progress = cli::Progress::bytes(2 * size, "encrypting");
    let open = || cli::buffered(&a.goods);
    let (note, key) =
        deliver_to(&offer, &merchant, size, open, &mut ciphertext, a.clock.now(), &mut |n| progress.add(n))
            .map_err(|e| cli::in_files(e, &[("offer", &a.offer), ("goods", &a.goods)]))?;
    // The store commits first: a ciphertext must never exist without its key on record.
    store.record_delivery(&offer, &note, &key)?;
    ciphertext.persist_new()?;
    cli::write_output(a.output.as_deref(), note.to_json_pretty().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
