//! Prints per second on each coprocessor, next to a bare Ed25519 signature, in one run.
//!
//! `cargo bench --bench meter` (BENCH_N=… prints per coprocessor, default 500). Each print
//! checks the sealed state, signs inside the coprocessor, commits the state (fsync + rename)
//! and appends the log (fsync); the baseline is one in-process Ed25519 signature. The PKCS#11
//! run uses a fresh SoftHSM2 token in a temporary directory.

#![allow(missing_docs)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};

/// The time every tool is told (the envelopes are dated that day).
const NOW: &str = "2026-11-25T12:00:00Z";

fn run(dir: &Path, tool: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(match tool {
        "meter" => env!("CARGO_BIN_EXE_meter"),
        _ => env!("CARGO_BIN_EXE_postal-authority"),
    })
    .current_dir(dir)
    .args(["--now", NOW])
    .args(args)
    .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
    .env("METER_PIN", "1234")
    .output()
    .unwrap();
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Provisions a meter on `coprocessor` and returns prints per second over `n` envelopes.
fn prints_per_second(coprocessor: &str, n: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if coprocessor != "emulated" {
        std::fs::create_dir(d.join("tokens")).unwrap();
        let conf = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            d.join("tokens").display()
        );
        std::fs::write(d.join("softhsm2.conf"), conf).unwrap();
        let ok = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", "meter", "--so-pin", "12345678", "--pin", "1234"])
            .env("SOFTHSM2_CONF", d.join("softhsm2.conf"))
            .stdin(Stdio::null())
            .output()
            .expect("softhsm2-util (apt-get install softhsm2)");
        assert!(ok.status.success());
    }
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(d.join(name), bytes).unwrap();
    write("pa.id.json", run(d, "postal-authority", &["--db", "pa.db", "--key", "pa.key", "init"]));
    let init = [
        "--device",
        "m",
        "init",
        "--meter-id",
        "M-1",
        "--origin",
        "15213",
        "--authority",
        "pa.id.json",
        "--coprocessor",
        coprocessor,
    ];
    write("request.json", run(d, "meter", &init));
    write("cert.json", run(d, "postal-authority", &["--db", "pa.db", "--key", "pa.key", "certify", "request.json"]));
    run(d, "meter", &["--device", "m", "install-certificate", "cert.json"]);
    write(
        "voucher.json",
        run(
            d,
            "postal-authority",
            &["--db", "pa.db", "--key", "pa.key", "voucher", "--meter", "M-1", "--amount", "1000"],
        ),
    );
    run(d, "meter", &["--device", "m", "refill", "--voucher", "voucher.json"]);
    let envelope = r#"{"recipient": "1600 Pennsylvania Ave NW\nWashington DC", "destination_postal_code": "20500", "postage": "0.01", "date": "2026-11-25", "rate_category": "letter"}"#;
    write("stream.ndjson", (0..n).map(|_| format!("{envelope}\n")).collect::<String>().into_bytes());
    let started = Instant::now();
    let out = run(d, "meter", &["--device", "m", "print", "stream.ndjson"]);
    let rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), n);
    rate
}

fn main() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let key = SigningKey::from_bytes(&[7; 32]);
    let started = Instant::now();
    for i in 0..20_000u32 {
        std::hint::black_box(key.sign(&i.to_be_bytes()));
    }
    let sign = 20_000.0 / started.elapsed().as_secs_f64();
    let emulated = prints_per_second("emulated", n);
    let token = prints_per_second("pkcs11:token=meter;object=M-1", n);
    println!("prints: {n} per coprocessor");
    println!("Ed25519 signature in process (baseline):   {sign:>9.0} /s   1.0000");
    println!("meter print, emulated coprocessor:          {emulated:>9.0} /s   {:.4}", emulated / sign);
    println!("meter print, PKCS#11 (SoftHSM2 token):      {token:>9.0} /s   {:.4}", token / sign);
}
