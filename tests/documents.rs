//! Documents: every signed field is covered, reformatting is harmless, non-canonical and
//! foreign input is rejected.

use atomic_commerce::ErrorKind;
use atomic_commerce::crypto::keys::Identity;
use atomic_commerce::doc::{Body, Signed};
use atomic_commerce::netbill::recovery;
use serde_json::Value;

use crate::common::World;

/// Changes the last digit or a–f letter of a string (keeping it well-formed where possible).
fn flip(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.iter().rposition(|c| c.is_ascii_digit() || ('a'..='y').contains(c)).expect("something to flip");
    chars[i] = match chars[i] {
        '9' => '0',
        c => char::from(c as u8 + 1),
    };
    chars.into_iter().collect()
}

/// Every leaf of a JSON value, by path.
fn leaves(v: &Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| leaves(v, [path.clone(), vec![k.clone()]].concat(), out)),
        Value::Array(a) => {
            a.iter().enumerate().for_each(|(i, v)| leaves(v, [path.clone(), vec![i.to_string()]].concat(), out))
        }
        _ => out.push(path),
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        v => &mut v[k.as_str()],
    })
}

/// Flips every leaf of `doc` in turn and checks the result is rejected, by the parser or by
/// the signature check.
fn every_flip_is_rejected<B: Body>(doc: &Signed<B>, signer: &Identity) {
    let original: Value = serde_json::from_str(&doc.to_json_line()).unwrap();
    let mut paths = Vec::new();
    leaves(&original, Vec::new(), &mut paths);
    assert!(paths.len() >= 6, "{} has {} leaves", B::TYPE, paths.len());
    for path in paths {
        let mut changed = original.clone();
        let leaf = at(&mut changed, &path);
        *leaf = match leaf {
            Value::String(s) => Value::String(flip(s)),
            Value::Number(n) => Value::from(n.as_u64().unwrap() + 1),
            other => panic!("unexpected leaf {other}"),
        };
        let bytes = serde_json::to_vec(&changed).unwrap();
        let accepted = Signed::<B>::parse(&bytes).is_ok_and(|d| d.verify(signer).is_ok());
        assert!(!accepted, "{}: changing {} went unnoticed", B::TYPE, path.join("."));
    }
    assert!(Signed::<B>::parse(doc.to_json_line().as_bytes()).unwrap().verify(signer).is_ok());
}

#[test]
fn changing_any_signed_field_of_any_document_is_rejected() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let merchant = world.bookshop.identity();
    every_flip_is_rejected(&p.offer, &merchant);
    every_flip_is_rejected(&p.delivery.note, &merchant);
    every_flip_is_rejected(&p.epo, &world.alice.identity());
    every_flip_is_rejected(&p.endorsed, &merchant);
    every_flip_is_rejected(&world.alice.keys.identity_document(), &world.alice.identity());
    every_flip_is_rejected(
        &recovery::request(p.epo.unverified().epo_id.clone(), &world.alice.keys),
        &world.alice.identity(),
    );
    let receipt = world.books().settle(&p.endorsed, &world.server.keys, crate::common::now()).unwrap();
    every_flip_is_rejected(&receipt, &world.server.identity());
}

#[test]
fn reformatting_never_breaks_a_signature() {
    let world = World::new();
    let epo = world.purchase("0.1", b"goods").epo;
    let compact = epo.to_json_line();
    let value: Value = serde_json::from_str(&compact).unwrap();
    // Reordered keys (serde_json sorts them) and other whitespace, as `jq -S .` would write.
    let reordered = serde_json::to_string_pretty(&value).unwrap().replace("  ", "\t");
    let parsed = Signed::<atomic_commerce::netbill::epo::Epo>::parse(reordered.as_bytes()).unwrap();
    assert!(parsed.verify(&world.alice.identity()).is_ok());
    assert_eq!(parsed.digest(), epo.digest(), "the digest is of the canonical form");
}

fn rejected(bytes: &str) -> String {
    let err = Signed::<atomic_commerce::netbill::epo::Epo>::parse(bytes.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    err.to_string()
}

#[test]
fn non_canonical_unknown_duplicate_and_foreign_input_is_malformed() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let good = p.epo.to_json_line();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(&good).unwrap();
        f(&mut v);
        serde_json::to_string(&v).unwrap()
    };
    assert!(rejected(&edit(&|v| v["body"]["price"] = "0.10".into())).contains("canonical"));
    assert!(rejected(&edit(&|v| v["body"]["price"] = "-0.1".into())).contains("negative"));
    assert!(rejected(&edit(&|v| v["body"]["price"] = "99999999999999999999".into())).contains("too large"));
    assert!(rejected(&edit(&|v| v["body"]["price"] = 0.1.into())).contains("invalid netbill.epo"));
    let upper = edit(&|v| {
        let s = v["body"]["offer"].as_str().unwrap().to_uppercase();
        v["body"]["offer"] = s.into()
    });
    assert!(rejected(&upper).contains("lowercase"));
    assert!(rejected(&edit(&|v| v["body"]["memo"] = "hi".into())).contains("unknown field"));
    assert!(rejected(&edit(&|v| v["extra"] = Value::Null)).contains("unknown field"));
    assert!(rejected(&good.replacen("\"body\":{", "\"body\":{\"price\":\"0.2\",", 1)).contains("duplicate field"));
    assert!(rejected(&p.offer.to_json_line()).contains("expected netbill.epo, found netbill.offer"));
    assert!(rejected(&good[..good.len() / 2]).contains("truncated"));
    assert!(rejected("not json").contains("not valid JSON"));
    assert!(rejected(&edit(&|v| v["version"] = 2.into())).contains("version 2"));
}
