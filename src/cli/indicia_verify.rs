//! `indicia-verify`: the sorting station.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Deserialize;

use crate::cli::{self, Clock};
use crate::clock::{Day, Time};
use crate::doc::{self, Plain, Signed};
use crate::error::{Error, Result, ResultExt};
use crate::postage::authority::MeterCertificate;
use crate::postage::barcode::{self, Symbology};
use crate::postage::indicium::Indicium;
use crate::postage::record;
use crate::postage::station::{self, Reason, Registry, SeenDb, Summary, Verdict};

/// The sorting station: check the indicia of mail pieces and refuse copies.
///
/// `check` takes the pieces (PNG/JPEG scans or indicium JSON files, or directories of them, each
/// with the address the sorter read in a sidecar file `<piece>.address`), or a manifest (NDJSON,
/// one line per piece: {"piece": FILE, "address": TEXT}). For each piece
/// it decodes the symbol (PDF417 with deskew, or Data Matrix), checks the meter's certificate
/// against the pinned postal authority, the signature, the recipient address, that the date of
/// mailing is neither in the future nor older than the validity window (183 days), and only
/// then that the meter's sequence number was never seen; then it records it. It prints one
/// verdict line per piece and a summary line, and exits 1 if any piece was rejected.
/// `purge` forgets pieces older than the validity window (never younger ones).
#[derive(Debug, Parser)]
pub struct Args {
    /// The station's database of pieces seen (SQLite; created if missing)
    #[arg(long, value_name = "PATH", env = "SORTING_STATION_DB", global = true)]
    station: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Check pieces: print one verdict per piece, then a summary
    ///
    /// Exit status 0 when every piece is accepted, 1 when some piece is rejected (its verdict
    /// says why). The run is refused before any piece is checked (status 1 too, but nothing on
    /// stdout: no verdict, no summary) when a certificate is not the pinned authority's; a
    /// script tells the two apart by the summary line.
    Check {
        /// Pieces: scans (PNG, JPEG) or indicium JSON files, or directories of them; the
        /// address the sorter read for `letter.png` is in `letter.png.address`
        #[arg(value_name = "PIECE", required_unless_present = "manifest", conflicts_with = "manifest")]
        pieces: Vec<PathBuf>,
        /// A manifest instead (NDJSON: {"piece": FILE, "address": TEXT}; files relative to it)
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// The postal authority's identity document (pinned)
        #[arg(long, value_name = "FILE")]
        authority: PathBuf,
        /// Meter certificates (JSON or NDJSON, e.g. `postal-authority issued`; vouchers are skipped)
        #[arg(long, value_name = "FILE", required = true)]
        certificates: Vec<PathBuf>,
        /// Read only this symbology (default: PDF417, then Data Matrix)
        #[arg(long, value_enum)]
        symbology: Option<Symbology>,
    },
    /// Forget pieces mailed before the validity window
    Purge,
}

crate::cli::entry_points!("indicia-verify", |a: Args| run(a));

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    piece: String,
    address: String,
}

/// Reads the meter certificates in `paths`, each of which must be the pinned authority's.
fn certificates(paths: &[PathBuf], authority: &crate::crypto::keys::Identity) -> Result<Vec<Signed<MeterCertificate>>> {
    let mut out = Vec::new();
    for path in paths {
        let place = cli::display(path);
        for (n, raw) in doc::stream(cli::open_input(path)?).enumerate() {
            let raw = raw.at(&place)?;
            let is_cert = serde_json::from_str::<serde_json::Value>(raw.get())
                .ok()
                .is_some_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("postage.meter-certificate"));
            if is_cert {
                let at = format!("{place}: document {}", n + 1);
                let certificate: Signed<MeterCertificate> = Signed::parse(raw.get().as_bytes()).at(&at)?;
                certificate.verify(authority).at(&at)?;
                out.push(certificate);
            }
        }
    }
    Ok(out)
}

/// Reads a piece: an indicium document (checked as signed), or a scan holding its compact
/// record (whose signature is attributed to the key of the meter's certificate).
fn read_piece(
    path: &Path,
    symbology: Option<Symbology>,
    registry: &Registry,
) -> std::result::Result<Signed<Indicium>, (Reason, String)> {
    let bytes =
        std::fs::read(path).map_err(|e| (Reason::Undecodable, format!("cannot read {}: {e}", path.display())))?;
    let text_start = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes).trim_ascii_start();
    if text_start.first() == Some(&b'{') {
        return Signed::parse(&bytes).map_err(|e| (Reason::MalformedRecord, e.message().to_string()));
    }
    let image = image::load_from_memory(&bytes).map_err(|e| (Reason::Undecodable, format!("not an image: {e}")))?;
    let any = [Symbology::Pdf417, Symbology::Datamatrix];
    let symbologies = symbology.as_ref().map_or(&any[..], std::slice::from_ref);
    let payload = barcode::read(&image, symbologies)
        .map_err(|_| (Reason::Undecodable, "no readable symbol in the image".to_string()))?;
    let record = record::decode(&payload).map_err(|e| (Reason::MalformedRecord, e.message().to_string()))?;
    Ok(registry.with_certified_key(record))
}

fn run(a: Args) -> Result<ExitCode> {
    let db =
        a.station.ok_or_else(|| Error::usage("no station database: use --station PATH or set SORTING_STATION_DB"))?;
    let now = a.clock.now();
    let today = Day::of(now);
    match a.action {
        Action::Purge => {
            let mut seen = SeenDb::open(&db)?;
            let purged = seen.purge(today)?;
            cli::write_stdout(format!("purged {purged}, kept {}\n", seen.remembered()?).as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Check { pieces, manifest, authority, certificates: cert_files, symbology } => {
            let authority = cli::read_identity(&authority)?;
            let registry = Registry::new(&authority, &certificates(&cert_files, &authority)?)?;
            let mut seen = SeenDb::open(&db)?;
            let (base, entries) = match &manifest {
                Some(path) => (manifest_base(path), manifest_entries(path)?),
                None => (PathBuf::from("."), sidecar_entries(&pieces)?),
            };
            let base = base.as_path();
            let mut summary = Summary { pieces: 0, accepted: 0, rejected: BTreeMap::new() };
            let mut entries = entries.peekable();
            while entries.peek().is_some() {
                let mut batch = Vec::with_capacity(BATCH);
                for entry in entries.by_ref().take(BATCH) {
                    batch.push(entry?);
                }
                // Decoding and signature checks run on every core; sightings are recorded in
                // manifest order, so the first of two copies is always the one accepted.
                for examined in examine_all(&batch, base, symbology, &registry, today) {
                    let verdict = match examined {
                        Examined::Rejected(verdict) => verdict,
                        Examined::Passed(verdict, indicium) => sight(verdict, &indicium, &mut seen, now)?,
                    };
                    summary.pieces += 1;
                    match verdict.reason {
                        None => summary.accepted += 1,
                        Some(r) => *summary.rejected.entry(r).or_default() += 1,
                    }
                    cli::write_stdout(Plain(verdict).to_json_line().as_bytes())?;
                }
            }
            let all_accepted = summary.accepted == summary.pieces;
            cli::write_stdout(Plain(summary).to_json_line().as_bytes())?;
            Ok(if all_accepted { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

/// The directory a manifest's piece files are relative to.
fn manifest_base(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() && path.as_os_str() != "-" => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

type Entries = Box<dyn Iterator<Item = Result<Entry>>>;

/// The entries of a manifest, read as they come.
fn manifest_entries(path: &Path) -> Result<Entries> {
    let place = cli::display(path);
    Ok(Box::new(doc::stream(cli::open_input(path)?).enumerate().map(move |(n, raw)| {
        let line = format!("{place}: line {}", n + 1);
        serde_json::from_str(raw.at(&line)?.get())
            .map_err(|e| Error::malformed(format!("invalid manifest entry: {e}")).at(&line))
    })))
}

/// Pieces given as files or directories (every PNG, JPEG or JSON file in them, by name), each
/// with its address in `<piece>.address`.
fn sidecar_entries(paths: &[PathBuf]) -> Result<Entries> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::io(&e).at(path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|x| x.to_str())
                        .is_some_and(|x| ["png", "jpg", "jpeg", "json"].contains(&x.to_ascii_lowercase().as_str()))
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(Box::new(files.into_iter().map(|file| {
        let mut sidecar = file.clone().into_os_string();
        sidecar.push(".address");
        let address = std::fs::read_to_string(&sidecar).map_err(|e| {
            Error::io(&e).at(format!("{} (the address read for {})", Path::new(&sidecar).display(), file.display()))
        })?;
        Ok(Entry { piece: file.to_string_lossy().into_owned(), address: address.trim_end().to_string() })
    })))
}

/// Pieces examined in parallel at a time.
const BATCH: usize = 64;

/// A piece after the checks that need no database.
enum Examined {
    /// Rejected already.
    Rejected(Verdict),
    /// Passed every check but the seen-database.
    Passed(Verdict, Indicium),
}

/// Examines `batch` on all cores, keeping its order.
fn examine_all(
    batch: &[Entry],
    base: &Path,
    symbology: Option<Symbology>,
    registry: &Registry,
    today: Day,
) -> Vec<Examined> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = batch.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = batch
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter().map(|e| examine(e, base, symbology, registry, today)).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("examining a piece does not panic")).collect()
    })
}

/// Reads a piece and checks its certificate, signature, address and date.
fn examine(entry: &Entry, base: &Path, symbology: Option<Symbology>, registry: &Registry, today: Day) -> Examined {
    let mut verdict = Verdict {
        piece: entry.piece.clone(),
        accepted: false,
        reason: None,
        detail: String::new(),
        meter_id: None,
        sequence: None,
        first_seen: None,
    };
    let rejected = |mut v: Verdict, (reason, detail): (Reason, String)| {
        v.reason = Some(reason);
        v.detail = detail;
        Examined::Rejected(v)
    };
    let indicium = match read_piece(&base.join(&entry.piece), symbology, registry) {
        Ok(i) => i,
        Err(r) => return rejected(verdict, r),
    };
    let i = indicium.unverified().clone();
    verdict.meter_id = Some(i.meter_id.clone());
    verdict.sequence = Some(i.sequence);
    match station::check(&indicium, &entry.address, registry, today) {
        Ok(()) => Examined::Passed(verdict, i),
        Err(r) => rejected(verdict, r),
    }
}

/// Records the sighting of a piece that passed every other check.
fn sight(mut verdict: Verdict, i: &Indicium, seen: &mut SeenDb, now: Time) -> Result<Verdict> {
    if let Some(first) = seen.sight(i, &verdict.piece, now)? {
        verdict.reason = Some(Reason::Duplicate);
        verdict.detail =
            format!("meter {} piece {} was first seen in {} at {}", i.meter_id, i.sequence, first.piece, first.at);
        verdict.first_seen = Some(first);
        return Ok(verdict);
    }
    verdict.accepted = true;
    verdict.detail = format!("meter {} piece {}, {} postage, mailed {}", i.meter_id, i.sequence, i.postage, i.date);
    Ok(verdict)
}
