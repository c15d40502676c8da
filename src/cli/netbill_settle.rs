//! `netbill-settle`: the NetBill server's settlement (NetBill step 7).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use clap::Parser;

use crate::cli::{self, Clock};
use crate::crypto::keys::PartyKeys;
use crate::doc::{self, Signed};
use crate::error::{Error, Result, ResultExt};
use crate::ledger::Ledger;
use crate::netbill::batch::{self, Directory, Prepared};
use crate::netbill::epo::EndorsedEpo;
use crate::netbill::receipt::Outcome;
use serde_json::value::RawValue;

/// Settle endorsed EPOs: check, move the money atomically, escrow K, sign the receipt.
///
/// For each endorsed EPO read (one document, or an NDJSON stream), verifies the merchant's and
/// the customer's signatures with the keys bound to their accounts, the server named, the
/// price against the countersigned offer, the expiry, the sealed key (it must open on the
/// merchant's channel to the K the EPO's commitment names) and the funds; then
/// debits the customer, credits the merchant, records the EPO id, checksum and escrowed K, and
/// stores the signed receipt, all in one database transaction. Refusals are signed receipts
/// too and move no money. Prints one receipt line per request line, in order, each only after
/// its transaction committed. Re-sending a request returns the identical stored receipt; the
/// same EPO id with different content is refused as a replay.
///
/// A stream is settled in groups: the signatures of a group are verified in batches on every
/// core, then the group is decided and committed in one transaction (each settlement in it
/// still all-or-nothing and idempotent) while the next group's signatures are verified;
/// memory stays bounded whatever the stream's length. The receipts of a group are signed in
/// batches of up to 16, one signature over their Merkle tree, each receipt carrying its
/// inclusion proof (docs/FORMATS.md §2.3); each verifies on its own.
/// Several settlers may share one ledger. Progress goes to stderr when it is a terminal.
///
/// Exit status 1 when any receipt is a refusal. A malformed request stops the stream with
/// status 65 after the receipts for the lines before it.
#[derive(Debug, Parser)]
pub struct Args {
    /// Endorsed EPOs: one document or an NDJSON stream
    #[arg(default_value = "-", value_name = "REQUESTS")]
    input: PathBuf,
    /// The ledger: an SQLite file, or a postgres:// URL
    #[arg(long, value_name = "PATH|URL", env = "NETBILL_LEDGER")]
    ledger: PathBuf,
    /// The NetBill server's secret-key file
    #[arg(long, value_name = "FILE", env = "NETBILL_SERVER_KEY")]
    key: PathBuf,
    /// At most this many requests per transaction (group commit)
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65536))]
    group: u32,
    /// Threads that verify and sign (default: the machine's cores)
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    clock: Clock,
}

crate::cli::entry_points!("netbill-settle", |a: Args| run(&a));

/// One request of the stream, as read (parsed later, on every core), or the error that ends
/// the stream.
type Line = Result<Raw>;

/// A request's line number and JSON text.
type Raw = (usize, Box<RawValue>);

/// How long a partial group waits for more requests before it is settled.
const LINGER: Duration = Duration::from_millis(2);

fn run(a: &Args) -> Result<ExitCode> {
    let server = cli::read_keys(&a.key)?;
    let mut ledger = Ledger::open(&a.ledger)?;
    ledger.check_server_keys(&server)?;
    let input = cli::open_input(&a.input)?;
    let place = cli::display(&a.input);
    let at = place.clone();
    let group = a.group as usize;
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)).max(1);
    let (lines, incoming) = sync_channel::<Line>(2 * group);
    std::thread::spawn(move || read(input, &place, &lines));

    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} settled ({per_sec}) {msg}").expect("a template"),
        );
        bar
    });
    // Two stages overlap: while one group is decided and committed, the next is parsed and
    // its signatures checked (with its own connection to look up account keys).
    let server = Arc::new(server);
    let (checked, verified) = sync_channel::<Checked>(1);
    let checker = {
        let (mut lookup, server) = (Ledger::open(&a.ledger)?, Arc::clone(&server));
        std::thread::spawn(move || check(incoming, &mut lookup, &server, group, threads, &at, checked))
    };
    let mut refused = false;
    loop {
        let Ok((prepared, end)) = verified.recv() else {
            // The checking stage stopped without saying how the stream ended: it panicked.
            std::panic::resume_unwind(checker.join().expect_err("the checking stage ends with the stream"));
        };
        if !prepared.is_empty() {
            let receipts = ledger.settle_group(&prepared, &server, a.clock.now(), threads)?;
            let mut out = String::with_capacity(receipts.len() * 1024);
            for receipt in &receipts {
                refused |= receipt.unverified().result == Outcome::Refused;
                out.push_str(&receipt.to_json_line());
            }
            cli::write_stdout(out.as_bytes())?;
            if let Some(bar) = &progress {
                bar.inc(receipts.len() as u64);
            }
        }
        match end {
            None => {}
            Some(Ok(())) => break,
            Some(Err(e)) => return Err(e),
        }
    }
    if let Some(bar) = progress {
        bar.finish();
    }
    Ok(if refused { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Reads the stream's JSON values until its end or its first bad one.
fn read(input: Box<dyn std::io::Read + Send>, place: &str, lines: &SyncSender<Line>) {
    for (n, raw) in doc::stream(input).enumerate() {
        let value = raw.at(format!("{place}: request {}", n + 1)).map(|raw| (n + 1, raw));
        let stop = value.is_err();
        if lines.send(value).is_err() || stop {
            return;
        }
    }
}

/// Parses a group's requests on `threads` threads; stops at the first malformed one, which
/// is returned as the error that ends the stream.
fn parse(raw: Vec<Raw>, place: &str, threads: usize) -> (Vec<Signed<EndorsedEpo>>, Option<Error>) {
    let chunk = raw.len().div_ceil(threads).max(1);
    let parsed: Vec<Result<Signed<EndorsedEpo>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = raw
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(n, raw)| Signed::parse(raw.get().as_bytes()).at(format!("{place}: request {n}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a parser does not panic")).collect()
    });
    let mut requests = Vec::with_capacity(parsed.len());
    for p in parsed {
        match p {
            Ok(request) => requests.push(request),
            Err(e) => return (requests, Some(e)),
        }
    }
    (requests, None)
}

/// The next group: at least one request (waiting for it), then whatever follows within
/// [`LINGER`], up to `size`; and whether the stream ended (cleanly, or with an error).
fn next_group(incoming: &Receiver<Line>, size: usize) -> (Vec<Raw>, Option<Result<()>>) {
    let mut requests = Vec::with_capacity(size);
    let take = |line: Line, requests: &mut Vec<_>| match line {
        Ok(request) => {
            requests.push(request);
            None
        }
        Err(e) => Some(Err(e)),
    };
    match incoming.recv() {
        Ok(line) => {
            if let Some(end) = take(line, &mut requests) {
                return (requests, Some(end));
            }
        }
        Err(_) => return (requests, Some(Ok(()))),
    }
    while requests.len() < size {
        let line = match incoming.try_recv() {
            Ok(line) => line,
            Err(TryRecvError::Disconnected) => return (requests, Some(Ok(()))),
            Err(TryRecvError::Empty) => match incoming.recv_timeout(LINGER) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return (requests, Some(Ok(()))),
            },
        };
        if let Some(end) = take(line, &mut requests) {
            return (requests, Some(end));
        }
    }
    (requests, None)
}

/// A group with its signatures checked, and whether the stream ended after it (cleanly, or
/// with the error that ends it).
type Checked = (Vec<Prepared>, Option<Result<()>>);

/// Lowers the calling thread's scheduling priority (nice 10), and that of the threads it
/// starts: the checking stage works ahead on what the settling stage leaves of the cores, and
/// the settling stage, whose serial part (deciding, recording and committing in order) is the
/// critical path, seldom waits for a core behind it. A hint only: where it is refused, the
/// stages share the cores evenly.
fn yield_to_settling() {
    #[cfg(target_os = "linux")]
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
}

/// The first stage: takes the stream's groups, parses them and checks their signatures in
/// batches on `threads` threads (account keys looked up in `lookup`), and passes them on until
/// the stream ends or the settling stage stops listening.
fn check(
    incoming: Receiver<Line>,
    lookup: &mut Ledger,
    server: &PartyKeys,
    size: usize,
    threads: usize,
    place: &str,
    checked: SyncSender<Checked>,
) {
    let mut directory = Directory::new();
    yield_to_settling();
    loop {
        let (raw, mut end) = next_group(&incoming, size);
        let (requests, malformed) = parse(raw, place, threads);
        if let Some(e) = malformed {
            end = Some(Err(e));
        }
        let keys = requests.iter().flat_map(|r| {
            let epo = r.unverified().epo.unverified();
            [epo.customer, epo.merchant]
        });
        let prepared = match lookup.fill_directory(keys.collect(), &mut directory) {
            Ok(()) => batch::prepare(requests, &directory, server, threads),
            Err(e) => {
                end = Some(Err(e));
                Vec::new()
            }
        };
        let last = end.is_some();
        if checked.send((prepared, end)).is_err() || last {
            return;
        }
    }
}
