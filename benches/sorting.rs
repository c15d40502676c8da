//! Pieces verified per second from PNG scans, next to decoding alone, in one run.
//!
//! `cargo bench --bench sorting` (BENCH_N=… pieces, default 200). Prints the decode-only rate
//! (rxing reading the symbol, one core), the full single-core verification rate (decode,
//! record, certificate, Ed25519 signature, address and date), its cost relative to decoding,
//! and the `indicia-verify` binary's batch rate on all cores with the seen-database.

#![allow(missing_docs)]

use std::process::Command;
use std::time::Instant;

use atomic_commerce::clock::{Day, Time};
use atomic_commerce::crypto::keys::PartyKeys;
use atomic_commerce::postage::authority::AuthorityBook;
use atomic_commerce::postage::barcode::{self, Style, Symbology};
use atomic_commerce::postage::coprocessor::DeviceChoice;
use atomic_commerce::postage::indicium::Envelope;
use atomic_commerce::postage::meter::Meter;
use atomic_commerce::postage::record;
use atomic_commerce::postage::station::{self, Registry};

const ADDRESS: &str = "1600 Pennsylvania Ave NW\nWashington DC";

fn main() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now: Time = "2026-11-25T12:00:00Z".parse().unwrap();
    let today = Day::of(now);
    let authority = PartyKeys::generate("postal-authority").unwrap();
    AuthorityBook::create(&d.join("pa.db"), &authority.identity_document()).unwrap();
    let mut book = AuthorityBook::open(&d.join("pa.db")).unwrap();
    let (mut meter, request) =
        Meter::create(&d.join("meter"), DeviceChoice::Emulated, None, "M-1", "15213", authority.identity(), now)
            .unwrap();
    let until = Day::of(now.plus(jiff::SignedDuration::from_hours(24 * 365)).unwrap());
    let certificate = book.certify(&request, &authority, today, until).unwrap();
    meter.install_certificate(&certificate).unwrap();
    meter.refill(&book.voucher("M-1", "1000".parse().unwrap(), &authority, now).unwrap()).unwrap();
    let envelope = Envelope {
        sender: None,
        recipient: ADDRESS.into(),
        destination_postal_code: "20500".into(),
        postage: "0.73".parse().unwrap(),
        date: today,
        rate_category: "letter".into(),
    };
    eprintln!("printing and rendering {n} pieces of each symbology…");
    let mut pngs: Vec<(Symbology, Vec<u8>)> = Vec::new();
    let mut manifest = String::new();
    for symbology in [Symbology::Pdf417, Symbology::Datamatrix] {
        for _ in 0..n {
            let indicium = meter.print(&envelope, now).unwrap();
            let style = Style::of(symbology);
            let image = barcode::draw(&record::encode(&indicium).unwrap(), &style).unwrap();
            let mut png = Vec::new();
            image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
            let name = format!("piece-{}.png", pngs.len());
            std::fs::write(d.join(&name), &png).unwrap();
            manifest.push_str(&serde_json::json!({"piece": name, "address": ADDRESS}).to_string());
            manifest.push('\n');
            pngs.push((symbology, png));
        }
    }
    std::fs::write(d.join("manifest.ndjson"), manifest).unwrap();
    std::fs::write(d.join("certs.ndjson"), certificate.to_json_line()).unwrap();
    std::fs::write(d.join("pa.id.json"), authority.identity_document().to_json_pretty()).unwrap();
    let registry = Registry::new(&authority.identity(), &[certificate]).unwrap();

    // Pieces per second on one core over the pieces of `symbology`, read as the station reads
    // them (looking for either symbology), decoded only or also verified.
    let rate = |symbology: Symbology, verify: bool| {
        let started = Instant::now();
        for (_, png) in pngs.iter().filter(|(s, _)| *s == symbology) {
            let image = image::load_from_memory(png).unwrap();
            let bytes = barcode::read(&image, &[Symbology::Pdf417, Symbology::Datamatrix]).unwrap();
            if verify {
                let indicium = registry.with_certified_key(record::decode(&bytes).unwrap());
                station::check(&indicium, ADDRESS, &registry, today).unwrap();
            }
        }
        n as f64 / started.elapsed().as_secs_f64()
    };

    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_indicia-verify"))
        .current_dir(d)
        .args(["--station", "station.db", "--now", "2026-11-25T18:00:00Z", "check", "--authority", "pa.id.json"])
        .args(["--certificates", "certs.ndjson", "--manifest", "manifest.ndjson"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let batch = pngs.len() as f64 / started.elapsed().as_secs_f64();

    println!("pieces: {n} PDF417 and {n} Data Matrix PNGs");
    let mut decode_both = 0.0;
    for (name, symbology) in [("PDF417", Symbology::Pdf417), ("Data Matrix", Symbology::Datamatrix)] {
        let (decode, verify) = (rate(symbology, false), rate(symbology, true));
        decode_both += 1.0 / decode;
        println!("{name:<11} decode only (one core):                 {decode:>8.1} /s   1.00");
        println!(
            "{name:<11} decode + record + certificate + signature: {verify:>8.1} /s   {:.2} (cost {:.2}x decoding)",
            verify / decode,
            decode / verify
        );
    }
    let decode_both = 2.0 / decode_both;
    println!(
        "indicia-verify batch, both (all cores, seen-database): {batch:>8.1} /s   {:.2} of decoding them on one core",
        batch / decode_both
    );
}
