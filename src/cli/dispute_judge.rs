//! `dispute-judge`: assemble evidence, and rule on it (certified delivery).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::{self, Clock};
use crate::doc::{self, Plain, Signed};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::fsio;
use crate::netbill::judge::{Claim, Evidence, Upheld, check_piece, judge};

/// Rule on a disputed NetBill purchase from the evidence alone.
///
/// `bundle` gathers the documents a party holds (identities, offer, delivery note, EPO,
/// endorsed EPO, receipts, in any order and formatting) and the ciphertext into a bundle
/// directory. `rule` checks every signature against the identities the EPO names, the
/// consistency of the server's receipts, the ciphertext checksum both parties signed, whether
/// the merchant-signed K decrypts it and whether the goods have the digest the offer promised,
/// and prints a ruling: every finding with its evidence, a verdict, and whether the claim is
/// upheld. The same evidence always gives a byte-identical ruling. Pin the NetBill server with
/// `--server` (its identity as the judge knows it): otherwise the identities in the bundle are
/// taken at their word, and a party could present a "server" of its own.
///
/// `double-spend` checks a digital-cash bank's double-spending proof from its content alone
/// (the coin's signature under the bank's key, two valid answers to different challenges, the
/// identity they reveal, and the registration the customer signed) and prints who it is.
///
/// Verdicts: customer-at-fault, merchant-at-fault, server-at-fault, delivered-as-agreed,
/// no-sale, evidence-rejected, insufficient-evidence, not-decidable. `rule` exits 0 when the
/// claim is upheld and 1 when it is not (or a person must decide).
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    step: Step,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Step {
    /// Gather the claim, the documents and the ciphertext into a new bundle directory
    Bundle {
        /// What is claimed
        #[arg(long, value_enum)]
        claim: Claim,
        /// The bundle directory to create
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Documents (JSON, or NDJSON streams of receipts) and at most one goods ciphertext
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Rule on a bundle
    Rule {
        /// The bundle directory
        #[arg(value_name = "DIR")]
        bundle: PathBuf,
        /// Sign the ruling with this judge's secret-key file
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The NetBill server's identity as the judge knows it: the EPO must name this server,
        /// and its receipts must be signed by it (without it, the bundle's identities are used)
        #[arg(long, value_name = "FILE")]
        server: Option<PathBuf>,
        /// When a person must decide, write the decrypted goods here
        #[arg(long, value_name = "FILE")]
        goods_out: Option<PathBuf>,
        /// Write the ruling here instead of stdout
        #[arg(long, value_name = "FILE")]
        ruling: Option<PathBuf>,
    },
    /// Check a digital-cash double-spending proof (`cash-bank double-spends`); print the
    /// customer it identifies (exit 0), or why it proves nothing (exit 1)
    DoubleSpend {
        /// The cash.double-spend proof
        #[arg(default_value = "-")]
        proof: PathBuf,
        /// The bank's public keys document, as the judge knows it
        #[arg(long, value_name = "FILE")]
        bank: PathBuf,
    },
}

const EVIDENCE: &str = "evidence.json";
const CIPHERTEXT: &str = "ciphertext";
const GOODS_MAGIC: &[u8] = b"ACGOODS1";

crate::cli::entry_points!("dispute-judge", |a: Args| run(a.step));

fn run(step: Step) -> Result<ExitCode> {
    match step {
        Step::Bundle { claim, output, files } => bundle(claim, &output, &files).map(|()| ExitCode::SUCCESS),
        Step::Rule { bundle, key, server, goods_out, ruling } => {
            let server = server.as_deref().map(cli::read_identity).transpose()?;
            rule(&bundle, key.as_deref(), server, goods_out.as_deref(), ruling.as_deref())
        }
        Step::DoubleSpend { proof, bank } => {
            let keys = crate::cash::docs::BankKeys::parse(&cli::read_input(&bank)?).at(cli::display(&bank))?;
            let document: Signed<crate::cash::docs::DoubleSpend> = cli::read_signed(&proof)?;
            let identified = document
                .verify(&keys.bank)
                .and_then(|p| p.check(&keys))
                .map_err(|e| cli::in_files(e, &[("proof", &proof)]))?;
            cli::write_stdout(Plain(identified).to_json_pretty().as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn bundle(claim: Claim, output: &Path, files: &[PathBuf]) -> Result<()> {
    let mut texts = Vec::new();
    let mut ciphertext: Option<(Vec<u8>, &Path)> = None;
    for path in files {
        let bytes = cli::read_bytes(path)?;
        let place = cli::display(path);
        if bytes.starts_with(GOODS_MAGIC) {
            if let Some((_, first)) = &ciphertext {
                return Err(Error::usage(format!("two ciphertexts: {} and {place}", first.display())));
            }
            ciphertext = Some((bytes, path));
            continue;
        }
        for (n, raw) in doc::stream(&bytes[..]).enumerate() {
            let raw = raw.at(&place)?;
            check_piece(raw.get()).at(format!("{place}: document {}", n + 1))?;
            texts.push(raw.get().to_string());
        }
    }
    let evidence = Evidence::new(claim, texts.iter().map(String::as_str))?;

    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".bundle-")
        .tempdir_in(parent)
        .map_err(|e| Error::new(ErrorKind::CannotCreate, e.to_string()).at(parent.display()))?;
    fsio::write_new(&tmp.path().join(EVIDENCE), Plain(evidence).to_json_pretty().as_bytes())?;
    if let Some((bytes, _)) = &ciphertext {
        fsio::write_new(&tmp.path().join(CIPHERTEXT), bytes)?;
    }
    if output.exists() {
        return Err(Error::new(ErrorKind::CannotCreate, "already exists; refusing to overwrite").at(output.display()));
    }
    std::fs::rename(tmp.path(), output).map_err(|e| Error::io(&e).at(output.display()))?;
    let _ = tmp.keep(); // renamed: disarm the guard that would delete it
    Ok(())
}

fn rule(
    dir: &Path,
    key: Option<&Path>,
    server: Option<crate::crypto::keys::Identity>,
    goods_out: Option<&Path>,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let keys = key.map(cli::read_keys).transpose()?;
    let evidence_path = dir.join(EVIDENCE);
    let evidence = Plain::<Evidence>::parse(&fsio::read(&evidence_path)?).at(evidence_path.display())?;
    let ciphertext_path = dir.join(CIPHERTEXT);
    let ciphertext = match std::fs::read(&ciphertext_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&e).at(ciphertext_path.display())),
    };
    let judgment = judge(&evidence, ciphertext.as_deref(), server.as_ref());
    if let (Some(goods), Some(path)) = (&judgment.goods_for_a_person, goods_out) {
        fsio::write_atomic(path, goods)?;
    }
    let upheld = judgment.ruling.upheld;
    let text = match &keys {
        Some(k) => Signed::sign(judgment.ruling, k).to_json_pretty(),
        None => Plain(judgment.ruling).to_json_pretty(),
    };
    cli::write_output(out, text.as_bytes())?;
    Ok(if upheld == Upheld::Yes { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
