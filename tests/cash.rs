//! Digital cash through the library: withdrawal, payment, deposit, the paper's failure, and
//! the recovery that keeps money atomicity and anonymity.

use atomic_commerce::cash::bank::Bank;
use atomic_commerce::cash::docs::*;
use atomic_commerce::cash::merchant::Merchant;
use atomic_commerce::cash::wallet::{Settled, Wallet};
use atomic_commerce::crypto::keys::PartyKeys;
use atomic_commerce::doc::{Hex, Signed};
use atomic_commerce::error::ErrorKind;

use crate::common::cash::{CashWorld, amount, at};
use crate::common::now;

#[test]
fn a_payment_is_deposited_once_and_every_retry_is_identical() {
    let mut w = CashWorld::new("10");
    let coins = [w.withdraw("1"), w.withdraw("0.1"), w.withdraw("0.1")];
    assert_eq!(w.bank.balance("alice").unwrap(), amount("8.8"));
    let request = w.offer("order-1", "1.1");
    let payment = w.pay(&request);
    assert_eq!(
        CashWorld::payment_line(&w.pay(&request)),
        CashWorld::payment_line(&payment),
        "paying again repeats the bytes"
    );
    assert_eq!(payment.coins.len(), 2);
    let ack = w.accept(&payment);
    assert_eq!(w.accept(&payment), ack, "the same payment gets the same acknowledgement");
    w.alice.acknowledge(&ack).unwrap();
    let receipt = w.deposit(at(1)).unwrap();
    assert_eq!(receipt.unverified().credited, amount("1.1"));
    let deposit = w.shop.deposit(&w.shop_keys, at(1)).unwrap();
    assert!(deposit.is_none(), "nothing left to deposit once recorded");
    let mut spends = payment.coins.clone();
    let replay = w.bank.deposit(&deposit_of(&spends, &w), &w.bank_keys, at(2)).unwrap();
    spends.reverse();
    let again = w.bank.deposit(&deposit_of(&spends, &w), &w.bank_keys, at(2)).unwrap();
    assert!(replay == receipt || again == receipt, "one of the orders is the first deposit: the same receipt");
    let again = if again == receipt { replay } else { again };
    assert_eq!(again.unverified().credited, amount("0"), "another deposit of the same spends credits nothing");
    assert!(again.unverified().coins.iter().all(|c| c.outcome == CoinOutcome::AlreadyCredited));
    assert_eq!(w.bank.balance("bookshop").unwrap(), amount("1.1"));
    let contents = w.alice.contents().unwrap();
    assert_eq!((contents.fresh, contents.pending), (amount("0.1"), amount("1.1")));
    assert!(coins.iter().all(|c| c.verify(w.alice.bank()).is_ok()));
    w.assert_conserved();
}

/// The deposit document of a payment, as the bookshop would sign it.
fn deposit_of(spends: &[Spend], w: &CashWorld) -> Signed<Deposit> {
    Signed::sign(Deposit { bank: w.bank_keys.key_id(), spends: spends.to_vec() }, &w.shop_keys)
}

/// Every 32-byte value (hex) in a JSON text.
fn values(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let end = after.find('"').unwrap_or(after.len());
        let token = &after[..end];
        if token.len() >= 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.extend(token.as_bytes().chunks(64).map(|c| String::from_utf8(c.to_vec()).unwrap()));
        }
        rest = &after[(end + 1).min(after.len())..];
    }
    out
}

#[test]
fn the_bank_sees_nothing_at_withdrawal_or_refund_that_it_meets_again() {
    let mut w = CashWorld::new("10");
    let request = w.alice.request(&w.alice_keys, amount("1")).unwrap();
    let commitment = w.bank.commit(&request, &w.bank_keys, now()).unwrap();
    let challenge = w.alice.blind(&w.alice_keys, &commitment).unwrap();
    let response = w.bank.sign(&challenge, &w.bank_keys, now()).unwrap();
    let coin = w.alice.finish(&response).unwrap();
    let withdrawal_view: Vec<String> =
        [&commitment.to_json_line(), &challenge.to_json_line(), &response.to_json_line()]
            .iter()
            .flat_map(|t| values(t))
            .collect();
    let pay_request = w.offer("order-1", "1");
    let payment = w.pay(&pay_request);
    let payment_view = values(&CashWorld::payment_line(&payment));
    assert!(payment_view.contains(&coin.big_a.to_string()), "the test sees the coin");
    let shared: Vec<&String> = withdrawal_view.iter().filter(|v| payment_view.contains(v)).collect();
    assert!(shared.is_empty(), "the withdrawal shares {shared:?} with the coin");

    // The refund: what the bank sees when it signs is unrelated to the voucher later cashed.
    let claim = w.alice.claim("order-1", None).unwrap().remove(0);
    let answer = w.bank.refund(&claim, &w.bank_keys, at(11)).unwrap();
    assert_eq!(w.alice.settle(&answer).unwrap(), Settled::Refunded);
    let refund_view: Vec<String> =
        [claim.to_json_line(), answer.to_json_line()].iter().flat_map(|t| values(t)).collect();
    let redemption = w.alice.redeem(&w.alice_keys).unwrap().unwrap();
    let redemption_view = values(&redemption.to_json_line());
    let shared: Vec<&String> = refund_view.iter().filter(|v| redemption_view.contains(v)).collect();
    assert!(shared.is_empty(), "the refund shares {shared:?} with the voucher");
    let receipt = w.bank.redeem(&redemption, &w.bank_keys, at(12)).unwrap();
    w.alice.redeemed(&receipt).unwrap();
    assert_eq!(w.bank.balance("alice").unwrap(), amount("10"));
    w.assert_conserved();
}

/// Where a message of the payment is lost (or the party crashes before sending it).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lost {
    Nothing,
    Payment,
    Ack,
    Deposit,
    DepositReceipt,
    Claim,
    RefundAnswer,
}

/// One payment with one fault, then every party's recovery: the bookshop deposits (on time or
/// late), alice claims after the deadline and redeems. Each party is reopened from its file
/// after each step when `crash` is set (a crash after each durable step).
fn run(lost: Lost, merchant_late: bool, crash: bool, replay: bool) {
    let label = format!("{lost:?} late={merchant_late} crash={crash} replay={replay}");
    let mut w = CashWorld::new("3");
    w.withdraw("1");
    w.withdraw("1");
    let request = w.offer("order-1", "1");
    let mut payment = w.pay(&request);
    let reopen = |w: &mut CashWorld| {
        if crash {
            w.alice = Wallet::open(&w.path("alice.wallet")).unwrap();
            w.shop = Merchant::open(&w.path("shop.db")).unwrap();
            w.bank = Bank::open(&w.path("bank.db")).unwrap();
        }
    };
    reopen(&mut w);
    if replay {
        assert_eq!(CashWorld::payment_line(&w.pay(&request)), CashWorld::payment_line(&payment), "{label}");
    }
    if lost == Lost::Payment {
        // She retries: the same bytes again, and this time they arrive.
        payment = w.pay(&request);
        if merchant_late {
            // ...too late for the merchant to accept.
            assert!(w.shop.accept(&w.shop_keys, &payment, at(10)).is_err(), "{label}");
        }
    }
    let accepted = !(lost == Lost::Payment && merchant_late);
    if accepted {
        let ack = w.accept(&payment);
        reopen(&mut w);
        if replay {
            assert_eq!(w.accept(&payment), ack, "{label}");
        }
        if lost != Lost::Ack {
            w.alice.acknowledge(&ack).unwrap();
        }
    }
    let when = if merchant_late { at(11) } else { at(5) };
    if accepted {
        let deposit = w.shop.deposit(&w.shop_keys, at(5)).unwrap().expect("something to deposit");
        reopen(&mut w);
        if lost == Lost::Deposit {
            // Lost on the way; he sends it again (the same document).
            assert_eq!(w.shop.deposit(&w.shop_keys, at(5)).unwrap().as_ref(), Some(&deposit), "{label}");
        }
        let receipt = w.bank.deposit(&deposit, &w.bank_keys, when).unwrap();
        reopen(&mut w);
        if replay || lost == Lost::DepositReceipt {
            assert_eq!(w.bank.deposit(&deposit, &w.bank_keys, when).unwrap(), receipt, "{label}");
        }
        w.shop.record(&receipt).unwrap();
    }
    // Alice does not know the outcome (the ack may be lost): she recovers after the deadline.
    let mut claims = w.alice.claim("order-1", None).unwrap();
    reopen(&mut w);
    if lost == Lost::Claim || replay {
        assert_eq!(w.alice.claim("order-1", None).unwrap(), claims, "{label}: a claim is repeated byte for byte");
    }
    let claim = claims.remove(0);
    let early = w.bank.refund(&claim, &w.bank_keys, at(9)).unwrap();
    assert!(
        matches!(early.unverified().result, RefundStatus::Pending { .. } | RefundStatus::Deposited { .. }),
        "{label}"
    );
    let answer = w.bank.refund(&claim, &w.bank_keys, at(12)).unwrap();
    reopen(&mut w);
    if lost == Lost::RefundAnswer || replay {
        assert_eq!(w.bank.refund(&claim, &w.bank_keys, at(13)).unwrap(), answer, "{label}: the same answer again");
    }
    let settled = w.alice.settle(&answer).unwrap();
    if replay {
        assert_eq!(w.alice.settle(&answer).unwrap(), settled, "{label}");
    }
    // A merchant trying again after the refund gets nothing.
    if let Some(late) = w.shop.deposit(&w.shop_keys, at(5)).unwrap() {
        let r = w.bank.deposit(&late, &w.bank_keys, at(14)).unwrap();
        assert_eq!(r.unverified().credited, amount("0"), "{label}");
    }
    w.redeem();
    let shop = w.bank.balance("bookshop").unwrap();
    let expected = if merchant_late { Settled::Refunded } else { Settled::Paid };
    assert_eq!(settled, expected, "{label}");
    assert_eq!(
        shop,
        if settled == Settled::Paid { amount("1") } else { amount("0") },
        "{label}: exactly one of paid, refunded"
    );
    assert_eq!(
        w.bank.balance("alice").unwrap(),
        if settled == Settled::Paid { amount("1") } else { amount("2") },
        "{label}"
    );
    assert_eq!(w.bank.double_spends().unwrap().len(), 0, "{label}: nobody is accused");
    w.assert_conserved();
}

#[test]
fn whatever_message_is_lost_she_is_paid_up_or_refunded_and_never_accused() {
    for lost in
        [Lost::Nothing, Lost::Payment, Lost::Ack, Lost::Deposit, Lost::DepositReceipt, Lost::Claim, Lost::RefundAnswer]
    {
        for merchant_late in [false, true] {
            run(lost, merchant_late, false, false);
        }
    }
}

#[test]
fn every_message_replayed_and_every_party_restarted_changes_nothing() {
    for lost in [Lost::Nothing, Lost::Ack, Lost::DepositReceipt, Lost::RefundAnswer] {
        for merchant_late in [false, true] {
            run(lost, merchant_late, true, true);
        }
    }
}

#[test]
fn a_refund_before_the_deadline_waits_and_a_deposit_after_a_refund_is_late() {
    let mut w = CashWorld::new("2");
    w.withdraw("1");
    let request = w.offer("order-1", "1");
    let payment = w.pay(&request);
    w.accept(&payment);
    assert_eq!(w.recover("order-1", at(9)), [Settled::Pending]);
    assert_eq!(w.recover("order-1", at(10)), [Settled::Refunded], "the deadline itself belongs to the refund");
    let receipt = w.deposit(at(9)).unwrap();
    assert_eq!(receipt.unverified().coins[0].outcome, CoinOutcome::Late, "refunded first: the deposit loses");
    assert_eq!(w.bank.balance("bookshop").unwrap(), amount("0"));
    w.redeem();
    assert_eq!(w.bank.balance("alice").unwrap(), amount("2"));
    w.assert_conserved();
}

#[test]
fn the_papers_return_reveals_her_when_the_merchant_got_the_coin() {
    let mut w = CashWorld::new("1");
    let coin = w.withdraw("1");
    let request = w.offer("order-1", "1");
    let payment = w.pay(&request);
    w.accept(&payment); // ...and the acknowledgement is lost.
    let refused = w.alice.give_back(&w.alice_keys, &[coin.big_a], false, now()).unwrap_err();
    assert!(refused.message().contains("double-spender"), "{refused}");
    let ret = w.alice.give_back(&w.alice_keys, &[coin.big_a], true, now()).unwrap();
    let credited = w.bank.give_back(&ret, &w.bank_keys, now()).unwrap();
    assert_eq!(credited.unverified().credited, amount("1"));
    let receipt = w.deposit(at(1)).unwrap();
    assert_eq!(receipt.unverified().coins[0].outcome, CoinOutcome::DoubleSpent);
    let proofs = w.bank.double_spends().unwrap();
    let identified = proofs[0].verify(&w.bank_keys.identity()).unwrap().check(w.alice.bank()).unwrap();
    assert_eq!((identified.customer.as_str(), identified.key_id), ("alice", w.alice_keys.key_id()));
}

#[test]
fn a_real_double_spend_is_refused_by_the_merchant_or_caught_by_the_bank_with_her_name() {
    let mut w = CashWorld::new("1");
    w.withdraw("1");
    for ext in ["", "-wal"] {
        for backup in ["backup1", "backup2"] {
            std::fs::copy(w.path(&format!("alice.wallet{ext}")), w.path(&format!("{backup}.wallet{ext}"))).unwrap();
        }
    }
    let first = w.offer("order-1", "1");
    let payment = w.pay(&first);
    w.accept(&payment);
    w.deposit(at(1)).unwrap();
    // She restores the old wallet and spends the same coin again.
    let mut copy = Wallet::open(&w.path("backup1.wallet")).unwrap();
    let second = w.offer("order-2", "1");
    let again = copy.pay(&second, now()).unwrap().0;
    let refused = w.shop.accept(&w.shop_keys, &again, now()).unwrap_err();
    assert!(refused.message().contains("double spend"), "the merchant's seen-set: {refused}");
    // Her claim for that second payment answers a second challenge: recorded, and refused.
    let claim = copy.claim("order-2", None).unwrap().remove(0);
    let e = w.bank.refund(&claim, &w.bank_keys, at(11)).unwrap_err();
    assert!(e.message().contains("double spend"), "{e}");
    assert_eq!(w.bank.double_spends().unwrap().len(), 1, "the proof outlives the refusal");
    let cafe_keys = PartyKeys::generate("cafe").unwrap();
    Merchant::create(&w.path("cafe.db"), w.bank_doc.as_bytes(), &cafe_keys).unwrap();
    w.bank.open_account(&cafe_keys.identity(), None, now()).unwrap();
    let mut cafe = Merchant::open(&w.path("cafe.db")).unwrap();
    let third = cafe.offer(&cafe_keys, "latte", "a latte", amount("1"), at(10)).unwrap();
    let mut copy = Wallet::open(&w.path("backup2.wallet")).unwrap();
    let spent_twice = copy.pay(&third, now()).unwrap().0;
    cafe.accept(&cafe_keys, &spent_twice, now()).unwrap();
    let deposit = cafe.deposit(&cafe_keys, at(2)).unwrap().unwrap();
    let receipt = w.bank.deposit(&deposit, &w.bank_keys, at(2)).unwrap();
    assert_eq!(receipt.unverified().coins[0].outcome, CoinOutcome::DoubleSpent);
    assert_eq!(w.bank.balance("cafe").unwrap(), amount("0"));
    let proof = &w.bank.double_spends().unwrap()[1];
    assert_eq!(proof.verify(&w.bank_keys.identity()).unwrap().check(w.alice.bank()).unwrap().customer, "alice");
    // A proof with a forged second answer, or quoting another customer, proves nothing.
    let mut forged = proof.unverified().clone();
    forged.second.r1 = forged.first.r1;
    assert!(forged.check(w.alice.bank()).is_err());
}

#[test]
fn forged_altered_and_foreign_coins_are_refused_and_nothing_is_recorded() {
    let mut w = CashWorld::new("5");
    w.withdraw("1");
    let request = w.offer("order-1", "1");
    let payment = w.pay(&request);
    let mut altered = payment.clone();
    altered.coins[0].coin.r = Hex([1; 32]);
    let e = w.shop.accept(&w.shop_keys, &altered, now()).unwrap_err();
    assert!(e.message().contains("not signed by bank"), "{e}");
    let mut wrong_answer = payment.clone();
    wrong_answer.coins[0].r1 = wrong_answer.coins[0].r2;
    let e = w.shop.accept(&w.shop_keys, &wrong_answer, now()).unwrap_err();
    assert!(e.message().contains("answer does not verify"), "{e}");
    // A coin of another bank, with the same denominations.
    let mut other = CashWorld::new("5");
    other.withdraw("1");
    let foreign = other.alice.pay(&request, now());
    assert!(foreign.is_err(), "her wallet refuses a merchant of another bank");
    let mut forged = payment.clone();
    forged.coins[0].coin = other.withdraw("1");
    let e = w.shop.accept(&w.shop_keys, &forged, now()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    // None of these left a trace: the genuine payment is still accepted.
    w.accept(&payment);
    // A deposit with one forged coin among good ones is refused whole.
    let mut deposit = deposit_of(&payment.coins, &w).unverified().clone();
    deposit.spends.push(altered.coins[0].clone());
    let e = w.bank.deposit(&Signed::sign(deposit, &w.shop_keys), &w.bank_keys, at(1)).unwrap_err();
    assert!(e.message().contains("spend 2"), "{e}");
    assert_eq!(w.bank.balance("bookshop").unwrap(), amount("0"));
    // The merchant cannot claim her refund: the claim must be signed by the coin's owner key.
    let stolen = RefundClaim {
        bank: w.bank_keys.key_id(),
        spend: payment.coins[0].clone(),
        blinded: atomic_commerce::doc::HexBytes(vec![1; 256]),
    };
    let e = w.bank.refund(&Signed::sign(stolen, &w.shop_keys), &w.bank_keys, at(11)).unwrap_err();
    assert!(e.message().contains("not by the coin's owner"), "{e}");
    w.assert_conserved();
}

#[test]
fn withdrawals_are_served_one_at_a_time_and_an_expired_session_moves_no_money() {
    let mut w = CashWorld::new("5");
    let first = w.alice.request(&w.alice_keys, amount("1")).unwrap();
    let commitment = w.bank.commit(&first, &w.bank_keys, now()).unwrap();
    assert_eq!(w.bank.commit(&first, &w.bank_keys, now()).unwrap(), commitment, "a retried request");
    let second = w.alice.request(&w.alice_keys, amount("1")).unwrap();
    let busy = w.bank.commit(&second, &w.bank_keys, now()).unwrap_err();
    assert_eq!(busy.kind(), ErrorKind::Busy, "{busy}");
    w.bank.commit(&w.alice.request(&w.alice_keys, amount("5")).unwrap(), &w.bank_keys, now()).unwrap();
    let challenge = w.alice.blind(&w.alice_keys, &commitment).unwrap();
    assert_eq!(w.alice.blind(&w.alice_keys, &commitment).unwrap(), challenge, "a retried blinding");
    let expired = w.bank.sign(&challenge, &w.bank_keys, at(2)).unwrap_err();
    assert!(expired.message().contains("expired"), "{expired}");
    assert_eq!(w.bank.balance("alice").unwrap(), amount("5"), "no money moved");
    let commitment = w.bank.commit(&second, &w.bank_keys, at(2)).unwrap();
    let challenge = w.alice.blind(&w.alice_keys, &commitment).unwrap();
    let response = w.bank.sign(&challenge, &w.bank_keys, at(2)).unwrap();
    assert_eq!(w.bank.sign(&challenge, &w.bank_keys, at(2)).unwrap(), response, "a retried challenge");
    let coin = w.alice.finish(&response).unwrap();
    assert_eq!(w.alice.finish(&response).unwrap(), coin, "a retried response");
    assert_eq!(w.bank.balance("alice").unwrap(), amount("4"));
    w.assert_conserved();
}

#[test]
fn a_registration_without_proof_of_its_secret_is_refused() {
    use atomic_commerce::cash::brands::{AccountSecret, generators};
    let mut w = CashWorld::new("1");
    let mallory = PartyKeys::generate("mallory").unwrap();
    let honest = Registration::new(w.bank_keys.key_id(), mallory.identity(), &AccountSecret::generate());
    // I + G2 = 5·G2: her coins would spend, and a second spend would reveal u1 = 0, nobody.
    let g2 = generators().1;
    let mut evasive = honest.clone();
    evasive.identity = point_hex(&(curve25519_dalek::Scalar::from(4u64) * g2));
    let e = w.bank.open_account(&mallory.identity(), Some(&Signed::sign(evasive, &mallory)), now()).unwrap_err();
    assert!(e.message().contains("does not prove knowledge"), "{e}");
    // Eve copies Mallory's identity and proof under her own name: the proof names Mallory.
    let eve = PartyKeys::generate("eve").unwrap();
    let mut copied = honest.clone();
    copied.customer = eve.identity();
    let e = w.bank.open_account(&eve.identity(), Some(&Signed::sign(copied, &eve)), now()).unwrap_err();
    assert!(e.message().contains("does not prove knowledge"), "{e}");
    w.bank.open_account(&mallory.identity(), Some(&Signed::sign(honest, &mallory)), now()).unwrap();
}

#[test]
fn a_voucher_is_cashed_once() {
    let mut w = CashWorld::new("1");
    w.withdraw("1");
    let request = w.offer("order-1", "1");
    w.pay(&request);
    w.recover("order-1", at(11));
    let redemption = w.alice.redeem(&w.alice_keys).unwrap().unwrap();
    let receipt = w.bank.redeem(&redemption, &w.bank_keys, at(12)).unwrap();
    assert_eq!(w.bank.redeem(&redemption, &w.bank_keys, at(13)).unwrap(), receipt);
    let again = Signed::sign(
        Redemption { vouchers: redemption.unverified().vouchers.clone(), bank: w.bank_keys.key_id() },
        &w.shop_keys,
    );
    let e = w.bank.redeem(&again, &w.bank_keys, at(13)).unwrap_err();
    assert!(e.message().contains("redeemed before"), "{e}");
    assert_eq!(w.bank.balance("alice").unwrap(), amount("1"));
    w.alice.redeemed(&receipt).unwrap();
    w.assert_conserved();
}
