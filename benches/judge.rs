//! The cost of a ruling next to a plain SHA-256 of the same goods, measured in one run.
//!
//! `cargo bench --bench judge` (BENCH_MIB=… to change the size, default 100 MiB). A ruling on
//! a "not what I ordered" claim reads the bundle, verifies every signature, and in one pass over
//! the ciphertext computes its Merkle root, decrypts every chunk with K and checks it against the
//! offer's promise (chunks shared among the cores), streaming the file as `dispute-judge rule`
//! does; the baseline reads the ciphertext file a megabyte at a time, as `sha256sum` does, and
//! hashes it once (sha2, with the processor's SHA instructions).

#![allow(missing_docs)]

#[path = "timing/mod.rs"]
mod timing;

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::io::Read;
use std::time::Duration;

use atomic_commerce::doc::Plain;
use atomic_commerce::netbill::judge::{Claim, Evidence, Presented, Source, Verdict, judge};

use sha2::{Digest, Sha256};
use timing::best_of;

fn main() {
    let mib: usize = std::env::var("BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let world = common::World::new();
    let goods: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
    eprintln!("buying {mib} MiB of goods…");
    let p = world.purchase("0.07", &goods);
    let receipt = world.books().settle(&p.endorsed, &world.server.keys, common::now()).unwrap();
    let mut texts: Vec<String> = ["alice", "bookshop", "netbill"]
        .iter()
        .map(|n| std::fs::read_to_string(world.path(&format!("{n}.id.json"))).unwrap())
        .collect();
    texts.extend([p.offer.to_json_line(), p.epo.to_json_line(), p.endorsed.to_json_line(), receipt.to_json_line()]);
    let evidence = Evidence::new(Claim::NotWhatIOrdered, texts.iter().map(String::as_str)).unwrap();
    let evidence_file = world.write("evidence.json", Plain(evidence).to_json_pretty());
    let ciphertext_file = world.write("ciphertext", &p.delivery.ciphertext);
    drop(p);

    // The baseline reads the file as sha256sum does, a buffer at a time, and hashes it.
    let baseline = best_of(3, || {
        let mut file = std::fs::File::open(&ciphertext_file).unwrap();
        let mut buffer = vec![0u8; 1 << 20];
        let mut hash = Sha256::new();
        loop {
            let n = file.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            hash.update(&buffer[..n]);
        }
        std::hint::black_box(hash.finalize());
    });
    let ruling = best_of(3, || {
        let evidence = Plain::<Evidence>::parse(&std::fs::read(&evidence_file).unwrap()).unwrap();
        let judgment = judge(&evidence, Some(&Presented::Ciphertext(Source::File(&ciphertext_file))), None);
        assert_eq!(judgment.ruling.verdict, Verdict::DeliveredAsAgreed);
    });
    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    println!("goods: {mib} MiB");
    println!(
        "plain SHA-256 of the file (streamed):     {:>8.1} ms  {:>7.0} MiB/s  1.00",
        baseline.as_secs_f64() * 1e3,
        rate(baseline)
    );
    println!(
        "ruling (signatures, hash, decrypt, digest): {:>8.1} ms  {:>7.0} MiB/s  {:.2}",
        ruling.as_secs_f64() * 1e3,
        rate(ruling),
        ruling.as_secs_f64() / baseline.as_secs_f64()
    );
}
