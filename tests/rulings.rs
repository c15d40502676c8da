//! tests/rulings/: dispute bundles assembled by `dispute-judge bundle` from the documents the
//! tools produced (honest parties, and parties who cheat), each with the ruling it must get.
//! `scripts/regenerate-rulings` rebuilds them all; the suite fails if any ruling changes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use atomic_commerce::crypto::goods;
use atomic_commerce::crypto::keys::PartyKeys;
use atomic_commerce::doc::{Hex, Signed};
use atomic_commerce::ledger::SqliteLedger;
use atomic_commerce::ledger::sqlite::External;
use atomic_commerce::netbill::delivery::{Delivery, DeliveryNote, EpoId, key_commitment};
use atomic_commerce::netbill::offer::Offer;
use atomic_commerce::netbill::receipt::Receipt;
use serde_json::Value;

use crate::common::{Pieces, World, now};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rulings")
}

fn judge(args: &[&str]) -> std::process::Output {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("dispute-judge")).args(args).output().unwrap()
}

#[test]
fn every_bundle_gets_its_expected_ruling() {
    if std::env::var_os("UPDATE_RULINGS").is_some() {
        generate();
    }
    let mut bundles: Vec<PathBuf> =
        std::fs::read_dir(dir()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    bundles.sort();
    assert!(bundles.len() >= 25, "only {} bundles", bundles.len());
    let mut verdicts = BTreeSet::new();
    for bundle in &bundles {
        let name = bundle.file_name().unwrap().to_string_lossy();
        let out = judge(&["rule", bundle.to_str().unwrap()]);
        let expected = std::fs::read_to_string(bundle.join("expected-ruling.json")).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{name}: the ruling changed");
        let ruling: Value = serde_json::from_str(&expected).unwrap();
        let upheld = ruling["body"]["upheld"] == "yes";
        assert_eq!(out.status.code(), Some(if upheld { 0 } else { 1 }), "{name}: exit status");
        let verdict = ruling["body"]["verdict"].as_str().unwrap().to_string();
        assert!(name.starts_with(&verdict), "{name} is named for its verdict, got {verdict}");
        verdicts.insert(verdict);
    }
    let all = [
        "customer-at-fault",
        "delivered-as-agreed",
        "evidence-rejected",
        "insufficient-evidence",
        "merchant-at-fault",
        "no-sale",
        "not-decidable",
        "server-at-fault",
    ];
    assert_eq!(verdicts.iter().map(String::as_str).collect::<Vec<_>>(), all, "every verdict is covered");
}

#[test]
fn reformatted_and_reordered_inputs_give_the_same_bundle_and_ruling() {
    let world = World::new();
    let case = Case::paid(&world, b"goods\n");
    let files = case.files(&world);
    let mut reversed = files.clone();
    reversed.reverse();
    // The same documents through jq: keys sorted, compacted, tab-indented.
    let through_jq = |flag: &str| -> Vec<PathBuf> {
        files
            .iter()
            .map(|f| {
                if f.extension().is_none_or(|x| x != "json") {
                    return f.clone(); // the ciphertext
                }
                let out = std::process::Command::new("jq").args([flag, "."]).arg(f).output().expect("jq");
                assert!(out.status.success(), "jq {flag} {}", f.display());
                let to = f.with_extension(format!("jq{flag}.json"));
                std::fs::write(&to, out.stdout).unwrap();
                to
            })
            .collect()
    };
    let bundle = |files: &[PathBuf], name: &str| {
        let out = world.path(name);
        let mut args = vec!["bundle", "--claim", "key-does-not-decrypt", "-o", out.to_str().unwrap()];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        assert!(judge(&args).status.success());
        let ruling = judge(&["rule", out.to_str().unwrap()]).stdout;
        (std::fs::read(out.join("evidence.json")).unwrap(), ruling)
    };
    let original = bundle(&files, "a");
    assert_eq!(bundle(&reversed, "b"), original);
    for (n, flag) in ["-S", "-c", "--tab"].into_iter().enumerate() {
        assert_eq!(bundle(&through_jq(flag), &format!("jq{n}")), original, "jq {flag}");
    }
    // And the clock plays no part.
    let later = std::process::Command::new(assert_cmd::cargo::cargo_bin("dispute-judge"))
        .args(["rule", world.path("a").to_str().unwrap(), "--now", "2030-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(later.stdout, original.1);
}

#[test]
fn a_signed_ruling_verifies_with_the_judges_key() {
    let world = World::new();
    let case = Case::paid(&world, b"goods\n");
    let out = world.path("case");
    let mut args = vec![
        "bundle".to_string(),
        "--claim".into(),
        "not-what-i-ordered".into(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(case.files(&world).iter().map(|f| f.display().to_string()));
    assert!(judge(&args.iter().map(String::as_str).collect::<Vec<_>>()).status.success());
    let judge_keys = PartyKeys::generate("judge").unwrap();
    atomic_commerce::fsio::write_secret(&world.path("judge.key"), judge_keys.to_file().as_bytes()).unwrap();
    let first = judge(&["rule", out.to_str().unwrap(), "--key", world.path("judge.key").to_str().unwrap()]);
    let second = judge(&["rule", out.to_str().unwrap(), "--key", world.path("judge.key").to_str().unwrap()]);
    assert_eq!(first.stdout, second.stdout, "byte-identical, signature included");
    let ruling = Signed::<atomic_commerce::netbill::judge::Ruling>::parse(&first.stdout).unwrap();
    assert!(ruling.verify(&judge_keys.identity()).is_ok());
}

/// A change a cheating party makes to a document's JSON.
type Edit = fn(&mut Value);

/// The documents of one dispute, as the parties hold them.
struct Case {
    pieces: Pieces,
    receipts: Vec<Signed<Receipt>>,
    ciphertext: Option<Vec<u8>>,
    /// Drop the merchant's endorsed EPO (a customer's own bundle).
    customer_side: bool,
    /// Documents the party does not have (file names).
    omit: Vec<&'static str>,
    /// Edits to the documents' JSON (file name, edit).
    edits: Vec<(&'static str, Edit)>,
    /// Extra documents to add (file name, JSON).
    extra: Vec<(String, String)>,
}

impl Case {
    fn new(pieces: Pieces, receipts: Vec<Signed<Receipt>>) -> Case {
        let ciphertext = Some(pieces.delivery.ciphertext.clone());
        Case {
            pieces,
            receipts,
            ciphertext,
            customer_side: false,
            omit: Vec::new(),
            edits: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// An honest purchase, settled by an honest server.
    fn paid(world: &World, goods: &[u8]) -> Case {
        let pieces = world.purchase("0.07", goods);
        let receipt = world.books().settle(&pieces.endorsed, &world.server.keys, now()).unwrap();
        Case::new(pieces, vec![receipt])
    }

    /// Writes the documents into the world's directory and returns their paths.
    fn files(&self, world: &World) -> Vec<PathBuf> {
        let mut docs: Vec<(String, String)> = vec![
            ("offer.json".into(), self.pieces.offer.to_json_pretty()),
            ("delivery.json".into(), self.pieces.delivery.note.to_json_pretty()),
            ("epo.json".into(), self.pieces.epo.to_json_pretty()),
        ];
        if !self.customer_side {
            docs.push(("endorsed.json".into(), self.pieces.endorsed.to_json_pretty()));
        }
        for (n, r) in self.receipts.iter().enumerate() {
            docs.push((format!("receipt-{n}.json"), r.to_json_pretty()));
        }
        docs.extend(self.extra.iter().cloned());
        let mut paths: Vec<PathBuf> =
            ["alice", "bookshop", "netbill"].iter().map(|p| world.path(&format!("{p}.id.json"))).collect();
        for (name, mut text) in docs.into_iter().filter(|(name, _)| !self.omit.contains(&name.as_str())) {
            for (target, edit) in &self.edits {
                if *target == name {
                    let mut v: Value = serde_json::from_str(&text).unwrap();
                    edit(&mut v);
                    text = serde_json::to_string_pretty(&v).unwrap();
                }
            }
            paths.push(world.write(&name, text));
        }
        if let Some(c) = &self.ciphertext {
            paths.push(world.write("goods.enc", c));
        }
        paths
    }
}

/// Signs a receipt as the server, after `edit` (a corrupt server's receipt).
fn corrupt(world: &World, honest: &Signed<Receipt>, edit: impl FnOnce(&mut Receipt)) -> Signed<Receipt> {
    let mut body = honest.unverified().clone();
    edit(&mut body);
    Signed::sign(body, &world.server.keys)
}

/// A second ledger under the same server key: the server saying two things about one EPO.
fn second_ledger(world: &World, deposit: &str) -> SqliteLedger {
    let path = world.path(&format!("other-{deposit}.db"));
    let server = &world.server.keys;
    SqliteLedger::create(&path, server, now()).unwrap();
    let mut books = SqliteLedger::open(&path).unwrap();
    books.open_account(&world.alice.identity(), server, now()).unwrap();
    books.open_account(&world.bookshop.identity(), server, now()).unwrap();
    if deposit != "0" {
        books.external("alice", External::Deposit, deposit.parse().unwrap(), None, server, now()).unwrap();
    }
    books
}

/// A merchant who delivers other goods than the offer promised, signing his own note.
fn wrong_file(world: &World) -> Pieces {
    let offer = world.offer("0.07", Some(b"the paper you ordered\n"));
    let key = goods::fresh_key();
    let epo_id = EpoId::new(world.bookshop.keys.key_id(), now());
    let (ciphertext, made) = goods::encrypt_bytes(&key, epo_id.as_str(), b"an unrelated pamphlet\n");
    let key_commitment = key_commitment(&epo_id, &key);
    let note = DeliveryNote { epo_id, offer: offer.digest(), ciphertext_root: made.ciphertext_root, key_commitment };
    let delivery = Delivery { note: Signed::sign(note, &world.bookshop.keys), ciphertext, key };
    purchase_of(world, offer, delivery)
}

/// The customer's EPO for `delivery` and the merchant's countersignature.
fn purchase_of(world: &World, offer: Signed<Offer>, delivery: Delivery) -> Pieces {
    let expires = now().plus(jiff::SignedDuration::from_hours(1)).unwrap();
    let epo = world.sign(&offer, &delivery.note, &delivery.ciphertext, expires);
    let endorsed = world.countersign(&epo, &offer, &delivery);
    Pieces { offer, delivery, epo, endorsed }
}

/// A merchant who commits to, and releases, a key that is not the goods key.
fn bogus_key(world: &World) -> Pieces {
    let offer = world.offer("0.07", Some(b"the goods\n"));
    let key = goods::fresh_key();
    let epo_id = EpoId::new(world.bookshop.keys.key_id(), now());
    let (ciphertext, made) = goods::encrypt_bytes(&key, epo_id.as_str(), b"the goods\n");
    let bogus = goods::fresh_key();
    let key_commitment = key_commitment(&epo_id, &bogus);
    let note = DeliveryNote { epo_id, offer: offer.digest(), ciphertext_root: made.ciphertext_root, key_commitment };
    let delivery = Delivery { note: Signed::sign(note, &world.bookshop.keys), ciphertext, key: bogus };
    purchase_of(world, offer, delivery)
}

fn settle(world: &World, p: &Pieces) -> Signed<Receipt> {
    world.books().settle(&p.endorsed, &world.server.keys, now()).unwrap()
}

fn generate() {
    let out = dir();
    if out.exists() {
        std::fs::remove_dir_all(&out).unwrap();
    }
    std::fs::create_dir_all(&out).unwrap();
    let goods = b"How to Make a Million Dollars Fast on the Internet\n";
    let mut cases: Vec<(&str, &str, Case, World)> = Vec::new();
    let mut add = |name: &'static str, claim: &'static str, build: &dyn Fn(&World) -> Case| {
        let world = World::new();
        let case = build(&world);
        cases.push((name, claim, case, world));
    };

    // Honest purchases.
    add("delivered-as-agreed--goods-as-promised", "not-what-i-ordered", &|w| Case::paid(w, goods));
    add("delivered-as-agreed--key-decrypts", "key-does-not-decrypt", &|w| Case::paid(w, goods));
    add("delivered-as-agreed--key-in-receipt", "paid-but-never-got-key", &|w| {
        let mut c = Case::paid(w, goods);
        c.ciphertext = None;
        c
    });
    add("delivered-as-agreed--price-as-signed", "charged-more-than-agreed", &|w| Case::paid(w, goods));
    add("delivered-as-agreed--accepted-in-time", "charged-after-expiry", &|w| Case::paid(w, goods));
    add("delivered-as-agreed--same-ciphertext", "acknowledged-other-goods", &|w| Case::paid(w, goods));
    add("delivered-as-agreed--refusal-of-a-forgery", "told-refused-but-charged", &|w| {
        let mut c = Case::paid(w, goods);
        let forged = Signed::sign(c.pieces.endorsed.unverified().clone(), &PartyKeys::generate("bookshop").unwrap());
        c.receipts.push(w.books().settle(&forged, &w.server.keys, now()).unwrap());
        c
    });
    add("not-decidable--no-digest-promised", "not-what-i-ordered", &|w| {
        let expires = now().plus(jiff::SignedDuration::from_hours(1)).unwrap();
        let p = w.purchase_of(w.offer("0.07", None), goods, expires);
        let r = settle(w, &p);
        Case::new(p, vec![r])
    });
    // The customer is at fault.
    add("customer-at-fault--tampered-ciphertext", "key-does-not-decrypt", &|w| {
        let mut c = Case::paid(w, goods);
        c.ciphertext.as_mut().unwrap()[30] ^= 0x20;
        c
    });
    add("customer-at-fault--acknowledged-other-goods", "acknowledged-other-goods", &|w| {
        let mut c = Case::paid(w, goods);
        let other = w.purchase("0.07", b"other goods\n");
        c.ciphertext = Some(other.delivery.ciphertext);
        c
    });
    // The merchant is at fault.
    add("merchant-at-fault--wrong-file", "not-what-i-ordered", &|w| {
        let p = wrong_file(w);
        let r = settle(w, &p);
        Case::new(p, vec![r])
    });
    add("merchant-at-fault--bogus-key", "key-does-not-decrypt", &|w| {
        let p = bogus_key(w);
        let r = settle(w, &p);
        Case::new(p, vec![r])
    });
    add("merchant-at-fault--bogus-key-customer-side", "paid-but-never-got-key", &|w| {
        let p = bogus_key(w);
        let r = settle(w, &p);
        let mut c = Case::new(p, vec![r]);
        c.customer_side = true;
        c
    });
    // The server is at fault.
    add("server-at-fault--told-refused-but-charged", "told-refused-but-charged", &|w| {
        let mut c = Case::paid(w, goods);
        let refusal = second_ledger(w, "0").settle(&c.pieces.endorsed, &w.server.keys, now()).unwrap();
        c.receipts.push(refusal);
        c
    });
    add("server-at-fault--charged-twice", "charged-more-than-agreed", &|w| {
        let mut c = Case::paid(w, goods);
        let later = now().plus(jiff::SignedDuration::from_secs(60)).unwrap();
        c.receipts.push(second_ledger(w, "5").settle(&c.pieces.endorsed, &w.server.keys, later).unwrap());
        c
    });
    add("server-at-fault--charged-more", "charged-more-than-agreed", &|w| {
        let mut c = Case::paid(w, goods);
        c.receipts = vec![corrupt(w, &c.receipts[0], |r| r.price = "0.7".parse().unwrap())];
        c
    });
    add("server-at-fault--accepted-after-expiry", "charged-after-expiry", &|w| {
        let mut c = Case::paid(w, goods);
        let late = c.pieces.epo.unverified().expires_at.plus(jiff::SignedDuration::from_secs(1)).unwrap();
        c.receipts = vec![corrupt(w, &c.receipts[0], |r| r.server_time = late)];
        c
    });
    add("server-at-fault--key-not-the-merchants", "key-does-not-decrypt", &|w| {
        let mut c = Case::paid(w, goods);
        c.receipts = vec![corrupt(w, &c.receipts[0], |r| r.key = Some(Hex([7; 32])))];
        c
    });
    add("server-at-fault--key-not-the-merchants--merchants-claim", "server-stored-another-key", &|w| {
        let mut c = Case::paid(w, goods);
        c.receipts = vec![corrupt(w, &c.receipts[0], |r| r.key = Some(Hex([7; 32])))];
        c
    });
    add("delivered-as-agreed--key-as-sealed", "server-stored-another-key", &|w| Case::paid(w, goods));
    add("server-at-fault--key-and-commitment-not-the-merchants", "key-does-not-decrypt", &|w| {
        let mut c = Case::paid(w, goods);
        c.receipts = vec![corrupt(w, &c.receipts[0], |r| {
            r.key = Some(Hex([7; 32]));
            r.key_commitment = key_commitment(&r.epo_id, &Hex([7; 32]));
        })];
        c
    });
    add("server-at-fault--receipt-names-another-commitment", "key-does-not-decrypt", &|w| {
        let mut c = Case::paid(w, goods);
        c.receipts = vec![corrupt(w, &c.receipts[0], |r| r.key_commitment = Hex([7; 32]))];
        c
    });
    add("server-at-fault--paid-other-terms-than-offered", "charged-more-than-agreed", &|w| {
        let mut c = Case::paid(w, goods);
        let mut epo = c.pieces.epo.unverified().clone();
        epo.price = "0.01".parse().unwrap();
        c.pieces.epo = Signed::sign(epo, &w.alice.keys);
        let mut endorsed = c.pieces.endorsed.unverified().clone();
        endorsed.epo = c.pieces.epo.clone();
        c.pieces.endorsed = Signed::sign(endorsed, &w.bookshop.keys);
        let (epo_digest, request) = (c.pieces.epo.digest(), c.pieces.endorsed.digest());
        c.receipts = vec![corrupt(w, &c.receipts[0], |r| {
            r.price = "0.01".parse().unwrap();
            r.epo = epo_digest;
            r.request = request;
        })];
        c
    });
    // No sale.
    add("no-sale--no-receipt", "paid-but-never-got-key", &|w| {
        let p = w.purchase("0.07", goods);
        Case::new(p, Vec::new())
    });
    add("no-sale--refused-for-funds", "told-refused-but-charged", &|w| {
        let p = w.purchase("9", goods);
        let r = settle(w, &p);
        Case::new(p, vec![r])
    });
    // Forged pieces.
    fn raise_price(v: &mut Value) {
        v["body"]["price"] = "0.01".into();
    }
    for (name, file) in [
        ("evidence-rejected--forged-epo", "epo.json"),
        ("evidence-rejected--forged-offer", "offer.json"),
        ("evidence-rejected--forged-receipt", "receipt-0.json"),
    ] {
        add(name, "charged-more-than-agreed", &move |w| {
            let mut c = Case::paid(w, goods);
            c.customer_side = true;
            c.edits.push((file, raise_price));
            c
        });
    }
    add("evidence-rejected--forged-delivery-note", "acknowledged-other-goods", &|w| {
        let mut c = Case::paid(w, goods);
        c.edits.push(("delivery.json", |v| v["body"]["ciphertext_root"] = Hex([1u8; 32]).to_string().into()));
        c
    });
    add("evidence-rejected--forged-endorsement", "acknowledged-other-goods", &|w| {
        let mut c = Case::paid(w, goods);
        c.edits.push(("endorsed.json", |v| v["body"]["sealed_key"]["nonce"] = Hex([9u8; 12]).to_string().into()));
        c
    });
    add("evidence-rejected--forged-identity", "key-does-not-decrypt", &|w| {
        let mut c = Case::paid(w, goods);
        let mut identity: Value = serde_json::from_slice(&std::fs::read(w.path("bookshop.id.json")).unwrap()).unwrap();
        identity["body"]["name"] = "bookshop-inc".into();
        c.extra.push(("bookshop-renamed.id.json".into(), identity.to_string()));
        c
    });
    // Inconsistent pieces.
    add("evidence-rejected--two-epos", "charged-more-than-agreed", &|w| {
        let mut c = Case::paid(w, goods);
        let expires = now().plus(jiff::SignedDuration::from_mins(5)).unwrap();
        let p = &c.pieces;
        let second = w.sign(&p.offer, &p.delivery.note, &p.delivery.ciphertext, expires);
        c.extra.push(("epo-2.json".into(), second.to_json_pretty()));
        c
    });
    add("evidence-rejected--receipt-for-another-epo", "paid-but-never-got-key", &|w| {
        let mut c = Case::paid(w, goods);
        let other = w.purchase("0.07", goods);
        c.receipts = vec![settle(w, &other)];
        c
    });
    add("evidence-rejected--offer-not-accepted", "not-what-i-ordered", &|w| {
        let mut c = Case::paid(w, goods);
        c.extra.push(("offer-2.json".into(), w.offer("0.07", Some(b"something else\n")).to_json_pretty()));
        c
    });
    // Missing pieces.
    add("insufficient-evidence--no-ciphertext", "key-does-not-decrypt", &|w| {
        let mut c = Case::paid(w, goods);
        c.ciphertext = None;
        c
    });
    add("insufficient-evidence--no-offer", "not-what-i-ordered", &|w| {
        let mut c = Case::paid(w, goods);
        c.customer_side = true;
        c.omit.push("offer.json");
        c
    });
    add("insufficient-evidence--no-epo", "paid-but-never-got-key", &|w| {
        let mut c = Case::paid(w, goods);
        c.customer_side = true;
        c.omit.push("epo.json");
        c
    });

    for (name, claim, case, world) in &cases {
        let files = case.files(world);
        let bundle = out.join(name);
        let mut args = vec!["bundle", "--claim", claim, "-o", bundle.to_str().unwrap()];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let made = judge(&args);
        assert!(made.status.success(), "{name}: {}", String::from_utf8_lossy(&made.stderr));
        let ruling = bundle.join("expected-ruling.json");
        judge(&["rule", bundle.to_str().unwrap(), "--ruling", ruling.to_str().unwrap()]);
    }
    // The same evidence reformatted (as `jq -S .` would print it) must get the same ruling.
    for name in [
        "merchant-at-fault--wrong-file",
        "server-at-fault--told-refused-but-charged",
        "customer-at-fault--tampered-ciphertext",
    ] {
        let from = out.join(name);
        let to = out.join(format!("{name}--reformatted"));
        std::fs::create_dir(&to).unwrap();
        let evidence: Value = serde_json::from_slice(&std::fs::read(from.join("evidence.json")).unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&evidence).unwrap().replace("  ", "    ");
        std::fs::write(to.join("evidence.json"), text).unwrap();
        for file in ["ciphertext", "expected-ruling.json"] {
            std::fs::copy(from.join(file), to.join(file)).unwrap();
        }
    }
}

#[test]
fn a_pinned_server_rejects_evidence_naming_another() {
    let world = World::new();
    let elsewhere = World::new();
    let case = Case::paid(&elsewhere, b"goods\n");
    let out = world.path("case");
    let mut args = vec![
        "bundle".to_string(),
        "--claim".into(),
        "charged-more-than-agreed".into(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(case.files(&elsewhere).iter().map(|f| f.display().to_string()));
    assert!(judge(&args.iter().map(String::as_str).collect::<Vec<_>>()).status.success());
    let pinned = world.path("netbill.id.json");
    let ruled = judge(&["rule", out.to_str().unwrap(), "--server", pinned.to_str().unwrap()]);
    let ruling: Value = serde_json::from_slice(&ruled.stdout).unwrap();
    assert_eq!(ruling["body"]["verdict"], "evidence-rejected");
    assert_eq!(ruling["body"]["summary"], "the EPO names a server the judge does not trust");
    let trusted =
        judge(&["rule", out.to_str().unwrap(), "--server", elsewhere.path("netbill.id.json").to_str().unwrap()]);
    let ruling: Value = serde_json::from_slice(&trusted.stdout).unwrap();
    assert_eq!(ruling["body"]["verdict"], "delivered-as-agreed");
}

#[test]
fn a_piece_with_a_duplicated_field_is_not_bundled() {
    let world = World::new();
    let case = Case::paid(&world, b"goods\n");
    let epo = case.pieces.epo.to_json_pretty().replacen("\"price\":", "\"price\": \"9\",\n    \"price\":", 1);
    let file = world.write("epo-dup.json", epo);
    let out = world.path("case");
    let made =
        judge(&["bundle", "--claim", "charged-more-than-agreed", "-o", out.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(made.status.code(), Some(65));
    assert!(
        String::from_utf8_lossy(&made.stderr).contains("duplicate field"),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(!out.exists());
}
