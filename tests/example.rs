//! The examples, run for real from an empty directory: the README's purchase walk-through, the
//! dispute, postage and digital-cash walk-throughs, and the measured atomicity table.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run_example(name: &str) -> (tempfile::TempDir, Output) {
    let work = tempfile::tempdir().unwrap();
    let bin_dir: PathBuf = assert_cmd::cargo::cargo_bin("netbill-settle").parent().unwrap().to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    let out = Command::new("bash").arg(script).arg(work.path()).env("BIN_DIR", bin_dir).output().unwrap();
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    (work, out)
}

fn verdict(work: &Path, case: &str) -> (String, String) {
    let ruling: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join(case).join("ruling.json")).unwrap()).unwrap();
    (ruling["body"]["verdict"].as_str().unwrap().into(), ruling["body"]["upheld"].as_str().unwrap().into())
}

#[test]
fn the_purchase_example_runs_from_an_empty_directory() {
    let (work, out) = run_example("netbill-purchase.sh");
    let goods = std::fs::read(work.path().join("goods.txt")).unwrap();
    assert_eq!(std::fs::read(work.path().join("goods.out")).unwrap(), goods, "decrypted goods are byte-identical");
    assert!(String::from_utf8_lossy(&out.stdout).contains("alice 4.93, bookshop 0.07"));
}

#[test]
fn the_dispute_example_rules_as_it_says() {
    let (work, _) = run_example("dispute.sh");
    let w = work.path();
    assert_eq!(verdict(w, "case-report"), ("not-decidable".into(), "undecided".into()));
    assert_eq!(std::fs::read(w.join("for-a-person.txt")).unwrap(), std::fs::read(w.join("last-year.txt")).unwrap());
    assert_eq!(verdict(w, "case-key"), ("merchant-at-fault".into(), "yes".into()));
    assert_eq!(verdict(w, "case-key-proof"), ("merchant-at-fault".into(), "yes".into()), "from one chunk");
    assert_eq!(verdict(w, "case-damaged"), ("customer-at-fault".into(), "no".into()));
}

#[test]
fn the_digicash_example_shows_both_horns_and_the_recovery() {
    let (_, out) = run_example("digicash-failure.sh");
    let out = String::from_utf8_lossy(&out.stdout);
    for line in [
        "horn 1: accused of double spending: alice",
        "horn 2: without a recovery, 1 stuck in a coin she dare not spend",
        "recovery: order-2 refunded",
        "recovery: order-3 paid",
        "recovery: voucher redeemed into her account: 1",
        "recovery: double spends recorded in all: 1",
        "balances: alice 2, bookshop 1",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn the_atomicity_example_prints_the_measured_table_and_a_replay() {
    let (work, out) = run_example("atomicity-table.sh");
    let out = String::from_utf8_lossy(&out.stdout);
    let netbill = out.lines().find(|l| l.starts_with("NetBill ")).expect("a NetBill row");
    assert_eq!(netbill.matches("holds").count(), 3, "{netbill}");
    assert!(out.contains("trace digicash-keep:lose@1") && out.contains("money atomicity: fails"), "{out}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("table.json")).unwrap()).unwrap();
    assert_eq!(json["type"], "lab.table");
    assert_eq!(json["body"]["rows"].as_array().unwrap().len(), 9);
}

#[test]
fn the_postage_example_provisions_refills_and_prints() {
    let (work, _) = run_example("postage.sh");
    let indicia = std::fs::read_to_string(work.path().join("indicia.ndjson")).unwrap();
    assert_eq!(indicia.lines().count(), 3);
    let last: serde_json::Value = serde_json::from_str(indicia.lines().last().unwrap()).unwrap();
    assert_eq!((last["body"]["sequence"].as_u64(), last["body"]["descending"].as_str()), (Some(3), Some("17.81")));
    let verdicts = std::fs::read_to_string(work.path().join("verdicts.ndjson")).unwrap();
    let bodies: Vec<serde_json::Value> =
        verdicts.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["body"].clone()).collect();
    let accepted: Vec<bool> = bodies[..4].iter().map(|v| v["accepted"].as_bool().unwrap()).collect();
    assert_eq!(accepted, [true, true, true, false], "{verdicts}");
    assert_eq!(bodies[3]["reason"], "duplicate");
}
