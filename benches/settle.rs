//! Settlement throughput next to the cost of its cryptography, measured in one run.
//!
//! `cargo bench --bench settle` (BENCH_N=… to change the number of requests, default 10,000).
//! Prints, for the same N signed requests:
//! - crypto only: the server's decision in memory (verify the endorsement, the EPO and the
//!   offer, open the sealed key and verify its statement) and the receipt signature;
//! - settlements through the library into SQLite, one fsync'd transaction each;
//! - the netbill-settle binary reading them as an NDJSON stream;
//!
//! each as a rate and as a ratio to the crypto-only rate.

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

use atomic_commerce::doc::Signed;
use atomic_commerce::ledger::SqliteLedger;
use atomic_commerce::netbill::settle::{Account, decide};

fn main() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let world = common::World::new();
    let expires = common::now().plus(jiff::SignedDuration::from_hours(1)).unwrap();
    eprintln!("generating {n} signed requests…");
    let requests: Vec<_> = (0..n).map(|_| world.unrecorded_purchase("0.0001", b"goods", expires).endorsed).collect();
    let now = common::now();

    let alice = Account { name: "alice".into(), identity: world.alice.identity(), balance: "5".parse().unwrap() };
    let bookshop =
        Account { name: "bookshop".into(), identity: world.bookshop.identity(), balance: Default::default() };
    let started = Instant::now();
    for request in &requests {
        let decision = decide(request, Some(&alice), Some(&bookshop), &world.server.keys, now);
        assert!(decision.transfer.is_some());
        std::hint::black_box(Signed::sign(decision.receipt, &world.server.keys));
    }
    let crypto = n as f64 / started.elapsed().as_secs_f64();

    // Two copies of the same books: the library settles the stream into one, the binary into the other.
    std::fs::copy(&world.ledger, world.path("netbill-b.db")).unwrap();
    let mut ledger = SqliteLedger::open(&world.ledger).unwrap();
    let started = Instant::now();
    for request in &requests {
        ledger.settle(request, &world.server.keys, now).unwrap();
    }
    let library = n as f64 / started.elapsed().as_secs_f64();

    let stream: String = requests.iter().map(|r| r.to_json_line()).collect();
    let input = world.write("stream.ndjson", stream);
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_netbill-settle"))
        .current_dir(world.dir.path())
        .args(["--ledger", "netbill-b.db", "--key", "netbill.key", "--now", common::NOW])
        .arg(&input)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let binary = n as f64 / started.elapsed().as_secs_f64();
    assert!(ledger.audit().unwrap().problems.is_empty());
    let copy = SqliteLedger::open(&world.path("netbill-b.db")).unwrap().audit().unwrap();
    assert!(copy.problems.is_empty() && copy.receipts == n as u64);

    println!("requests: {n}, settled by the library into one copy of the books and by the binary into another");
    println!("crypto only (4 verifications, 1 unsealing, 1 signature):  {crypto:>9.0} /s   1.00");
    println!("settle via library, SQLite, fsync per transaction:        {library:>9.0} /s   {:.3}", library / crypto);
    println!("netbill-settle binary, NDJSON stream:                     {binary:>9.0} /s   {:.3}", binary / crypto);
}
