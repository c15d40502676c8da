//! The digital-cash tools: private stores, one-line errors naming the file with the documented
//! exit status, nothing recorded on a refusal, and the double-spending proof checked apart.

use std::os::unix::fs::PermissionsExt;

use atomic_commerce::cash::docs::*;
use atomic_commerce::doc::{Hex, Plain, Signed};

use crate::common::cash::{CashWorld, amount, at};
use crate::common::now;

/// The single line a failing tool printed.
fn one_line(output: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(text.lines().count(), 1, "one line expected: {text}");
    text
}

#[test]
fn stores_and_keys_are_private() {
    let w = CashWorld::new("1");
    for file in ["bank.db", "alice.wallet", "shop.db"] {
        assert_eq!(std::fs::metadata(w.path(file)).unwrap().permissions().mode() & 0o777, 0o600, "{file}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("cash-bank")
        .unwrap()
        .current_dir(dir.path())
        .args(["--db", "b.db", "--key", "b.key", "init", "--denominations", "1,0.5"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for file in ["b.db", "b.key"] {
        assert_eq!(std::fs::metadata(dir.path().join(file)).unwrap().permissions().mode() & 0o777, 0o600, "{file}");
    }
    let keys = BankKeys::parse(&out.stdout).unwrap();
    assert_eq!(keys.denominations.iter().map(|d| d.value.to_string()).collect::<Vec<_>>(), ["0.5", "1"]);
    let again = assert_cmd::Command::cargo_bin("cash-bank")
        .unwrap()
        .current_dir(dir.path())
        .args(["--db", "b.db", "--key", "b.key", "init", "--denominations", "1"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(73), "an existing bank is never overwritten");
}

#[test]
fn a_bad_payment_is_refused_in_one_line_naming_the_file_and_nothing_is_recorded() {
    let mut w = CashWorld::new("1");
    w.withdraw("1");
    let request = w.offer("order-1", "1");
    let payment = w.pay(&request);
    let good = Plain(payment.clone()).to_json_pretty();
    let mut altered = payment.clone();
    altered.coins[0].coin.r = Hex([2; 32]);
    w.write("altered.json", Plain(altered).to_json_pretty());
    w.write("truncated.json", &good[..good.len() / 2]);
    w.write("request.json", request.to_json_pretty());
    w.write("payment.json", &good);
    for (file, code, says) in [
        ("altered.json", 1, "not signed by bank"),
        ("truncated.json", 65, "truncated JSON"),
        ("request.json", 65, "wrong document type"),
        ("missing.json", 66, "no such file"),
    ] {
        let out = w.tool("cash-merchant", now()).args(["accept", file]).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{file}");
        let line = one_line(&out);
        assert!(line.starts_with(&format!("cash-merchant: {file}: ")) && line.contains(says), "{line}");
    }
    let out = w.tool("cash-merchant", now()).args(["accept", "payment.json"]).output().unwrap();
    assert!(out.status.success(), "the genuine payment is still accepted: {}", String::from_utf8_lossy(&out.stderr));
    let ack: Signed<PaymentAck> = Signed::parse(&out.stdout).unwrap();
    ack.verify(&w.shop_keys.identity()).unwrap();
    let late = w.tool("cash-merchant", at(10)).args(["accept", "payment.json"]).output().unwrap();
    assert!(late.status.success(), "a retry after the deadline gets the same acknowledgement");
    assert_eq!(late.stdout, out.stdout);
}

#[test]
fn a_busy_withdrawal_exits_75_and_an_early_claim_is_pending() {
    let mut w = CashWorld::new("2");
    w.withdraw("1");
    let first = w.alice.request(&w.alice_keys, amount("1")).unwrap();
    w.write("first.json", first.to_json_pretty());
    let second = w.alice.request(&w.alice_keys, amount("1")).unwrap();
    w.write("second.json", second.to_json_pretty());
    let out = w.tool("cash-bank", now()).args(["withdraw", "first.json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let busy = w.tool("cash-bank", now()).args(["withdraw", "second.json"]).output().unwrap();
    assert_eq!(busy.status.code(), Some(75));
    assert!(one_line(&busy).contains("in progress"));

    let request = w.offer("order-1", "1");
    w.pay(&request);
    let claims = w.tool("cash-spend", now()).args(["claim", "--order", "order-1"]).output().unwrap();
    assert!(claims.status.success());
    w.write("claims.ndjson", &claims.stdout);
    let answers = w.tool("cash-bank", at(5)).args(["refund", "claims.ndjson"]).output().unwrap();
    w.write("early.ndjson", &answers.stdout);
    let settle = w.tool("cash-spend", at(5)).args(["settle", "early.ndjson"]).output().unwrap();
    assert_eq!(settle.status.code(), Some(75), "pending until the deadline");
    assert!(String::from_utf8_lossy(&settle.stdout).contains("\"outcome\":\"pending\""));
    let answers = w.tool("cash-bank", at(10)).args(["refund", "claims.ndjson"]).output().unwrap();
    w.write("late.ndjson", &answers.stdout);
    let settle = w.tool("cash-spend", at(10)).args(["settle", "late.ndjson"]).output().unwrap();
    assert!(settle.status.success());
    assert!(String::from_utf8_lossy(&settle.stdout).contains("\"outcome\":\"refunded\""));
    assert_eq!(w.alice.contents().unwrap().vouchers, amount("1"));
}

#[test]
fn a_double_spending_proof_is_checked_apart_and_a_doctored_one_proves_nothing() {
    let mut w = CashWorld::new("1");
    let coin = w.withdraw("1");
    let request = w.offer("order-1", "1");
    let payment = w.pay(&request);
    w.accept(&payment);
    let ret = w.alice.give_back(&w.alice_keys, &[coin.big_a], true, now()).unwrap();
    w.bank.give_back(&ret, &w.bank_keys, now()).unwrap();
    w.deposit(at(1)).unwrap();
    let proof = w.bank.double_spends().unwrap().remove(0);
    w.write("proof.json", proof.to_json_pretty());
    let out =
        w.tool("dispute-judge", now()).args(["double-spend", "--bank", "bank.json", "proof.json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found = Plain::<Identified>::parse(&out.stdout).unwrap();
    assert_eq!((found.customer.as_str(), found.key_id), ("alice", w.alice_keys.key_id()));

    // Altered after signing: the bank's signature breaks. Re-signed by the bank itself with a
    // made-up answer: the arithmetic does not hold. Either way, nobody is named.
    let mut body = proof.unverified().clone();
    body.second.r2 = body.first.r2;
    let forged = proof.to_json_pretty().replace(&proof.unverified().second.r2.to_string(), &body.second.r2.to_string());
    w.write("forged.json", forged);
    w.write("resigned.json", Signed::sign(body, &w.bank_keys).to_json_pretty());
    for file in ["forged.json", "resigned.json"] {
        let out = w.tool("dispute-judge", now()).args(["double-spend", "--bank", "bank.json", file]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{file}");
        assert!(one_line(&out).starts_with(&format!("dispute-judge: {file}: ")));
    }
}

#[test]
fn the_wallet_will_not_answer_a_second_challenge_unless_told_to_reproduce_the_paper() {
    let mut w = CashWorld::new("1");
    let coin = w.withdraw("1");
    let request = w.offer("order-1", "1");
    w.pay(&request);
    let out =
        w.tool("cash-spend", now()).args(["return", "--key", "alice.key", &coin.big_a.to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line(&out).contains("double-spender"));
    assert_eq!(w.alice.contents().unwrap().pending, amount("1"), "the coin is still bound to its payment");
}
