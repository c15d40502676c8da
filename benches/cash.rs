//! Withdrawals, spends and deposits per second, each next to its bare cryptography, in one run.
//!
//! `cargo bench --bench cash` (BENCH_N=… coins, default 300). Durable rates go through the
//! bank, wallet and merchant on their SQLite files (each step one fsynced transaction, every
//! signature checked); the baselines are the Brands operations alone, in memory:
//! - withdrawal: commit, blind, respond, unblind and check (bank + customer), versus the same
//!   plus both signed documents, the session record and the debit;
//! - spend: the customer's answer and the merchant's coin and answer checks, versus
//!   `cash-spend pay` + `cash-merchant accept` in the library (intent stored, seen-set updated);
//! - deposit: coin and answer checks at the bank, versus one deposit of all the coins (the
//!   uniqueness check and the credit in one transaction).

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::Instant;

use atomic_commerce::cash::brands::{self, AccountSecret, BankKey, Withdrawal};
use common::cash::{CashWorld, amount, at};

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(300);

    // Baselines: Brands alone, in memory.
    let (bank, alice) = (BankKey::generate(), AccountSecret::generate());
    let (public, identity) = (bank.public(), alice.identity());
    let started = Instant::now();
    let mut coins = Vec::with_capacity(n);
    for _ in 0..n {
        let (w, a, b) = bank.commit(&identity);
        let (state, c) = Withdrawal::start(&alice, [bank.account_tag(&identity), a, b], [7; 32]);
        let (coin, secrets) = state.finish(&public, &bank.respond(&w, &c)).unwrap();
        coin.verify(&public).unwrap();
        coins.push((coin, secrets));
    }
    let withdraw_crypto = rate(n, started);
    let started = Instant::now();
    let mut answers = Vec::with_capacity(n);
    for (i, (coin, secrets)) in coins.iter().enumerate() {
        let d = brands::payment_challenge(coin, b"bookshop", format!("order-{i}").as_bytes(), b"2026-11-25T12:10:00Z");
        let (r1, r2) = brands::respond(secrets, &d);
        coin.verify(&public).unwrap();
        assert!(brands::check_payment(coin, &d, &r1, &r2));
        answers.push((d, r1, r2));
    }
    let spend_crypto = rate(n, started);
    let started = Instant::now();
    for ((coin, _), (d, r1, r2)) in coins.iter().zip(&answers) {
        coin.verify(&public).unwrap();
        assert!(brands::check_payment(coin, d, r1, r2));
    }
    let deposit_crypto = rate(n, started);

    // Durable: the parties on their files.
    let mut w = CashWorld::new(&n.to_string());
    let started = Instant::now();
    for _ in 0..n {
        w.withdraw("1");
    }
    let withdraw_durable = rate(n, started);
    let started = Instant::now();
    for i in 0..n {
        let request = w.offer(&format!("order-{i}"), "1");
        let payment = w.pay(&request);
        w.accept(&payment);
    }
    let spend_durable = rate(n, started);
    let started = Instant::now();
    let receipt = w.deposit(at(1)).unwrap();
    let deposit_durable = rate(n, started);
    assert_eq!(receipt.unverified().credited, amount(&n.to_string()));
    w.assert_conserved();

    println!("cash: {n} coins of 1 (per second; ratio = durable / cryptography alone)");
    for (what, durable, crypto) in [
        ("withdrawals", withdraw_durable, withdraw_crypto),
        ("spends (pay + accept)", spend_durable, spend_crypto),
        ("deposits (one batch)", deposit_durable, deposit_crypto),
    ] {
        println!("  {what:<24} durable {durable:>9.0}/s   crypto {crypto:>9.0}/s   ratio {:.2}", durable / crypto);
    }
}
