//! indicia-render and indicia-verify: printed barcodes and the sorting station.

use std::path::Path;
use std::process::Command;

use atomic_commerce::doc::Signed;
use atomic_commerce::postage::barcode::{self, Symbology};
use atomic_commerce::postage::indicium::Indicium;
use atomic_commerce::postage::record;
use image::{DynamicImage, Luma};
use serde_json::Value;

use crate::common::post::{Kind, PostWorld};

/// A meter's world with one printed indicium in `indicium.json` and the certificates issued.
fn printed() -> (PostWorld, Signed<Indicium>) {
    let world = PostWorld::new(Kind::Emulated);
    let line = world.meter_ok(&["print", "envelope.json"]);
    std::fs::write(world.path("indicium.json"), &line).unwrap();
    world.ok("postal-authority", &["--db", "pa.db", "issued"], "certificates.ndjson");
    (world, Signed::parse(&line).unwrap())
}

fn render(world: &PostWorld, png: &str, symbology: &str) {
    let out = world.run("indicia-render", &["indicium.json", "-o", png, "--symbology", symbology]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

const ADDRESS: &str = "THE WHITE HOUSE, 1600 Pennsylvania Ave. NW, Washington DC";

/// Runs the sorting station over `pieces` (file, address) on `today`; returns the exit code,
/// the verdicts and the summary.
fn sort(world: &PostWorld, station: &str, pieces: &[(&str, &str)], now: &str) -> (i32, Vec<Value>, Value) {
    let manifest: String =
        pieces.iter().map(|(p, a)| serde_json::json!({"piece": p, "address": a}).to_string() + "\n").collect();
    std::fs::write(world.path("manifest.ndjson"), manifest).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("indicia-verify"))
        .current_dir(world.dir.path())
        .args(["--station", station, "--now", now, "check", "--authority", "pa.id.json"])
        .args(["--certificates", "certificates.ndjson", "--manifest", "manifest.ndjson"])
        .output()
        .unwrap();
    let mut lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary = lines.pop().unwrap_or_else(|| panic!("no summary: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(summary["type"], "postage.sorting-summary");
    (out.status.code().unwrap(), lines.into_iter().map(|v| v["body"].clone()).collect(), summary["body"].clone())
}

const TODAY: &str = "2026-11-25T18:00:00Z";

#[test]
fn both_symbologies_carry_the_compact_record_byte_for_byte() {
    let (world, indicium) = printed();
    let bytes = record::encode(&indicium).unwrap();
    assert!((125..=160).contains(&bytes.len()), "record of {} bytes", bytes.len());
    for (png, symbology, kind) in
        [("p.png", "pdf417", Symbology::Pdf417), ("d.png", "datamatrix", Symbology::Datamatrix)]
    {
        render(&world, png, symbology);
        let image = image::open(world.path(png)).unwrap();
        assert_eq!(barcode::read(&image, &[kind]).unwrap(), bytes, "{symbology}");
    }
    let decoded = record::decode(&bytes).unwrap();
    assert_eq!(decoded.body, *indicium.unverified());
    assert!(record::decode(&bytes[..bytes.len() - 1]).is_err(), "truncated");
    assert!(record::decode(&[bytes.clone(), vec![0]].concat()).is_err(), "trailing byte");
}

#[test]
fn the_station_accepts_a_piece_once_and_catches_the_copy() {
    let (world, _) = printed();
    render(&world, "letter.png", "pdf417");
    std::fs::copy(world.path("letter.png"), world.path("copy.png")).unwrap();
    // The copy's address is read with the destination postal code: it still matches.
    let with_code = format!("{ADDRESS} 20500");
    let (code, verdicts, summary) = sort(&world, "st.db", &[("letter.png", ADDRESS), ("copy.png", &with_code)], TODAY);
    assert_eq!(code, 1);
    assert_eq!(verdicts[0]["accepted"], true, "{verdicts:?}");
    assert_eq!(verdicts[1]["reason"], "duplicate");
    assert_eq!(verdicts[1]["first_seen"]["piece"], "letter.png");
    assert_eq!((summary["pieces"].as_u64(), summary["accepted"].as_u64()), (Some(2), Some(1)));
}

#[test]
fn each_kind_of_bad_piece_is_rejected_for_its_reason() {
    let (world, indicium) = printed();
    render(&world, "letter.png", "datamatrix");
    let mut forged: Value = serde_json::from_slice(&std::fs::read(world.path("indicium.json")).unwrap()).unwrap();
    forged["body"]["postage"] = "7.3".into();
    std::fs::write(world.path("forged.json"), forged.to_string()).unwrap();
    let mut other_key: Value = serde_json::from_slice(&std::fs::read(world.path("indicium.json")).unwrap()).unwrap();
    other_key["signature"]["key_id"] = "0123456789abcdef".into();
    std::fs::write(world.path("other-key.json"), format!("\u{feff}  {other_key}")).unwrap();
    image::GrayImage::from_pixel(200, 100, Luma([255])).save(world.path("blank.png")).unwrap();
    let garbage = barcode::draw(b"not an indicium record", &barcode::Style::default()).unwrap();
    garbage.save(world.path("garbage.png")).unwrap();
    let cases = [
        ("letter.png", "10 Downing Street, London", TODAY, "address-mismatch"),
        ("letter.png", &format!("{ADDRESS} 20501"), TODAY, "address-mismatch"),
        ("letter.png", ADDRESS, "2027-06-01T00:00:00Z", "expired"),
        ("letter.png", ADDRESS, "2026-11-24T23:00:00Z", "post-dated"),
        ("forged.json", ADDRESS, TODAY, "bad-signature"),
        ("other-key.json", ADDRESS, TODAY, "bad-signature"),
        ("blank.png", ADDRESS, TODAY, "undecodable"),
        ("garbage.png", ADDRESS, TODAY, "malformed-record"),
    ];
    for (n, (piece, address, now, reason)) in cases.iter().enumerate() {
        let (code, verdicts, _) = sort(&world, &format!("st{n}.db"), &[(piece, address)], now);
        assert_eq!((code, verdicts[0]["reason"].as_str()), (1, Some(*reason)), "{piece} at {now}: {:?}", verdicts[0]);
    }
    // A meter the pinned authority never certified.
    std::fs::write(world.path("certificates.ndjson"), "").unwrap();
    let (_, verdicts, _) = sort(&world, "st-none.db", &[("letter.png", ADDRESS)], TODAY);
    assert_eq!(verdicts[0]["reason"], "uncertified-meter");
    // A certificate from another authority is refused outright, naming it.
    let other = PostWorld::new(Kind::Emulated);
    other.ok("postal-authority", &["--db", "pa.db", "issued"], "certificates.ndjson");
    std::fs::copy(other.path("certificates.ndjson"), world.path("certificates.ndjson")).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("indicia-verify"))
        .current_dir(world.dir.path())
        .args(["--station", "st-x.db", "check", "--authority", "pa.id.json", "--certificates", "certificates.ndjson"])
        .args(["--manifest", "manifest.ndjson"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not by postal-authority"));
    assert_eq!(verdicts[0]["sequence"], indicium.unverified().sequence);
}

#[test]
fn purge_forgets_only_what_can_no_longer_be_replayed() {
    let (world, _) = printed();
    render(&world, "letter.png", "pdf417");
    let purge = |now: &str| {
        let out = Command::new(assert_cmd::cargo::cargo_bin("indicia-verify"))
            .current_dir(world.dir.path())
            .args(["--station", "st.db", "--now", now, "purge"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(sort(&world, "st.db", &[("letter.png", ADDRESS)], TODAY).0, 0);
    assert_eq!(purge("2027-03-05T00:00:00Z"), "purged 0, kept 1\n", "100 days on: still inside the window");
    assert_eq!(sort(&world, "st.db", &[("letter.png", ADDRESS)], "2027-03-05T00:00:00Z").1[0]["reason"], "duplicate");
    assert_eq!(purge("2027-06-01T00:00:00Z"), "purged 1, kept 0\n", "past the window");
    let (_, verdicts, _) = sort(&world, "st.db", &[("letter.png", ADDRESS)], "2027-06-01T00:00:00Z");
    assert_eq!(verdicts[0]["reason"], "expired", "a purged piece cannot be replayed");
}

#[test]
fn skewed_scans_up_to_ten_degrees_are_read() {
    let (world, indicium) = printed();
    render(&world, "letter.png", "pdf417");
    let bytes = record::encode(&indicium).unwrap();
    let image = image::open(world.path("letter.png")).unwrap().to_luma8();
    let padded = {
        let mut p = image::GrayImage::from_pixel(image.width() + 200, image.height() + 400, Luma([255]));
        image::imageops::replace(&mut p, &image, 100, 200);
        p
    };
    let angles = [-10.0f32, -7.0, -5.0, -3.0, -1.0, 1.0, 3.0, 5.0, 7.0, 10.0];
    let read = angles
        .iter()
        .filter(|a| {
            let turned = imageproc::geometric_transformations::rotate_about_center(
                &padded,
                a.to_radians(),
                imageproc::geometric_transformations::Interpolation::Bilinear,
                Luma([255]),
            );
            barcode::read(&DynamicImage::ImageLuma8(turned), &[Symbology::Pdf417]).is_ok_and(|b| b == bytes)
        })
        .count();
    assert!(read * 100 >= angles.len() * 95, "read {read} of {} skewed scans", angles.len());
}

/// Runs an independent barcode tool in the world's directory; returns what it wrote on stdout.
fn independent(program: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn independent_decoders_read_ours_and_we_read_independent_encoders() {
    let (world, indicium) = printed();
    let dir = world.dir.path();
    let bytes = record::encode(&indicium).unwrap();
    std::fs::write(world.path("record.bin"), &bytes).unwrap();
    // tests/interop/zxing.py drives PyPI zxing-cpp and pdf417gen.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/zxing.py");
    let zxing_py = script.to_str().unwrap();
    for (symbology, format) in [("pdf417", "PDF417"), ("datamatrix", "DataMatrix")] {
        render(&world, "ours.png", symbology);
        independent("python3", &[zxing_py, "decode", symbology, "ours.png", "zxing-cpp.bin"], dir);
        assert_eq!(std::fs::read(world.path("zxing-cpp.bin")).unwrap(), bytes, "PyPI zxing-cpp reads our {symbology}");
        let read = independent("ZXingReader", &["-bytes", "-format", format, "ours.png"], dir);
        assert_eq!(read, bytes, "Debian's ZXingReader reads our {symbology}");
    }
    assert_eq!(independent("dmtxread", &["-N1", "ours.png"], dir), bytes, "libdmtx's dmtxread reads our Data Matrix");

    let encoders: [&[&str]; 6] = [
        &["python3", zxing_py, "encode", "pdf417gen", "record.bin", "foreign.png"],
        &["python3", zxing_py, "encode", "zxing-pdf417", "record.bin", "foreign.png"],
        &["python3", zxing_py, "encode", "zxing-datamatrix", "record.bin", "foreign.png"],
        &["zint", "-b", "55", "--binary", "--secure=5", "--cols=10", "-i", "record.bin", "-o", "foreign.png"],
        &["zint", "-b", "71", "--binary", "--quietzones", "-i", "record.bin", "-o", "foreign.png"],
        &["dmtxwrite", "-e", "8", "-d", "6", "-m", "20", "-o", "foreign.png", "record.bin"],
    ];
    for (n, command) in encoders.into_iter().enumerate() {
        independent(command[0], &command[1..], dir);
        let (code, verdicts, _) = sort(&world, &format!("foreign{n}.db"), &[("foreign.png", ADDRESS)], TODAY);
        assert_eq!((code, verdicts[0]["accepted"].as_bool()), (0, Some(true)), "{command:?}: {:?}", verdicts[0]);
    }
}

#[test]
fn a_directory_of_scans_with_sidecar_addresses_is_sorted() {
    let (world, _) = printed();
    std::fs::create_dir(world.path("scans")).unwrap();
    render(&world, "scans/a-letter.png", "pdf417");
    // A scanner that names its files in capitals: the extension is matched in any case.
    std::fs::copy(world.path("scans/a-letter.png"), world.path("scans/b-copy.PNG")).unwrap();
    for piece in ["scans/a-letter.png", "scans/b-copy.PNG"] {
        std::fs::write(world.path(&format!("{piece}.address")), format!("{ADDRESS}\n")).unwrap();
    }
    let out = Command::new(assert_cmd::cargo::cargo_bin("indicia-verify"))
        .current_dir(world.dir.path())
        .args(["--station", "st.db", "--now", TODAY, "check", "--authority", "pa.id.json"])
        .args(["--certificates", "certificates.ndjson", "scans"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let verdicts: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(verdicts[0]["body"]["accepted"], true, "{verdicts:?}");
    assert_eq!(verdicts[1]["body"]["reason"], "duplicate");
    assert_eq!(verdicts[2]["body"]["pieces"], 2);
    // A scan without its address is a usage problem, named.
    std::fs::remove_file(world.path("scans/b-copy.PNG.address")).unwrap();
    let missing = Command::new(assert_cmd::cargo::cargo_bin("indicia-verify"))
        .current_dir(world.dir.path())
        .args(["--station", "st2.db", "--now", TODAY, "check", "--authority", "pa.id.json"])
        .args(["--certificates", "certificates.ndjson", "scans/b-copy.PNG"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(66));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("b-copy.PNG.address (the address read for scans/b-copy.PNG)")
    );
}
