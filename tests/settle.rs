//! netbill-settle: payments, every refusal, idempotent retries and replays.

use atomic_commerce::crypto::keys::PartyKeys;
use atomic_commerce::doc::Hex;
use atomic_commerce::doc::Signed;
use atomic_commerce::ledger::journal::Head;
use atomic_commerce::ledger::sqlite::External;
use atomic_commerce::money::Amount;
use atomic_commerce::netbill::epo::{EndorsedEpo, goods_key_context};
use atomic_commerce::netbill::receipt::{Outcome, Receipt, RefusalReason};
use atomic_commerce::netbill::settle::{Account, Signatures, decide_checked};
use serde_json::Value;

use crate::common::{NOW, World, now};

fn amount(s: &str) -> Amount {
    s.parse().unwrap()
}

fn receipt(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// Settles `request` and asserts a refusal for `reason` that moved no money and left the
/// books sound.
fn assert_refused(world: &World, request: &Signed<EndorsedEpo>, reason: &str) {
    let before = (world.balance("alice"), world.balance("bookshop"));
    let input = world.write("request.json", request.to_json_pretty());
    let (code, out) = world.settle(&input);
    assert_eq!(code, 1, "a refusal exits 1: {out}");
    let r = receipt(&out);
    assert_eq!(r["body"]["result"], "refused");
    assert_eq!(r["body"]["reason"], reason);
    assert!(r["body"].get("key").is_none(), "a refusal releases no key");
    assert_eq!((world.balance("alice"), world.balance("bookshop")), before, "no money moved");
    assert!(world.books().audit().unwrap().problems.is_empty());
}

#[test]
fn a_purchase_moves_the_price_and_escrows_k() {
    let world = World::new();
    let p = world.purchase("0.07", b"goods");
    let (code, out) = world.settle(&world.write("request.json", p.endorsed.to_json_pretty()));
    assert_eq!(code, 0);
    let r = receipt(&out);
    assert_eq!(r["body"]["result"], "paid");
    assert_eq!(r["body"]["key"], p.delivery.key.to_string());
    assert_eq!(r["body"]["key_commitment"], p.delivery.note.unverified().key_commitment.to_string());
    assert_eq!(world.balance("alice"), amount("4.93"));
    assert_eq!(world.balance("bookshop"), amount("0.07"));
}

#[test]
fn insufficient_funds_is_refused() {
    let world = World::new();
    assert_refused(&world, &world.purchase("5.000001", b"goods").endorsed, "insufficient-funds");
}

#[test]
fn an_expired_epo_is_refused() {
    let world = World::new();
    let p = world.purchase_expiring("0.1", b"goods", now().plus(jiff::SignedDuration::from_secs(1)).unwrap());
    let input = world.write("request.json", p.endorsed.to_json_pretty());
    let out = world
        .tool("netbill-settle")
        .args(["--ledger", "netbill.db", "--key", "netbill.key", "--now", "2026-11-25T12:00:02Z"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(receipt(std::str::from_utf8(&out.stdout).unwrap())["body"]["reason"], "expired");
    assert_eq!(world.balance("alice"), amount("5"));
}

#[test]
fn a_customer_signature_by_another_key_is_refused() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let mallory = PartyKeys::generate("alice").unwrap();
    let forged = Signed::sign(p.epo.unverified().clone(), &mallory);
    let mut body = p.endorsed.unverified().clone();
    body.epo = forged;
    assert_refused(&world, &Signed::sign(body, &world.bookshop.keys), "bad-signature");
}

#[test]
fn an_endorsement_not_by_the_merchant_is_refused() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let impostor = Signed::sign(p.endorsed.unverified().clone(), &world.alice.keys);
    assert_refused(&world, &impostor, "bad-signature");
}

#[test]
fn a_merchant_without_an_account_is_refused() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let outsider = PartyKeys::generate("outsider").unwrap();
    let mut epo = p.epo.unverified().clone();
    epo.merchant = outsider.key_id();
    let mut body = p.endorsed.unverified().clone();
    body.epo = Signed::sign(epo, &world.alice.keys);
    assert_refused(&world, &Signed::sign(body, &outsider), "unknown-account");
}

#[test]
fn a_price_other_than_the_offer_is_refused() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let mut epo = p.epo.unverified().clone();
    epo.price = amount("0.01");
    let mut body = p.endorsed.unverified().clone();
    body.epo = Signed::sign(epo, &world.alice.keys);
    assert_refused(&world, &Signed::sign(body, &world.bookshop.keys), "price-mismatch");
}

#[test]
fn an_epo_for_another_server_is_refused() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let mut epo = p.epo.unverified().clone();
    epo.server = PartyKeys::generate("elsewhere").unwrap().key_id();
    let mut body = p.endorsed.unverified().clone();
    body.epo = Signed::sign(epo, &world.alice.keys);
    assert_refused(&world, &Signed::sign(body, &world.bookshop.keys), "wrong-server");
}

#[test]
fn a_key_sealed_for_another_purchase_is_refused() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let q = world.purchase("0.1", b"other goods");
    let mut body = p.endorsed.unverified().clone();
    body.sealed_key = q.endorsed.unverified().sealed_key.clone();
    assert_refused(&world, &Signed::sign(body, &world.bookshop.keys), "bad-key");
}

/// The server releases only the K the EPO's commitment names, sealed on the merchant's own
/// channel: not another K the merchant seals (his note committed to the first), and not the
/// right K sealed by someone else (it does not open on the merchant's channel).
#[test]
fn only_the_committed_key_sealed_by_the_merchant_is_released() {
    let world = World::new();
    let outsider = PartyKeys::generate("outsider").unwrap();
    for (sealer, committed) in [(&world.bookshop.keys, false), (&outsider, true)] {
        let p = world.purchase("0.1", b"goods");
        let key = if committed { p.delivery.key.0 } else { [7; 32] };
        let channel = sealer.channel_to(&world.server.identity().x25519).unwrap();
        let mut body = p.endorsed.unverified().clone();
        body.sealed_key = channel.seal(&goods_key_context(&p.epo.unverified().epo_id), &key);
        assert_refused(&world, &Signed::sign(body, &world.bookshop.keys), "bad-key");
    }
}

#[test]
fn settling_again_returns_the_identical_receipt_and_charges_once() {
    let world = World::new();
    let p = world.purchase("0.25", b"goods");
    let input = world.write("request.json", p.endorsed.to_json_pretty());
    let first = world.settle(&input);
    let second = world.settle(&input);
    assert_eq!(first.0, 0);
    assert_eq!(first, second, "byte-identical stored receipt");
    assert_eq!(world.balance("alice"), amount("4.75"));
    assert_eq!(world.books().statement("alice").unwrap().movements.len(), 2, "one deposit, one purchase");
}

#[test]
fn the_same_epo_id_with_other_content_is_refused_as_a_replay() {
    let world = World::new();
    let p = world.purchase("0.25", b"goods");
    assert_eq!(world.settle(&world.write("request.json", p.endorsed.to_json_pretty())).0, 0);
    // The merchant countersigns again: a new sealing makes a different request.
    let again = world.countersign(&p.epo, &p.offer, &p.delivery);
    assert_ne!(again.digest(), p.endorsed.digest());
    assert_refused(&world, &again, "replay");
    assert_eq!(world.balance("alice"), amount("4.75"));
}

#[test]
fn an_ndjson_stream_gets_one_receipt_line_per_request_in_order() {
    let world = World::new();
    let pieces: Vec<_> = ["0.1", "9", "0.2"].iter().map(|p| world.purchase(p, b"goods")).collect();
    let stream: String = pieces.iter().map(|p| p.endorsed.to_json_line()).collect();
    let (code, out) = world.settle(&world.write("stream.ndjson", stream));
    assert_eq!(code, 1, "one refusal in the stream");
    let lines: Vec<Value> = out.lines().map(receipt).collect();
    let results: Vec<&str> = lines.iter().map(|r| r["body"]["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["paid", "refused", "paid"]);
    for (r, p) in lines.iter().zip(&pieces) {
        assert_eq!(r["body"]["epo_id"], p.epo.unverified().epo_id.to_string());
    }
    assert_eq!(world.balance("alice"), amount("4.7"));
}

/// The receipts of requests settled together are signed in one batch: each carries its place
/// and inclusion proof, verifies on its own, and is taken by the merchant's tools; a receipt
/// whose proof is changed is refused.
#[test]
fn receipts_settled_together_are_signed_in_a_batch_and_verify_each_on_its_own() {
    let world = World::new();
    let pieces: Vec<_> = ["0.1", "0.2", "0.3"].iter().map(|p| world.purchase(p, b"goods")).collect();
    let stream: String = pieces.iter().map(|p| p.endorsed.to_json_line()).collect();
    let (code, out) = world.settle(&world.write("stream.ndjson", stream));
    assert_eq!(code, 0, "{out}");
    let server = world.server.identity();
    for (i, line) in out.lines().enumerate() {
        let signed = Signed::<Receipt>::parse(line.as_bytes()).unwrap();
        let batch = signed.signature().batch.as_ref().expect("signed in a batch");
        assert_eq!((batch.index as usize, batch.size), (i, 3));
        assert_eq!(signed.verify(&server).unwrap().result, Outcome::Paid);
    }
    let record = |receipt: String| {
        world
            .tool("merchant-record")
            .args(["--store", "store", "--server", "netbill.id.json"])
            .write_stdin(receipt)
            .output()
            .unwrap()
    };
    let second = out.lines().nth(1).unwrap();
    assert!(record(second.to_string()).status.success());
    let mut forged = receipt(second);
    let hash = forged["signature"]["batch"]["path"][0].as_str().unwrap().to_string();
    let flipped = if hash.starts_with('0') { hash.replacen('0', "1", 1) } else { format!("0{}", &hash[1..]) };
    forged["signature"]["batch"]["path"][0] = flipped.into();
    let refused = record(forged.to_string());
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("netbill.receipt is not in the batch its signature by netbill covers"), "{stderr}");
}

#[test]
fn a_forged_request_does_not_burn_the_epo_id() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let impostor = PartyKeys::generate("bookshop").unwrap();
    assert_refused(&world, &Signed::sign(p.endorsed.unverified().clone(), &impostor), "bad-signature");
    let (code, out) = world.settle(&world.write("genuine.json", p.endorsed.to_json_pretty()));
    assert_eq!(code, 0, "the genuine request still settles: {out}");
    assert_eq!(receipt(&out)["body"]["result"], "paid");
}

#[test]
fn a_binding_refusal_answers_every_retry_of_its_epo_id() {
    let world = World::new();
    let p = world.purchase("6", b"goods");
    assert_refused(&world, &p.endorsed, "insufficient-funds");
    world.books().external("alice", External::Deposit, amount("10"), None, &world.server.keys, now()).unwrap();
    let (code, out) = world.settle(&world.write("again.json", p.endorsed.to_json_pretty()));
    assert_eq!(code, 1);
    assert_eq!(receipt(&out)["body"]["reason"], "insufficient-funds", "the stored refusal");
    assert_eq!(world.balance("alice"), amount("15"));
}

#[test]
fn a_credit_beyond_the_largest_amount_is_refused() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let account = |party: &crate::common::Party, balance| Account {
        name: party.identity().name,
        identity: party.identity(),
        balance,
    };
    let (alice, bookshop) = (account(&world.alice, amount("5")), account(&world.bookshop, Amount::MAX));
    let signatures = Signatures::strict(&p.endorsed, &alice.identity, &bookshop.identity, &world.server.keys);
    let head = Head { seq: 3, digest: Hex([7; 32]) };
    let decision =
        decide_checked(&p.endorsed, Some(&alice), Some(&bookshop), Some(&signatures), &world.server.keys, now(), head);
    assert_eq!(decision.receipt.reason, Some(RefusalReason::LimitExceeded));
    assert!(decision.transfer.is_none() && decision.binds());
}

/// netbill-settle holds a few groups at a time whatever the stream's length: a stream eight
/// times longer settles in about the memory of the shorter (peak RSS under GNU time, groups of
/// 64). The longer one may take up to 8 MiB more, for SQLite's page caches (2 MiB a connection)
/// fill as the ledger grows, and the allocator's heaps vary (measured: 1.5 to 3.3 MiB more);
/// a settler that kept every receipt it printed took 13 MiB more.
#[test]
fn a_stream_eight_times_longer_settles_in_the_same_memory() {
    let world = World::new();
    let expires = now().plus(jiff::SignedDuration::from_hours(1)).unwrap();
    let requests: Vec<String> =
        (0..8192).map(|_| world.unrecorded_purchase("0.0001", b"goods", expires).endorsed.to_json_line()).collect();
    let peak = |n: usize| {
        std::fs::copy(&world.ledger, world.path(&format!("ledger-{n}.db"))).unwrap();
        world.write(&format!("stream-{n}.ndjson"), requests[..n].concat());
        let args = format!("--group 64 --ledger ledger-{n}.db --key netbill.key stream-{n}.ndjson");
        let out = world.timed("netbill-settle", &args).output().expect("GNU time (scripts/test installs it)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let paid =
            String::from_utf8(out.stdout).unwrap().lines().filter(|l| receipt(l)["body"]["result"] == "paid").count();
        assert_eq!(paid, n);
        world.peak_rss("netbill-settle")
    };
    let (short, long) = (peak(1024), peak(8192));
    println!("peak RSS: {short} KiB for 1,024 requests, {long} KiB for 8,192");
    assert!(long < short + 8 * 1024, "{long} KiB for 8,192 requests, {short} KiB for 1,024");
}

/// On a terminal, netbill-settle counts the requests settled on stderr; piped, its stderr
/// stays empty. script(1) gives it a pseudo-terminal for stderr (its stdout goes to a file).
#[test]
fn a_terminal_sees_the_requests_settled_and_a_pipe_sees_nothing() {
    let world = World::new();
    let stream: String = (0..3).map(|_| world.purchase("0.1", b"goods").endorsed.to_json_line()).collect();
    let input = world.write("stream.ndjson", stream);
    let settle = format!(
        "{} --ledger netbill.db --key netbill.key stream.ndjson > receipts.ndjson",
        assert_cmd::cargo::cargo_bin("netbill-settle").display()
    );
    let out = std::process::Command::new("script")
        .current_dir(world.dir.path())
        .env("ATOMIC_COMMERCE_NOW", NOW)
        .args(["--quiet", "--return", "--command", &settle, "/dev/null"])
        .output()
        .expect("script(1), of util-linux");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(terminal.contains("3 settled"), "the terminal showed {terminal:?}");
    assert_eq!(std::fs::read_to_string(world.path("receipts.ndjson")).unwrap().lines().count(), 3);

    let again = world.settle_on("netbill.db", &input);
    assert!(again.status.success() && again.stderr.is_empty(), "{}", String::from_utf8_lossy(&again.stderr));
}
