//! `goods-decrypt`: the customer opens her goods with the K from her receipt.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{self, Clock};
use crate::crypto::goods;
use crate::error::{Error, Result, ResultExt};
use crate::fsio;
use crate::netbill::offer::Offer;
use crate::netbill::receipt::{Outcome, Receipt};

/// Decrypt goods with the key K from a NetBill receipt.
///
/// Verifies the receipt's signature by the NetBill server and that it is a paid receipt, then
/// decrypts chunk by chunk, in constant memory whatever the size (a progress bar shows on a
/// terminal), checking that the ciphertext has the Merkle root the receipt (and so both
/// parties' signatures) names. With --offer and --merchant, also checks every chunk against
/// the goods the merchant's offer promised. An output file appears only if every check
/// passed; on stdout the goods stream, and a non-zero exit status says a check failed.
#[derive(Debug, Parser)]
pub struct Args {
    /// The server-signed receipt
    #[arg(long, value_name = "FILE")]
    receipt: PathBuf,
    /// The NetBill server's identity document
    #[arg(long, value_name = "FILE")]
    server: PathBuf,
    /// The ciphertext
    #[arg(long, value_name = "FILE")]
    ciphertext: PathBuf,
    /// The offer, to check the goods against its promised digest
    #[arg(long, value_name = "FILE", requires = "merchant")]
    offer: Option<PathBuf>,
    /// The merchant's identity document (with --offer)
    #[arg(long, value_name = "FILE", requires = "offer")]
    merchant: Option<PathBuf>,
    /// Write the goods here instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    clock: Clock,
}

crate::cli::entry_points!("goods-decrypt", |a: Args| run(&a));

fn run(a: &Args) -> Result<ExitCode> {
    cli::ensure_distinct(&a.ciphertext, a.output.as_deref())?;
    let server = cli::read_identity(&a.server)?;
    let receipt = cli::read_signed::<Receipt>(&a.receipt)?;
    let at_receipt = cli::display(&a.receipt);
    let body = receipt.verify(&server).at(&at_receipt)?;
    let key = match (body.result, body.key) {
        (Outcome::Paid, Some(key)) => key,
        _ => {
            return Err(Error::refused(format!("{} was refused: no key was released", body.epo_id)).at(&at_receipt));
        }
    };
    let promised = match (&a.offer, &a.merchant) {
        (Some(offer_path), Some(merchant_path)) => {
            let merchant = cli::read_identity(merchant_path)?;
            let offer = cli::read_signed::<Offer>(offer_path)?;
            offer.verify(&merchant).at(cli::display(offer_path))?.goods
        }
        _ => None,
    };
    let at_ciphertext = cli::display(&a.ciphertext);
    let progress = cli::Progress::bytes(std::fs::metadata(&a.ciphertext).map_or(0, |m| m.len()), "decrypting");
    // A goods file appears only when every chunk opened, the ciphertext is the one paid for and
    // the goods are the ones promised; on stdout they stream, and the exit status tells.
    let mut file = a.output.as_deref().filter(|o| !cli::is_std(o)).map(fsio::pending).transpose()?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let out: &mut dyn Write = match &mut file {
        Some(f) => f,
        None => &mut stdout,
    };
    let input = cli::open_input(&a.ciphertext)?;
    let decrypted = goods::decrypt(&key, body.epo_id.as_str(), input, promised.as_ref(), out, &mut |n| progress.add(n))
        .at(&at_ciphertext)?;
    out.flush().map_err(|e| Error::io(&e).at("stdout"))?;
    drop(progress);
    if decrypted.ciphertext_root != body.ciphertext_root {
        let why = format!(
            "its Merkle root is {}, but the receipt is for {}",
            decrypted.ciphertext_root, body.ciphertext_root
        );
        return Err(Error::refused(why).at(&at_ciphertext));
    }
    match decrypted.first_fault {
        Some((i, goods::Chunk::Sealed)) => {
            let why = format!("K does not decrypt chunk {i}: keep the evidence for dispute-judge");
            return Err(Error::refused(why).at(&at_ciphertext));
        }
        Some((i, _)) => {
            let why = format!(
                "chunk {i} of the decrypted goods is not what the offer promised; keep the evidence for dispute-judge"
            );
            return Err(Error::refused(why).at(&at_ciphertext));
        }
        None => {}
    }
    if let Some(f) = file {
        f.persist()?;
    }
    Ok(ExitCode::SUCCESS)
}
