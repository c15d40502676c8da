//! `dispute-judge`: assemble evidence, and rule on it (certified delivery).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::{self, Clock};
use crate::crypto::goods::{self, ChunkProof};
use crate::doc::{self, Plain, Signed};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::fsio;
use crate::netbill::judge::{Claim, Evidence, Presented, Source, Upheld, check_piece, judge};
use crate::netbill::offer::Offer;
use crate::netbill::receipt::Receipt;

/// Rule on a disputed NetBill purchase from the evidence alone.
///
/// `bundle` gathers the documents a party holds (identities, offer, delivery note, EPO,
/// endorsed EPO, receipts, in any order and formatting) and the ciphertext, or the proof of one
/// chunk of it (`prove`), into a bundle directory. `rule` checks every signature against the
/// identities the EPO names, the consistency of the server's receipts, the ciphertext's Merkle
/// root both parties signed, whether the K the merchant committed to decrypts each chunk and whether each
/// is the chunk the offer promised, and prints a ruling: every finding with its evidence, a
/// verdict, and whether the claim is upheld. A proof of the faulty chunk (a few KiB, whatever
/// the size of the goods) gets the ruling the whole ciphertext gets. The same evidence always gives a byte-identical ruling. Pin the NetBill server with
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
        /// Documents (JSON, or NDJSON streams of receipts) and at most one goods ciphertext or
        /// chunk proof
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Extract from a goods ciphertext the proof of one chunk: the first one the receipt's K
    /// does not decrypt or that is not what the offer promised, or the chunk named
    Prove {
        /// The goods ciphertext
        #[arg(value_name = "CIPHERTEXT")]
        ciphertext: PathBuf,
        /// The chunk to prove (default: the first faulty one)
        #[arg(long, value_name = "N")]
        chunk: Option<u64>,
        /// The paid receipt whose K opens the chunks (to find the faulty one)
        #[arg(long, value_name = "FILE", required_unless_present = "chunk")]
        receipt: Option<PathBuf>,
        /// The offer whose promised goods the chunks are checked against
        #[arg(long, value_name = "FILE")]
        offer: Option<PathBuf>,
        /// Write the proof here instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Rule on a bundle
    ///
    /// Prints the ruling. Exit status 0 when the claim is upheld; 1 when it is not, or a
    /// person must decide (`upheld` is `no` or `undecided`). A bundle the judge cannot read,
    /// or a signing key file readable by others, ends with an error on stderr and no ruling
    /// (statuses as below; a refused key file is 1 too, with nothing on stdout).
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
const PROOF: &str = "chunk-proof.json";
const GOODS_MAGIC: &[u8] = b"ACGOODS";

crate::cli::entry_points!("dispute-judge", |a: Args| run(a.step));

fn run(step: Step) -> Result<ExitCode> {
    match step {
        Step::Bundle { claim, output, files } => bundle(claim, &output, &files).map(|()| ExitCode::SUCCESS),
        Step::Prove { ciphertext, chunk, receipt, offer, output } => {
            let index = match chunk {
                Some(i) => i,
                None => faulty_chunk(&ciphertext, receipt.as_deref().expect("clap requires it"), offer.as_deref())?,
            };
            let proof = goods::prove(cli::buffered(&ciphertext)?, index).at(cli::display(&ciphertext))?;
            cli::write_output(output.as_deref(), Plain(proof).to_json_pretty().as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
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

/// The first chunk of `ciphertext` the receipt's K does not open, or that is not what the offer
/// promised.
fn faulty_chunk(ciphertext: &Path, receipt_file: &Path, offer: Option<&Path>) -> Result<u64> {
    let receipt = cli::read_signed::<Receipt>(receipt_file)?;
    let body = receipt.unverified();
    let key =
        body.key.ok_or_else(|| Error::refused("not a paid receipt: it has no K").at(cli::display(receipt_file)))?;
    let promised = offer.map(cli::read_signed::<Offer>).transpose()?.and_then(|o| o.unverified().goods);
    let decrypted = goods::decrypt(
        &key,
        body.epo_id.as_str(),
        cli::buffered(ciphertext)?,
        promised.as_ref(),
        &mut std::io::sink(),
        &mut |_| {},
    )
    .at(cli::display(ciphertext))?;
    decrypted.first_fault.map(|(i, _)| i).ok_or_else(|| {
        Error::refused("every chunk opens and is what the offer promised: no chunk to prove")
            .at(cli::display(ciphertext))
    })
}

fn bundle(claim: Claim, output: &Path, files: &[PathBuf]) -> Result<()> {
    let mut texts = Vec::new();
    let mut goods: Option<(&Path, &str)> = None;
    let one_goods = |goods: &Option<(&Path, &str)>, path: &Path| match goods {
        Some((first, _)) => Err(Error::usage(format!(
            "two goods pieces (ciphertexts or chunk proofs): {} and {}",
            first.display(),
            path.display()
        ))),
        None => Ok(()),
    };
    for path in files {
        let place = cli::display(path);
        let mut magic = [0u8; 7];
        let is_ciphertext = !cli::is_std(path)
            && std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok()
            && magic == GOODS_MAGIC;
        if is_ciphertext {
            one_goods(&goods, path)?;
            goods = Some((path, CIPHERTEXT));
            continue;
        }
        let bytes = cli::read_input(path)?;
        if doc::type_of(&bytes).as_deref() == Some(<ChunkProof as crate::doc::Body>::TYPE) {
            Plain::<ChunkProof>::parse(&bytes).at(&place)?;
            one_goods(&goods, path)?;
            goods = Some((path, PROOF));
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
    if let Some((path, name)) = goods {
        let copy = tmp.path().join(name);
        std::fs::copy(path, &copy).map_err(|e| Error::io(&e).at(path.display()))?;
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
    let (ciphertext, proof_path) = (dir.join(CIPHERTEXT), dir.join(PROOF));
    let proof = match proof_path.exists() {
        true => Some(Plain::<ChunkProof>::parse(&cli::read_input(&proof_path)?).at(proof_path.display())?),
        false => None,
    };
    let presented = match (&proof, ciphertext.exists()) {
        (_, true) => Some(Presented::Ciphertext(Source::File(&ciphertext))),
        (Some(proof), false) => Some(Presented::Proof(proof)),
        (None, false) => None,
    };
    let judgment = judge(&evidence, presented.as_ref(), server.as_ref());
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
