//! The README's walk-through, run for real: examples/netbill-purchase.sh from an empty directory.

use std::path::Path;
use std::process::Command;

#[test]
fn the_purchase_example_runs_from_an_empty_directory() {
    let work = tempfile::tempdir().unwrap();
    let bin_dir = assert_cmd::cargo::cargo_bin("netbill-settle")
        .parent()
        .unwrap()
        .to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/netbill-purchase.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(work.path())
        .env("BIN_DIR", bin_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let goods = std::fs::read(work.path().join("goods.txt")).unwrap();
    assert_eq!(
        std::fs::read(work.path().join("goods.out")).unwrap(),
        goods,
        "decrypted goods are byte-identical"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("alice 4.93, bookshop 0.07"));
}
