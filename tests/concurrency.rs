//! Settlement at scale on both backends: a stream settled on PostgreSQL gives the very receipts
//! it gives on SQLite, and several settlers on one ledger, racing over overlapping requests on
//! one customer account, settle each EPO once, exactly the affordable ones, never overdrawing.

use std::path::Path;
use std::process::{Command, Stdio};

use atomic_commerce::doc::Signed;
use atomic_commerce::ledger::Ledger;
use atomic_commerce::netbill::receipt::{Outcome, Receipt};

use crate::common::pg::PgDb;
use crate::common::{NOW, World};

fn settle(world: &World, ledger: &str, input: &Path) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("netbill-settle"))
        .current_dir(world.dir.path())
        .args(["--ledger", ledger, "--key", "netbill.key", "--now", NOW, "--group", "4"])
        .arg(input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_stream_settles_on_postgres_with_the_receipts_it_gets_on_sqlite() {
    let world = World::new();
    let db = PgDb::ledger_for(&world);
    let expires = crate::common::now().plus(jiff::SignedDuration::from_hours(1)).unwrap();
    let mut stream: String =
        (0..30).map(|_| world.unrecorded_purchase("0.25", b"goods", expires).endorsed.to_json_line()).collect();
    let first = stream.lines().next().unwrap().to_string();
    stream.push_str(&first); // a retry within the stream
    let input = world.write("stream.ndjson", &stream);
    let on_sqlite = settle(&world, "netbill.db", &input).wait_with_output().unwrap();
    let on_postgres = settle(&world, &db.url, &input).wait_with_output().unwrap();
    assert_eq!(on_postgres.status.code(), Some(1), "{}", String::from_utf8_lossy(&on_postgres.stderr));
    assert_eq!(on_sqlite.stdout, on_postgres.stdout, "byte-identical receipts");
    let receipts: Vec<Signed<Receipt>> =
        String::from_utf8(on_postgres.stdout).unwrap().lines().map(|l| Signed::parse(l.as_bytes()).unwrap()).collect();
    let paid = receipts.iter().filter(|r| r.unverified().result == Outcome::Paid).count();
    assert_eq!((receipts.len(), paid), (31, 21), "20 affordable purchases, the retry answered with the first receipt");
    let mut ledger = db.ledger();
    let audit = ledger.audit().unwrap();
    assert!(audit.problems.is_empty(), "{:?}", audit.problems);
    assert_eq!(
        (ledger.balance("alice").unwrap().to_string(), ledger.balance("bookshop").unwrap().to_string()),
        ("0".into(), "5".into())
    );
    let statement = ledger.statement("alice").unwrap();
    assert_eq!(statement.movements.len(), 21, "one deposit, twenty purchases");
}

/// Four settlers, each given all of `requests` in its own order, on the ledger `spec`.
fn race(world: &World, spec: &str, requests: &[String]) {
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut mine = requests.to_vec();
            mine.rotate_left(i * requests.len() / 4);
            if i % 2 == 1 {
                mine.reverse();
            }
            let input = world.write(&format!("race-{i}.ndjson"), mine.join(""));
            settle(world, spec, &input)
        })
        .collect();
    let mut by_epo: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.code() == Some(1), "some refused: {}", String::from_utf8_lossy(&out.stderr));
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let receipt: Signed<Receipt> = Signed::parse(line.as_bytes()).unwrap();
            let id = receipt.unverified().epo_id.to_string();
            let first = by_epo.entry(id).or_insert_with(|| line.to_string());
            assert_eq!(first, line, "every settler gets the same receipt for one EPO");
        }
    }
    let paid = by_epo.values().filter(|l| l.contains("\"result\":\"paid\"")).count();
    assert_eq!((by_epo.len(), paid), (requests.len(), 5), "exactly the affordable ones are paid");
    let mut ledger = Ledger::open(Path::new(spec)).unwrap();
    let audit = ledger.audit().unwrap();
    assert!(audit.problems.is_empty(), "{:?}", audit.problems);
    assert_eq!(ledger.balance("alice").unwrap().to_string(), "0", "no overdraft");
    assert_eq!(ledger.balance("bookshop").unwrap().to_string(), "5");
}

#[test]
fn settlers_racing_on_one_account_settle_each_epo_once_on_both_backends() {
    let world = World::new();
    let expires = crate::common::now().plus(jiff::SignedDuration::from_hours(1)).unwrap();
    let requests: Vec<String> =
        (0..16).map(|_| world.unrecorded_purchase("1", b"goods", expires).endorsed.to_json_line()).collect();
    race(&world, world.ledger.to_str().unwrap(), &requests);
    let db = PgDb::ledger_for(&world);
    race(&world, &db.url, &requests);
}

/// A group in which one request's endorsement carries a wrong signature (under the right key
/// id) fails its batch; the strict fallback blames that request alone.
#[test]
fn a_failing_batch_is_checked_signature_by_signature() {
    use atomic_commerce::netbill::batch::{Directory, prepare};
    let world = World::new();
    let expires = crate::common::now().plus(jiff::SignedDuration::from_hours(1)).unwrap();
    let requests: Vec<_> = (0..6).map(|_| world.unrecorded_purchase("0.1", b"goods", expires).endorsed).collect();
    let mut directory = Directory::new();
    world.books().fill_directory([world.alice.keys.key_id(), world.bookshop.keys.key_id()], &mut directory).unwrap();
    let mut broken = requests.clone();
    let mut sig = broken[3].signature().ed25519.0;
    sig[10] ^= 1;
    broken[3] = Signed::from_parts(broken[3].unverified().clone(), broken[3].signature().key_id, sig);
    for (group, bad) in [(requests, None), (broken, Some(3))] {
        for (i, p) in prepare(group, &directory, &world.server.keys, 2).iter().enumerate() {
            let s = p.signatures.as_ref().unwrap();
            assert_eq!(s.parties, Some(i) != bad, "request {i}");
            assert!(s.key.is_some(), "request {i}: K opens to its commitment");
        }
    }
}
