//! Settlement throughput next to the cost of its cryptography, measured in one run.
//!
//! `cargo bench --bench settle` (BENCH_N=… requests, default 20,000). Prints, for the same N
//! signed requests, on every core of the machine:
//! - the crypto-only baseline the issue sets: 2 Ed25519 verifications and 1 signature per
//!   settlement, verified one by one (`verify_strict`) and in batches of 512;
//! - the settlement's own cryptography (`prepare`: two signatures batched, the sealed key
//!   opened on the merchant's channel and checked against its commitment; and the receipts
//!   signed in batches, as the settler signs them);
//! - durable settlements through the netbill-settle binary (an NDJSON stream, groups of 1,024
//!   per transaction), on SQLite and on PostgreSQL (the server of NETBILL_TEST_POSTGRES, as
//!   `scripts/test` starts it), with 1 settler and with 4 settlers on one ledger, each run on
//!   fresh books;
//!
//! each as the median of three runs and as a ratio to the batched crypto-only baseline (each
//! durable run paired with the mean of two measures of the baseline, just before it and just
//! after: the machine is noisy).
//! With BENCH_KEEP set it stops before the durable runs and keeps the request stream and a
//! fresh ledger in a directory it names, to profile `netbill-settle` on them
//! (`perf record … netbill-settle --ledger …`).

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

use atomic_commerce::doc::Signed;
use atomic_commerce::ledger::SqliteLedger;
use atomic_commerce::netbill::batch::{self, Directory};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// Runs `work` over `n` items split across `threads` threads; returns items per second.
fn parallel_rate(n: usize, threads: usize, work: impl Fn(std::ops::Range<usize>) + Sync) -> f64 {
    let started = Instant::now();
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        for t in 0..threads {
            let work = &work;
            s.spawn(move || work(t * chunk..((t + 1) * chunk).min(n)));
        }
    });
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let world = common::World::new();
    let expires = common::now().plus(jiff::SignedDuration::from_hours(1)).unwrap();
    eprintln!("generating {n} signed requests…");
    let requests: Vec<_> = (0..n).map(|_| world.unrecorded_purchase("0.0001", b"goods", expires).endorsed).collect();

    // The baseline: 2 verifications + 1 signature per settlement.
    let key = SigningKey::from_bytes(&[7; 32]);
    let public: VerifyingKey = key.verifying_key();
    let messages: Vec<Vec<u8>> = (0..n).map(|i| format!("settlement {i}").into_bytes()).collect();
    let signatures: Vec<_> = messages.iter().map(|m| key.sign(m)).collect();
    let unbatched = median3(|| {
        parallel_rate(n, threads, |range| {
            for i in range {
                public.verify_strict(&messages[i], &signatures[i]).unwrap();
                public.verify_strict(&messages[i], &signatures[i]).unwrap();
                std::hint::black_box(key.sign(&messages[i]));
            }
        })
    });
    let batched = || {
        parallel_rate(n, threads, |range| {
            for part in range.collect::<Vec<_>>().chunks(256) {
                let m: Vec<&[u8]> = part.iter().flat_map(|&i| [&messages[i][..], &messages[i][..]]).collect();
                let s: Vec<_> = part.iter().flat_map(|&i| [signatures[i], signatures[i]]).collect();
                ed25519_dalek::verify_batch(&m, &s, &vec![public; m.len()]).unwrap();
                for &i in part {
                    std::hint::black_box(key.sign(&messages[i]));
                }
            }
        })
    };
    let baseline = median3(batched);

    // The settlement's own cryptography, in memory.
    let mut ledger = SqliteLedger::open(&world.ledger).unwrap();
    let mut directory = Directory::new();
    ledger.fill_directory([world.alice.keys.key_id(), world.bookshop.keys.key_id()], &mut directory).unwrap();
    let account =
        |keys: &atomic_commerce::crypto::keys::PartyKeys, balance: &str| atomic_commerce::netbill::settle::Account {
            name: keys.identity().name,
            identity: keys.identity(),
            balance: balance.parse().unwrap(),
        };
    let (customer, merchant) = (account(&world.alice.keys, "1000"), account(&world.bookshop.keys, "0"));
    let head = atomic_commerce::ledger::journal::Head { seq: 1, digest: atomic_commerce::doc::Hex([0; 32]) };
    let own = median3(|| {
        let started = Instant::now();
        for group in requests.chunks(512) {
            let prepared = batch::prepare(group.to_vec(), &directory, &world.server.keys, threads);
            let receipts = std::thread::scope(|s| {
                let parts: Vec<_> = prepared
                    .chunks(prepared.len().div_ceil(threads))
                    .map(|part| {
                        s.spawn(|| {
                            let decided: Vec<_> = part
                                .iter()
                                .map(|p| {
                                    let d = atomic_commerce::netbill::settle::decide_checked(
                                        &p.request,
                                        Some(&customer),
                                        Some(&merchant),
                                        p.signatures.as_ref(),
                                        &world.server.keys,
                                        common::now(),
                                        head,
                                    );
                                    assert!(d.transfer.is_some(), "a paid receipt is signed");
                                    d.receipt
                                })
                                .collect();
                            decided
                                .chunks(batch::RECEIPT_BATCH)
                                .map(|b| Signed::sign_batch(b.to_vec(), &world.server.keys).len())
                                .sum::<usize>()
                        })
                    })
                    .collect();
                parts.into_iter().map(|p| p.join().unwrap()).sum::<usize>()
            });
            assert_eq!(receipts, group.len());
            assert!(prepared.iter().all(|p| p.signatures.as_ref().is_some_and(|s| s.parties && s.key.is_some())));
        }
        n as f64 / started.elapsed().as_secs_f64()
    });

    // Durable: the binary on fresh copies of the books, with 1 and with 4 settlers.
    let stream: String = requests.iter().map(|r| r.to_json_line()).collect();
    let runs = std::cell::Cell::new(0);
    let durable = |settlers: usize, postgres: bool| {
        runs.set(runs.get() + 1);
        let db = postgres.then(|| common::pg::PgDb::ledger_for(&world));
        let ledger = match &db {
            Some(db) => std::path::PathBuf::from(&db.url),
            None => {
                let copy = world.path(&format!("netbill-run-{}.db", runs.get()));
                std::fs::copy(&world.ledger, &copy).unwrap();
                copy
            }
        };
        let lines: Vec<&str> = stream.lines().collect();
        let parts: Vec<_> = lines
            .chunks(lines.len().div_ceil(settlers))
            .enumerate()
            .map(|(i, part)| world.write(&format!("stream-{settlers}-{i}.ndjson"), part.join("\n") + "\n"))
            .collect();
        let started = Instant::now();
        let children: Vec<_> = parts
            .iter()
            .map(|part| {
                Command::new(env!("CARGO_BIN_EXE_netbill-settle"))
                    .current_dir(world.dir.path())
                    .arg("--ledger")
                    .arg(&ledger)
                    .args(["--key", "netbill.key", "--now", common::NOW])
                    .arg(part)
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        let audit = atomic_commerce::ledger::Ledger::open(&ledger).unwrap().audit().unwrap();
        assert!(audit.problems.is_empty() && audit.receipts == n as u64, "{:?}", audit.problems);
        rate
    };
    if std::env::var_os("BENCH_KEEP").is_some() {
        // For a profiler: the requests, the keys and the unused books, left in place.
        std::fs::copy(&world.ledger, world.path("fresh.db")).unwrap();
        world.write("stream.ndjson", stream.clone());
        let dir = world.dir.keep();
        eprintln!("kept {} (stream.ndjson, fresh.db, netbill.key; --now {})", dir.display(), common::NOW);
        return;
    }
    // The machine is noisy: each durable run on fresh books is paired with the mean of two
    // measures of the batched baseline, just before it and just after, and the rate and the
    // ratio shown are the medians of three such pairs.
    let paired = |settlers: usize, postgres: bool| {
        let (mut rates, mut ratios) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let before = batched();
            let rate = durable(settlers, postgres);
            rates.push(rate);
            ratios.push(rate / ((before + batched()) / 2.0));
        }
        (median3(|| rates.pop().unwrap()), median3(|| ratios.pop().unwrap()))
    };
    let durable_rows = [
        ("durable, SQLite, 1 netbill-settle", paired(1, false)),
        ("durable, SQLite, 4 netbill-settle on one ledger", paired(4, false)),
        ("durable, PostgreSQL, 1 netbill-settle", paired(1, true)),
        ("durable, PostgreSQL, 4 netbill-settle on one ledger", paired(4, true)),
    ];

    println!("settle: {n} requests, {threads} cores; each rate the median of three runs");
    println!("ratio = rate / batched crypto-only baseline (for durable runs, the median of three");
    println!("ratios, each to the mean of the baselines measured just before and just after the run)");
    for (what, rate) in [
        ("crypto only, 2 verify_strict + 1 sign", unbatched),
        ("crypto only, 2 batched verifies + 1 sign", baseline),
        ("our crypto (2 sigs, 1 unsealing, 1/16 sign)", own),
    ] {
        println!("  {what:<54} {rate:>9.0} /s   {:.3}", rate / baseline);
    }
    for (what, (rate, ratio)) in durable_rows {
        println!("  {what:<54} {rate:>9.0} /s   {ratio:.3}");
    }
}

/// The median of three measures.
fn median3(mut measure: impl FnMut() -> f64) -> f64 {
    let mut values = [0.0; 3].map(|_| measure());
    values.sort_by(f64::total_cmp);
    values[1]
}
