//! Encrypting large goods against the machine's own limit, measured in one run.
//!
//! `cargo bench --bench goods` (BENCH_MIB=… to change the size, default 1024 MiB). The limit
//! is what one core can do with the best implementations on this machine, both measured now
//! with `openssl speed -evp aes-256-gcm` and `openssl speed -evp sha256` (16 KiB blocks): a
//! core that encrypts and hashes every byte once runs at `1 / (1/aes + 1/sha)`. The toolkit's
//! `goods-encrypt` work (the plaintext tree, then sealing with the ciphertext tree: two
//! SHA-256 passes and one AES-256-GCM pass, on every core) and the customer's checksum of the
//! ciphertext are reported as goods bytes per second and as a ratio to that limit.

#![allow(missing_docs)]

#[path = "timing/mod.rs"]
mod timing;

use std::process::Command;
use std::time::Duration;

use atomic_commerce::crypto::goods;

/// Bytes per second that `openssl speed -evp ALGORITHM` reaches on 16 KiB blocks, one core.
fn openssl(algorithm: &str) -> f64 {
    let out = Command::new("openssl")
        .args(["speed", "-evp", algorithm, "-bytes", "16384", "-seconds", "3"])
        .output()
        .expect("openssl is on every machine the benchmark runs on (Debian's openssl package)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.to_lowercase().starts_with(&algorithm.to_lowercase()))
        .unwrap_or_else(|| panic!("no {algorithm} line in openssl's output: {text}"));
    let kilobytes: f64 = line.split_whitespace().last().and_then(|v| v.trim_end_matches('k').parse().ok()).unwrap();
    kilobytes * 1000.0
}

use timing::best_of;

fn main() {
    let mib: u64 = std::env::var("BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let size = mib << 20;
    let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let key = goods::fresh_key();
    let aes = openssl("aes-256-gcm");
    let sha = openssl("sha256");
    let limit = 1.0 / (1.0 / aes + 1.0 / sha);
    let mut ciphertext = Vec::with_capacity(size as usize * 9 / 8);
    let encrypt = best_of(3, || {
        ciphertext.clear();
        let open = || Ok(&plain[..]);
        goods::encrypt(&key, "bench", size, open, |_| Ok(()), &mut ciphertext, &mut |_| {}).unwrap();
    });
    let checksum = best_of(3, || {
        std::hint::black_box(goods::ciphertext_root(&ciphertext[..], &mut |_| {}).unwrap());
    });
    let decrypt = best_of(3, || {
        std::hint::black_box(
            goods::decrypt(&key, "bench", &ciphertext[..], None, &mut std::io::sink(), &mut |_| {}).unwrap(),
        );
    });
    let rate = |d: Duration| size as f64 / d.as_secs_f64();
    let mb = |r: f64| r / 1e6;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "goods: {mib} MiB; ciphertext {:.1}% larger (each chunk carries its path); {cores} cores",
        (ciphertext.len() as f64 / size as f64 - 1.0) * 100.0
    );
    println!(
        "openssl, one core: AES-256-GCM {:.0} MB/s, SHA-256 {:.0} MB/s; limit 1/(1/aes+1/sha) = {:.0} MB/s",
        mb(aes),
        mb(sha),
        mb(limit)
    );
    for (what, d) in [
        ("goods-encrypt (tree, seal, checksum)", encrypt),
        ("checksum of the ciphertext", checksum),
        ("decrypt and check", decrypt),
    ] {
        println!("{what:40} {:7.0} MB/s of goods  {:.2}x the limit", mb(rate(d)), rate(d) / limit);
    }
}
