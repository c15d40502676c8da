//! Test vectors in tests/vectors/: a whole purchase's documents, which verify here and in an
//! independent Python verifier (tests/vectors/verify.py), and negative vectors named
//! `malformed--<type>-<what>.json` (rejected by the parser) or `refused--<type>-<what>.json`
//! (well-formed, rejected by the signature check). Regenerate with
//! `UPDATE_VECTORS=1 cargo test --test tests vectors::positive`.

use std::path::{Path, PathBuf};

use atomic_commerce::ErrorKind;
use atomic_commerce::crypto::keys::Identity;
use atomic_commerce::doc::{Body, Signed};
use atomic_commerce::netbill::delivery::DeliveryNote;
use atomic_commerce::netbill::epo::{EndorsedEpo, Epo};
use atomic_commerce::netbill::offer::Offer;
use atomic_commerce::netbill::receipt::Receipt;
use atomic_commerce::netbill::recovery::{self, KeyRequest};
use serde_json::Value;

use crate::common::World;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("tests/vectors/{name}: {e}"))
}

fn identity(name: &str) -> Identity {
    Identity::parse(&read(&format!("{name}.id.json"))).unwrap()
}

/// Parses and verifies a vector as document type `B` signed by `signer`.
fn check<B: Body>(bytes: &[u8], signer: &Identity) -> Result<(), ErrorKind> {
    let doc = Signed::<B>::parse(bytes).map_err(|e| e.kind())?;
    doc.verify(signer).map(|_| ()).map_err(|e| e.kind())
}

fn check_as(doc_type: &str, bytes: &[u8]) -> Result<(), ErrorKind> {
    match doc_type {
        "offer" => check::<Offer>(bytes, &identity("bookshop")),
        "delivery" => check::<DeliveryNote>(bytes, &identity("bookshop")),
        "epo" => check::<Epo>(bytes, &identity("alice")),
        "endorsed-epo" => check::<EndorsedEpo>(bytes, &identity("bookshop")),
        "receipt" => check::<Receipt>(bytes, &identity("netbill")),
        "key-request" => check::<KeyRequest>(bytes, &identity("alice")),
        other => panic!("no vector type {other}"),
    }
}

#[test]
fn positive_vectors_verify() {
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        generate();
    }
    for t in ["offer", "delivery", "epo", "endorsed-epo", "receipt", "key-request"] {
        assert_eq!(check_as(t, &read(&format!("{t}.json"))), Ok(()), "{t}.json");
    }
    let receipt = Signed::<Receipt>::parse(&read("receipt.json")).unwrap();
    let key = receipt.unverified().key.unwrap();
    let goods =
        atomic_commerce::crypto::goods::decrypt_bytes(&key, receipt.unverified().epo_id.as_str(), &read("goods.enc"))
            .unwrap();
    assert_eq!(goods, read("goods.txt"));
}

#[test]
fn negative_vectors_are_rejected_as_named() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some((expected, rest)) = name.split_once("--") else {
            continue;
        };
        let doc_type = ["endorsed-epo", "key-request", "receipt", "offer", "delivery", "epo"]
            .into_iter()
            .find(|t| rest.starts_with(&format!("{t}-")))
            .unwrap_or_else(|| panic!("{name}: unknown document type"));
        let want = match expected {
            "malformed" => ErrorKind::Malformed,
            "refused" => ErrorKind::Refused,
            other => panic!("{name}: unknown expectation {other}"),
        };
        assert_eq!(check_as(doc_type, &read(&name)), Err(want), "{name}");
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} negative vectors");
}

#[test]
fn an_independent_python_verifier_accepts_the_vectors() {
    let out = std::process::Command::new("python3")
        .arg(dir().join("verify.py"))
        .arg(dir())
        .output()
        .expect("python3 is needed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("decrypted goods match"), "{stdout}");
}

fn generate() {
    let world = World::new();
    // Three chunks and a bit, so that the vectors show the chunk layout and the audit paths.
    let goods = "How to Make a Million Dollars Fast on the Internet\n".repeat(250);
    let goods = goods.as_bytes();
    let p = world.purchase("0.07", goods);
    let receipt = world.books().settle(&p.endorsed, &world.server.keys, crate::common::now()).unwrap();
    let request = recovery::request(p.epo.unverified().epo_id.clone(), &world.alice.keys);
    let out = dir();
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json" || e == "enc" || e == "txt") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let write = |name: &str, bytes: &[u8]| std::fs::write(out.join(name), bytes).unwrap();
    for party in ["alice", "bookshop", "netbill"] {
        write(&format!("{party}.id.json"), &std::fs::read(world.path(&format!("{party}.id.json"))).unwrap());
    }
    write("offer.json", p.offer.to_json_pretty().as_bytes());
    write("delivery.json", p.delivery.note.to_json_pretty().as_bytes());
    write("epo.json", p.epo.to_json_pretty().as_bytes());
    write("endorsed-epo.json", p.endorsed.to_json_pretty().as_bytes());
    write("receipt.json", receipt.to_json_pretty().as_bytes());
    write("key-request.json", request.to_json_pretty().as_bytes());
    write("goods.txt", goods);
    write("goods.enc", &p.delivery.ciphertext);

    let edit = |doc: &str, f: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(doc).unwrap();
        f(&mut v);
        serde_json::to_string_pretty(&v).unwrap() + "\n"
    };
    let epo = p.epo.to_json_pretty();
    let offer = p.offer.to_json_pretty();
    let receipt_json = receipt.to_json_pretty();
    let negatives: Vec<(&str, String)> = vec![
        ("malformed--epo-amount-not-canonical.json", edit(&epo, &|v| v["body"]["price"] = "0.070".into())),
        ("malformed--epo-negative-price.json", edit(&epo, &|v| v["body"]["price"] = "-0.07".into())),
        ("malformed--epo-number-price.json", edit(&epo, &|v| v["body"]["price"] = 0.07.into())),
        ("malformed--epo-overflowing-price.json", edit(&epo, &|v| v["body"]["price"] = "18446744073709.551616".into())),
        (
            "malformed--epo-uppercase-hex.json",
            edit(&epo, &|v| {
                let upper = v["body"]["ciphertext_root"].as_str().unwrap().to_uppercase();
                v["body"]["ciphertext_root"] = upper.into()
            }),
        ),
        ("malformed--epo-unknown-field.json", edit(&epo, &|v| v["body"]["discount"] = "0.01".into())),
        ("malformed--epo-duplicate-field.json", epo.replacen("\"price\":", "\"price\": \"0.01\",\n    \"price\":", 1)),
        ("malformed--epo-bad-time.json", edit(&epo, &|v| v["body"]["expires_at"] = "2026-11-25T13:00:00+00:00".into())),
        (
            "malformed--epo-no-signature.json",
            edit(&epo, &|v| {
                v.as_object_mut().unwrap().remove("signature");
            }),
        ),
        ("malformed--epo-truncated.json", epo[..epo.len() / 2].to_string()),
        ("malformed--offer-explicit-null.json", edit(&offer, &|v| v["body"]["price_group"] = Value::Null)),
        ("malformed--receipt-wrong-type.json", offer.clone()),
        ("malformed--receipt-version-2.json", edit(&receipt_json, &|v| v["version"] = 2.into())),
        ("refused--receipt-changed-price.json", edit(&receipt_json, &|v| v["body"]["price"] = "0.7".into())),
        ("refused--receipt-changed-server-time.json", {
            edit(&receipt_json, &|v| v["body"]["server_time"] = "2026-11-25T12:00:01Z".into())
        }),
        ("malformed--receipt-paid-without-key.json", {
            edit(&receipt_json, &|v| {
                let body = v["body"].as_object_mut().unwrap();
                body.remove("key");
            })
        }),
        ("malformed--receipt-refused-with-key.json", {
            edit(&receipt_json, &|v| {
                v["body"]["result"] = "refused".into();
                v["body"]["reason"] = "insufficient-funds".into();
            })
        }),
        ("malformed--receipt-key-not-committed.json", {
            edit(&receipt_json, &|v| {
                let k = v["body"]["key"].as_str().unwrap();
                let flipped = if k.starts_with('0') { "1" } else { "0" };
                v["body"]["key"] = format!("{flipped}{}", &k[1..]).into()
            })
        }),
        ("refused--receipt-signed-by-merchant.json", {
            Signed::sign(receipt.unverified().clone(), &world.bookshop.keys).to_json_pretty()
        }),
        (
            "refused--epo-changed-epo-id.json",
            edit(&epo, &|v| {
                let id = v["body"]["epo_id"].as_str().unwrap().to_string();
                let last = if id.ends_with('0') { '1' } else { '0' };
                v["body"]["epo_id"] = format!("{}{last}", &id[..id.len() - 1]).into()
            }),
        ),
        ("refused--offer-changed-customer.json", edit(&offer, &|v| v["body"]["customer"] = "0000000000000000".into())),
    ];
    for (name, text) in negatives {
        write(name, text.as_bytes());
    }
}
