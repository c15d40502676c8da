//! key-fetch: a customer who lost everything after signing recovers K, from the server and
//! from the merchant; nobody else can.

use crate::common::World;
use crate::common::pg::PgDb;

/// Settles and records a purchase the way the tools do, then deletes everything the customer
/// held but her key file and the EPO id.
fn settled_purchase(world: &World, goods: &[u8]) -> (String, Vec<u8>) {
    let p = world.purchase("0.5", goods);
    let (code, receipt) = world.settle(&world.write("request.json", p.endorsed.to_json_pretty()));
    assert_eq!(code, 0);
    world
        .tool("merchant-record")
        .args(["--store", "store", "--server", "netbill.id.json"])
        .write_stdin(receipt)
        .assert()
        .success();
    (p.epo.unverified().epo_id.to_string(), p.delivery.ciphertext.clone())
}

fn fetch_and_decrypt(world: &World, epo_id: &str, ciphertext: &[u8], source: &[&str]) -> Vec<u8> {
    let request = world.tool("key-fetch").args(["request", "--key", "alice.key", "--epo-id", epo_id]).output().unwrap();
    assert!(request.status.success());
    let answer = world.tool("key-fetch").arg("answer").args(source).write_stdin(request.stdout).output().unwrap();
    assert!(answer.status.success(), "{}", String::from_utf8_lossy(&answer.stderr));
    world
        .tool("key-fetch")
        .args(["open", "--key", "alice.key", "--server", "netbill.id.json", "-o", "recovered.json"])
        .write_stdin(answer.stdout)
        .assert()
        .success();
    world.write("goods.enc", ciphertext);
    let out = world
        .tool("goods-decrypt")
        .args(["--receipt", "recovered.json", "--server", "netbill.id.json", "--ciphertext", "goods.enc"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn the_customer_recovers_k_from_the_server() {
    let world = World::new();
    let (epo_id, ciphertext) = settled_purchase(&world, b"the goods");
    assert_eq!(fetch_and_decrypt(&world, &epo_id, &ciphertext, &["--ledger", "netbill.db"]), b"the goods");
}

/// On PostgreSQL too: the receipt is read back from the journal entry that holds it.
#[test]
fn the_customer_recovers_k_from_a_postgresql_ledger() {
    let world = World::new();
    let db = PgDb::ledger_for(&world);
    let p = world.purchase("0.5", b"the goods");
    let settled = world.settle_on(&db.url, &world.write("request.json", p.endorsed.to_json_pretty()));
    assert!(settled.status.success(), "{}", String::from_utf8_lossy(&settled.stderr));
    let epo_id = p.epo.unverified().epo_id.to_string();
    let recovered = fetch_and_decrypt(&world, &epo_id, &p.delivery.ciphertext, &["--ledger", &db.url]);
    assert_eq!(recovered, b"the goods");
    let json = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap();
    let recovered_receipt = std::fs::read(world.path("recovered.json")).unwrap();
    assert_eq!(json(&recovered_receipt), json(&settled.stdout), "the receipt it released");
}

#[test]
fn the_customer_recovers_k_from_the_merchant() {
    let world = World::new();
    let (epo_id, ciphertext) = settled_purchase(&world, b"the goods");
    assert_eq!(fetch_and_decrypt(&world, &epo_id, &ciphertext, &["--store", "store"]), b"the goods");
}

/// A refusal that does not bind (here: an empty ledger under the same server key knows no
/// accounts) is recorded by the merchant, then replaced by the payment that follows; a stale
/// copy of it later changes nothing.
#[test]
fn the_merchant_recovers_k_for_her_after_a_refusal_that_did_not_bind() {
    let world = World::new();
    let p = world.purchase("0.5", b"the goods");
    let request = world.write("request.json", p.endorsed.to_json_pretty());
    world.tool("netbill-ledger").args(["--ledger", "empty.db", "init", "--key", "netbill.key"]).assert().success();
    let refused = world.settle_on("empty.db", &request);
    assert!(String::from_utf8_lossy(&refused.stdout).contains("unknown-account"));
    let record = |receipt: &[u8]| {
        world
            .tool("merchant-record")
            .args(["--store", "store", "--server", "netbill.id.json"])
            .write_stdin(receipt)
            .assert()
    };
    record(&refused.stdout).success();
    let (code, paid) = world.settle(&request);
    assert_eq!(code, 0);
    record(paid.as_bytes()).success();
    record(&refused.stdout).success();
    let epo_id = p.epo.unverified().epo_id.to_string();
    assert_eq!(fetch_and_decrypt(&world, &epo_id, &p.delivery.ciphertext, &["--store", "store"]), b"the goods");
}

#[test]
fn nobody_else_can_fetch_her_key() {
    let world = World::new();
    let (epo_id, _) = settled_purchase(&world, b"the goods");
    world.tool("keygen").args(["--name", "mallory", "--secret-key", "mallory.key"]).assert().success();
    let request =
        world.tool("key-fetch").args(["request", "--key", "mallory.key", "--epo-id", &epo_id]).output().unwrap();
    for source in [["--ledger", "netbill.db"], ["--store", "store"]] {
        world
            .tool("key-fetch")
            .arg("answer")
            .args(source)
            .write_stdin(request.stdout.clone())
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicates::str::contains("only the EPO's signer may fetch its key"));
    }
}

#[test]
fn a_replayed_answer_opens_only_for_her() {
    let world = World::new();
    let (epo_id, _) = settled_purchase(&world, b"the goods");
    let request =
        world.tool("key-fetch").args(["request", "--key", "alice.key", "--epo-id", &epo_id]).output().unwrap();
    let answer = world
        .tool("key-fetch")
        .args(["answer", "--ledger", "netbill.db"])
        .write_stdin(request.stdout)
        .output()
        .unwrap();
    world.tool("keygen").args(["--name", "mallory", "--secret-key", "mallory.key"]).assert().success();
    world
        .tool("key-fetch")
        .args(["open", "--key", "mallory.key", "--server", "netbill.id.json"])
        .write_stdin(answer.stdout)
        .assert()
        .code(1)
        .stdout("");
}

#[test]
fn an_unsettled_epo_has_no_record_and_no_charge() {
    let world = World::new();
    let p = world.purchase("0.5", b"goods");
    let epo_id = p.epo.unverified().epo_id.to_string();
    let request =
        world.tool("key-fetch").args(["request", "--key", "alice.key", "--epo-id", &epo_id]).output().unwrap();
    world
        .tool("key-fetch")
        .args(["answer", "--ledger", "netbill.db"])
        .write_stdin(request.stdout)
        .assert()
        .code(66)
        .stderr(predicates::str::contains("nothing was charged"));
}
