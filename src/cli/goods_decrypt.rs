//! `goods-decrypt`: the customer opens her goods with the K from her receipt.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{self, Clock};
use crate::error::{Error, Result, ResultExt};
use crate::netbill::offer::Offer;
use crate::netbill::receipt::{Outcome, Receipt};

/// Decrypt goods with the key K from a NetBill receipt.
///
/// Verifies the receipt's signature by the NetBill server, that it is a paid receipt, and
/// that the ciphertext has the checksum the receipt (and so both parties' signatures)
/// names; then decrypts with K. With --offer and --merchant, also checks the plaintext
/// against the goods digest the merchant's offer promised. The output appears only if
/// every check passed.
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
    let stated = body.key_statement.as_ref().map(|s| s.unverified().key);
    let key = match (body.result, body.key) {
        (Outcome::Paid, Some(key)) if stated != Some(key) => {
            let why = "the receipt's K differs from the merchant's key statement in it; keep it as evidence";
            return Err(Error::refused(why).at(&at_receipt));
        }
        (Outcome::Paid, Some(key)) => key,
        _ => {
            return Err(Error::refused(format!("{} was refused: no key was released", body.epo_id)).at(&at_receipt));
        }
    };
    let ciphertext = cli::read_bytes(&a.ciphertext)?;
    let at_ciphertext = cli::display(&a.ciphertext);
    let checksum = crate::crypto::sha256(&ciphertext);
    if checksum != body.ciphertext_sha256 {
        let why = format!("SHA-256 is {checksum}, but the receipt is for {}", body.ciphertext_sha256);
        return Err(Error::refused(why).at(&at_ciphertext));
    }
    let goods = crate::crypto::goods::decrypt(&key, body.epo_id.as_str(), &ciphertext).at(&at_ciphertext)?;
    if let (Some(offer_path), Some(merchant_path)) = (&a.offer, &a.merchant) {
        let merchant = cli::read_identity(merchant_path)?;
        let offer = cli::read_signed::<Offer>(offer_path)?;
        let offered = offer.verify(&merchant).at(cli::display(offer_path))?;
        if let Some(promised) = offered.goods_sha256 {
            let actual = crate::crypto::sha256(&goods);
            if actual != promised {
                let why = format!(
                    "decrypted goods have SHA-256 {actual}, but the offer promised {promised}; keep the evidence for dispute-judge"
                );
                return Err(Error::refused(why).at(&at_ciphertext));
            }
        }
    }
    cli::write_output(a.output.as_deref(), &goods)?;
    Ok(ExitCode::SUCCESS)
}
