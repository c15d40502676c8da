//! The bad-input corpus: the NetBill, cash and postage document readers, given each kind of broken input, answer
//! with one line naming the file and the problem, the documented exit status, and writes
//! nothing (no file, no ledger row, no store change).
//!
//! Each case is a valid document the tool accepts, broken one way: truncated, not JSON, not
//! UTF-8, another document type, an unknown field, a duplicate key, a number too large, an
//! unsupported version, a field of the wrong JSON type, a negative or overflowing amount, a
//! signature by another party, a tampered signature, a signature's batch proof that does not
//! hold or does not parse. A line of a gigabyte is refused after
//! its first 64 MiB.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use atomic_commerce::crypto::keys::PartyKeys;
use atomic_commerce::doc::{Plain, Signed, signed_message};
use atomic_commerce::netbill::recovery;
use atomic_commerce::postage::indicium::Indicium;
use ed25519_dalek::Signer;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::cash::{CashWorld, amount};
use crate::common::post::{Kind, PostWorld};
use crate::common::{NOW, World, now};

/// A tool that reads one document: how to run it on a file, and a document it accepts.
struct Target {
    tool: &'static str,
    args: Vec<&'static str>,
    base: String,
    signed: bool,
}

/// netbill-settle answers a well-formed request it refuses with a signed refusal receipt.
const REFUSES_WITH_A_RECEIPT: &str = "netbill-settle";

/// The broken variants of `base`: (name, bytes, expected exit status).
fn mutations(base: &str, signed: bool, stranger: &PartyKeys) -> Vec<(&'static str, Vec<u8>, i32)> {
    let doc: Value = serde_json::from_str(base).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = doc.clone();
        f(&mut d);
        serde_json::to_vec_pretty(&d).unwrap()
    };
    let mut out = vec![
        ("truncated", base.as_bytes()[..base.len() / 2].to_vec(), 65),
        ("not-json", b"this is not JSON\n".to_vec(), 65),
        ("not-utf8", [&base.as_bytes()[..20], &[0xff, 0xfe], &base.as_bytes()[20..]].concat(), 65),
        (
            "other-type",
            with(&|d| d["type"] = if d["type"] == "netbill.offer" { "cash.payment" } else { "netbill.offer" }.into()),
            65,
        ),
        ("unknown-field", with(&|d| d["body"]["surprise"] = 1.into()), 65),
        ("duplicate-key", base.replacen("\"version\": 1,", "\"version\": 1,\n  \"version\": 1,", 1).into_bytes(), 65),
        ("huge-number", base.replacen("\"version\": 1", "\"version\": 18446744073709551616", 1).into_bytes(), 65),
        ("version-2", with(&|d| d["version"] = 2.into()), 65),
        ("wrong-json-type", with(&|d| d["version"] = "1".into()), 65),
    ];
    let amount_field =
        ["price", "denomination", "amount", "postage"].into_iter().find(|f| base.contains(&format!("\"{f}\": \"")));
    if let Some(field) = amount_field {
        let replaced = |by: &str| {
            let at = base.find(&format!("\"{field}\": \"")).unwrap() + field.len() + 5;
            let end = at + base[at..].find('"').unwrap();
            format!("{}{by}{}", &base[..at], &base[end..]).into_bytes()
        };
        out.push(("negative-amount", replaced("-1"), 65));
        out.push(("overflowing-amount", replaced("99999999999999999999"), 65));
    }
    if signed {
        let resigned = with(&|d| {
            let mut unsigned = d.clone();
            unsigned.as_object_mut().unwrap().remove("signature");
            let jcs = serde_json_canonicalizer::to_vec(&unsigned).unwrap();
            let message = signed_message(d["type"].as_str().unwrap(), &jcs);
            d["signature"]["key_id"] = stranger.key_id().to_string().into();
            d["signature"]["ed25519"] = hex::encode(stranger.signing_key().sign(&message).to_bytes()).into();
        });
        out.push(("signed-by-a-stranger", resigned, 1));
        out.push((
            "tampered-signature",
            with(&|d| {
                let s = d["signature"]["ed25519"].as_str().unwrap().to_string();
                let flipped = if s.starts_with('0') { "1" } else { "0" };
                d["signature"]["ed25519"] = format!("{flipped}{}", &s[1..]).into();
            }),
            1,
        ));
        // A proof that places the document in a batch its signature does not cover.
        let batch = |index: Value| {
            with(&|d| {
                d["signature"]["batch"] =
                    serde_json::json!({"index": index, "path": ["ab".repeat(32)], "root": "cd".repeat(32), "size": 2});
            })
        };
        out.push(("outside-its-batch", batch(0.into()), 1));
        out.push(("batch-index-too-large", batch(4_294_967_296u64.into()), 65));
    }
    out
}

/// Everything the tools could have written in `dir`: files by content, SQLite files by their
/// rows (their -wal and -shm companions aside).
fn snapshot(dir: &Path, inputs: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                out.insert(name, "dir".into());
                stack.push(path);
                continue;
            }
            if name.ends_with("-wal") || name.ends_with("-shm") || inputs.contains(&name) {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let summary =
                if bytes.starts_with(b"SQLite format 3") { rows(&path) } else { hex::encode(Sha256::digest(&bytes)) };
            out.insert(name, summary);
        }
    }
    out
}

fn rows(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut h = Sha256::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {t}")).unwrap();
        let n = stmt.column_count();
        let mut q = stmt.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            for i in 0..n {
                h.update(format!("{:?}", row.get_ref(i).unwrap()));
            }
        }
    }
    hex::encode(h.finalize())
}

/// Runs every mutation of every target in `dir`; returns the number of cases.
fn run_corpus(dir: &Path, targets: &[Target], env: &[(&str, String)]) -> usize {
    let stranger = PartyKeys::generate("stranger").unwrap();
    let mut cases = 0;
    for target in targets {
        for (name, bytes, code) in mutations(&target.base, target.signed, &stranger) {
            let file = format!("{}-{name}.json", target.tool);
            std::fs::write(dir.join(&file), &bytes).unwrap();
            let before = snapshot(dir, std::slice::from_ref(&file));
            let args: Vec<&str> = target.args.iter().map(|a| if *a == "IN" { file.as_str() } else { a }).collect();
            let out = Command::new(assert_cmd::cargo::cargo_bin(target.tool))
                .current_dir(dir)
                .args(&args)
                .env("ATOMIC_COMMERCE_NOW", NOW)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let case = format!("{} {args:?} ({name})", target.tool);
            assert_eq!(out.status.code(), Some(code), "{case}: {stderr}");
            if code == 1 && target.tool == REFUSES_WITH_A_RECEIPT {
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(stdout.contains("\"reason\":\"bad-signature\""), "{case}: a refusal receipt: {stdout}");
            } else {
                assert_eq!(stderr.lines().count(), 1, "{case}: one line: {stderr}");
                assert!(stderr.starts_with(&format!("{}: {file}", target.tool)), "{case}: names the file: {stderr}");
                assert!(out.stdout.is_empty(), "{case}: printed {}", String::from_utf8_lossy(&out.stdout));
            }
            assert_eq!(snapshot(dir, std::slice::from_ref(&file)), before, "{case}: wrote something");
            std::fs::remove_file(dir.join(&file)).unwrap();
            cases += 1;
        }
    }
    cases
}

#[test]
fn every_kind_of_bad_input_to_every_document_reader_is_refused_in_one_line_and_writes_nothing() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let receipt = world.books().settle(&p.endorsed, &world.server.keys, now()).unwrap();
    world.write("goods.enc", &p.delivery.ciphertext);
    let key_request = recovery::request(p.epo.unverified().epo_id.clone(), &world.alice.keys);
    let newcomer = PartyKeys::generate("carol").unwrap().identity_document();
    let netbill = vec![
        Target {
            tool: "netbill-settle",
            args: vec!["--ledger", "netbill.db", "--key", "netbill.key", "IN"],
            base: world.purchase("0.3", b"goods").endorsed.to_json_pretty(),
            signed: true,
        },
        Target {
            tool: "epo-countersign",
            args: vec![
                "--key",
                "bookshop.key",
                "--store",
                "store",
                "--customer",
                "alice.id.json",
                "--server",
                "netbill.id.json",
                "IN",
            ],
            base: world.purchase("0.2", b"goods").epo.to_json_pretty(),
            signed: true,
        },
        Target {
            tool: "merchant-record",
            args: vec!["--store", "store", "--server", "netbill.id.json", "IN"],
            base: receipt.to_json_pretty(),
            signed: true,
        },
        Target {
            tool: "goods-decrypt",
            args: vec![
                "--receipt",
                "IN",
                "--server",
                "netbill.id.json",
                "--ciphertext",
                "goods.enc",
                "-o",
                "goods.out",
            ],
            base: receipt.to_json_pretty(),
            signed: true,
        },
        Target {
            tool: "key-fetch",
            args: vec!["answer", "--ledger", "netbill.db", "IN"],
            base: key_request.to_json_pretty(),
            signed: true,
        },
        Target {
            tool: "netbill-ledger",
            args: vec!["--ledger", "netbill.db", "--key", "netbill.key", "open", "IN"],
            base: newcomer.to_json_pretty(),
            signed: true,
        },
        Target {
            tool: "dispute-judge",
            args: vec!["bundle", "--claim", "not-what-i-ordered", "-o", "case", "IN"],
            base: p.offer.to_json_pretty(),
            signed: false,
        },
    ];
    let mut cases = run_corpus(world.dir.path(), &netbill, &[]);

    let mut cash = CashWorld::new("5");
    cash.withdraw("1");
    let pay_request = cash.offer("order-1", "1");
    let payment = cash.pay(&pay_request);
    cash.accept(&payment);
    let deposit = cash.shop.deposit(&cash.shop_keys, now()).unwrap().unwrap();
    let claim = cash.alice.claim("order-1", None).unwrap().remove(0);
    let withdrawal = cash.alice.request(&cash.alice_keys, amount("1")).unwrap();
    let commitment = cash.bank.commit(&withdrawal, &cash.bank_keys, now()).unwrap();
    let second = cash.alice.request(&cash.alice_keys, amount("0.1")).unwrap();
    let cash_targets = vec![
        Target { tool: "cash-bank", args: vec!["withdraw", "IN"], base: second.to_json_pretty(), signed: true },
        Target { tool: "cash-bank", args: vec!["deposit", "IN"], base: deposit.to_json_pretty(), signed: true },
        Target { tool: "cash-bank", args: vec!["refund", "IN"], base: claim.to_json_pretty(), signed: true },
        Target {
            tool: "cash-merchant",
            args: vec!["accept", "IN"],
            base: Plain(payment.clone()).to_json_pretty(),
            signed: false,
        },
        Target {
            tool: "cash-spend",
            args: vec!["pay", "IN"],
            base: cash.offer("order-2", "1").to_json_pretty(),
            signed: true,
        },
        Target { tool: "cash-withdraw", args: vec!["blind", "IN"], base: commitment.to_json_pretty(), signed: true },
    ];
    let env: Vec<(&str, String)> = [
        ("CASH_BANK_DB", "bank.db"),
        ("CASH_BANK_KEY", "bank.key"),
        ("CASH_WALLET", "alice.wallet"),
        ("CASH_KEY", "alice.key"),
        ("CASH_MERCHANT", "shop.db"),
        ("CASH_MERCHANT_KEY", "shop.key"),
    ]
    .into_iter()
    .map(|(k, f)| (k, cash.path(f).display().to_string()))
    .collect();
    cases += run_corpus(cash.dir.path(), &cash_targets, &env);
    assert!(cases >= 100, "the corpus has {cases} cases");
}

#[test]
fn every_kind_of_bad_input_to_the_postage_and_unwinding_readers_is_refused_in_one_line() {
    let post = PostWorld::new(Kind::Emulated);
    post.voucher("M-0001", "5", "voucher-2.json");
    let read = |name: &str| std::fs::read_to_string(post.path(name)).unwrap();
    let indicium = Signed::<Indicium>::parse(&post.meter_ok(&["print", "envelope.json"])).unwrap().to_json_pretty();
    let postage = vec![
        Target {
            tool: "meter",
            args: vec!["--device", "meter", "refill", "--voucher", "IN"],
            base: read("voucher-2.json"),
            signed: true,
        },
        Target {
            tool: "meter",
            args: vec!["--device", "meter", "install-certificate", "IN"],
            base: read("certificate.json"),
            signed: true,
        },
        Target {
            tool: "postal-authority",
            args: vec!["--db", "pa.db", "--key", "pa.key", "certify", "IN"],
            base: read("request.json"),
            signed: true,
        },
        Target { tool: "indicia-render", args: vec!["IN", "-o", "piece.png"], base: indicium, signed: false },
    ];
    let mut cases = run_corpus(post.dir.path(), &postage, &[]);

    let world = World::new();
    let out = world.tool("netbill-ledger").args(["--ledger", "netbill.db", "unwind"]).output().unwrap();
    let plan = String::from_utf8(out.stdout).unwrap();
    let unwinding = [Target {
        tool: "netbill-ledger",
        args: vec!["--ledger", "netbill.db", "--key", "netbill.key", "unwind", "--apply", "IN"],
        base: plan,
        signed: false,
    }];
    cases += run_corpus(world.dir.path(), &unwinding, &[]);
    assert!(cases >= 40, "the corpus has {cases} cases");
}

#[test]
fn a_gigabyte_line_is_refused_after_its_first_64_mib() {
    let world = World::new();
    for (tool, args) in [
        ("netbill-settle", vec!["--ledger", "netbill.db", "--key", "netbill.key", "-"]),
        ("netbill-ledger", vec!["--ledger", "netbill.db", "--key", "netbill.key", "open", "-"]),
    ] {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin(tool))
            .current_dir(world.dir.path())
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'a'; 1 << 20];
            let _ = stdin.write_all(b"{\"type\": \"netbill.endorsed-epo\", \"padding\": \"");
            let mut sent = 0u64;
            while sent < 1 << 30 && stdin.write_all(&chunk).is_ok() {
                sent += chunk.len() as u64;
            }
            sent
        });
        let out = child.wait_with_output().unwrap();
        let sent = writer.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{tool}: {stderr}");
        assert!(stderr.contains("64 MiB"), "{tool}: {stderr}");
        assert!(sent < 1 << 30, "{tool} stopped reading before the gigabyte ended ({sent} bytes sent)");
    }
}

#[test]
fn an_endless_device_and_a_store_readable_by_others_are_refused() {
    let world = World::new();
    let out = Command::new(assert_cmd::cargo::cargo_bin("netbill-ledger"))
        .current_dir(world.dir.path())
        .args(["--ledger", "netbill.db", "--key", "netbill.key", "open", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 MiB"));

    use std::os::unix::fs::PermissionsExt;
    let cash = CashWorld::new("1");
    std::fs::set_permissions(cash.path("alice.wallet"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("cash-withdraw"))
        .args(["--wallet"])
        .arg(cash.path("alice.wallet"))
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("readable by others"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
