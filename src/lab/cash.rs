//! Digital cash in the lab, as in the paper and with our recovery, through the bank, wallet
//! and merchant of [`crate::cash`].
//!
//! Messages: the merchant's payment request, the customer's payment, the merchant's
//! acknowledgement (which carries the goods), the deposit and its receipt. The merchant retries
//! an unanswered deposit before the deadline. After a failure the customer takes one of the
//! paper's two options (she returns an unacknowledged coin to the bank, or she keeps it and
//! waits), or, with our recovery, she sends the same payment again and then asks the bank about
//! the very same spend (paid, or refunded as a voucher she cashes).

use crate::cash::bank::Bank;
use crate::cash::docs::{Deposit, DepositReceipt, Payment, PaymentAck, PaymentRequest};
use crate::cash::merchant::Merchant;
use crate::cash::wallet::Wallet;
use crate::clock::Time;
use crate::crypto::keys::PartyKeys;
use crate::doc::{Hex, Plain, Signed};
use crate::error::Result;
use crate::lab::scratch;
use crate::lab::{Outcome, Protocol, Run};
use crate::money::Amount;

/// What the customer does when a payment goes unacknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The paper's first option: return the coin to the bank.
    Return,
    /// The paper's second option: keep the coin and wait.
    Keep,
    /// Ours: the same payment again, then the bank about the same spend after the deadline.
    Recover,
}

/// Digital cash, with the customer following `policy` after a failure.
pub struct DigiCash {
    /// Her recovery policy.
    pub policy: Policy,
}

impl Protocol for DigiCash {
    fn name(&self) -> &'static str {
        match self.policy {
            Policy::Return => "digicash-return",
            Policy::Keep => "digicash-keep",
            Policy::Recover => "digicash-recovery",
        }
    }
    fn label(&self) -> &'static str {
        match self.policy {
            Policy::Return => "DigiCash (paper; she returns the coin)",
            Policy::Keep => "DigiCash (paper; she keeps the coin)",
            Policy::Recover => "DigiCash with our recovery",
        }
    }
    fn steps(&self) -> &'static [&'static str] {
        &["payment-request", "payment", "ack-with-goods", "deposit", "deposit-receipt"]
    }
    fn misbehaviours(&self) -> &'static [&'static str] {
        &["merchant-replays-deposit"]
    }
    fn start(&self, misbehaviour: Option<&'static str>) -> Result<Box<dyn Run>> {
        Ok(Box::new(CashRun::new(self.policy, misbehaviour)?))
    }
}

struct CashRun {
    dir: tempfile::TempDir,
    policy: Policy,
    replay: bool,
    now: Time,
    bank_keys: PartyKeys,
    alice_keys: PartyKeys,
    shop_keys: PartyKeys,
    coin: Hex<32>,
    // Messages each party holds or has yet to send.
    request: Option<Signed<PaymentRequest>>,
    her_request: Option<Signed<PaymentRequest>>,
    payment: Option<Payment>,
    ack_out: Option<Signed<PaymentAck>>,
    her_ack: bool,
    last_deposit: Option<Signed<Deposit>>,
    receipt_out: Option<Signed<DepositReceipt>>,
}

const FUNDS: &str = "1";

impl CashRun {
    fn new(policy: Policy, misbehaviour: Option<&'static str>) -> Result<CashRun> {
        let dir = scratch()?;
        let now: Time = "2026-11-25T12:00:00Z".parse()?;
        let one: Amount = FUNDS.parse()?;
        let (bank_keys, alice_keys, shop_keys) =
            (PartyKeys::generate("bank")?, PartyKeys::generate("alice")?, PartyKeys::generate("bookshop")?);
        let path = |n: &str| dir.path().join(n);
        let document = Bank::create(&path("bank.db"), &bank_keys, &[one], 60)?.to_json_line();
        let mut bank = Bank::open(&path("bank.db"))?;
        let registration = Wallet::create(&path("alice.wallet"), document.as_bytes(), &alice_keys)?;
        bank.open_account(&alice_keys.identity(), Some(&registration), now)?;
        Merchant::create(&path("shop.db"), document.as_bytes(), &shop_keys)?;
        bank.open_account(&shop_keys.identity(), None, now)?;
        bank.external("alice", one, false, now)?;
        let mut wallet = Wallet::open(&path("alice.wallet"))?;
        let request = wallet.request(&alice_keys, one)?;
        let challenge = wallet.blind(&alice_keys, &bank.commit(&request, &bank_keys, now)?)?;
        let coin = wallet.finish(&bank.sign(&challenge, &bank_keys, now)?)?.big_a;
        Ok(CashRun {
            dir,
            policy,
            replay: misbehaviour == Some("merchant-replays-deposit"),
            now,
            bank_keys,
            alice_keys,
            shop_keys,
            coin,
            request: None,
            her_request: None,
            payment: None,
            ack_out: None,
            her_ack: false,
            last_deposit: None,
            receipt_out: None,
        })
    }

    fn bank(&self) -> Option<Bank> {
        Bank::open(&self.dir.path().join("bank.db")).ok()
    }
    fn wallet(&self) -> Option<Wallet> {
        Wallet::open(&self.dir.path().join("alice.wallet")).ok()
    }
    fn shop(&self) -> Option<Merchant> {
        Merchant::open(&self.dir.path().join("shop.db")).ok()
    }

    /// The merchant accepts a payment (the same acknowledgement for the same payment).
    fn accept(&mut self, payment: &Payment) {
        if let Some(ack) = self.shop().and_then(|mut s| s.accept(&self.shop_keys, payment, self.now).ok()) {
            self.ack_out = Some(ack);
        }
    }

    /// The merchant deposits what he has accepted and not been credited for; records the receipt.
    fn merchant_deposits(&mut self) {
        let Some(deposit) = self.shop().and_then(|mut s| s.deposit(&self.shop_keys, self.now).ok().flatten()) else {
            return;
        };
        if let Some(receipt) = self.bank().and_then(|mut b| b.deposit(&deposit, &self.bank_keys, self.now).ok()) {
            let _ = self.shop().map(|mut s| s.record(&receipt));
        }
        self.last_deposit = Some(deposit);
    }
}

impl Run for CashRun {
    fn send(&mut self, step: usize) -> Option<Vec<u8>> {
        match step {
            0 => {
                if self.request.is_none() {
                    // With the recovery, the merchant must deposit within ten minutes; as in
                    // the paper, whenever he likes (a deadline that never binds).
                    let window = if self.policy == Policy::Recover {
                        jiff::SignedDuration::from_mins(10)
                    } else {
                        jiff::SignedDuration::from_hours(24 * 365)
                    };
                    let deadline = self.now.plus(window).ok()?;
                    let one: Amount = FUNDS.parse().ok()?;
                    self.request = self.shop()?.offer(&self.shop_keys, "order-1", "a book", one, deadline).ok();
                }
                self.request.as_ref().map(|r| r.to_json_line().into_bytes())
            }
            1 => {
                let request = self.her_request.clone()?;
                let payment = self.wallet()?.pay(&request, self.now).ok()?;
                Some(payment.to_json_line().into_bytes())
            }
            2 => self.ack_out.as_ref().map(|a| a.to_json_line().into_bytes()),
            3 => {
                let deposit = self.shop()?.deposit(&self.shop_keys, self.now).ok()??;
                self.last_deposit = Some(deposit.clone());
                Some(deposit.to_json_line().into_bytes())
            }
            _ => self.receipt_out.as_ref().map(|r| r.to_json_line().into_bytes()),
        }
    }

    fn deliver(&mut self, step: usize, message: &[u8]) {
        match step {
            0 => self.her_request = Signed::parse(message).ok(),
            1 => {
                if let Ok(payment) = Plain::<Payment>::parse(message) {
                    self.payment = Some(payment.clone());
                    self.accept(&payment);
                }
            }
            2 => {
                if let Ok(ack) = Signed::<PaymentAck>::parse(message)
                    && self.wallet().is_some_and(|mut w| w.acknowledge(&ack).is_ok())
                {
                    self.her_ack = true;
                }
            }
            3 => {
                if let Ok(deposit) = Signed::<Deposit>::parse(message) {
                    self.receipt_out =
                        self.bank().and_then(|mut b| b.deposit(&deposit, &self.bank_keys, self.now).ok());
                }
            }
            _ => {
                if let Ok(receipt) = Signed::<DepositReceipt>::parse(message) {
                    let _ = self.shop().map(|mut s| s.record(&receipt));
                }
            }
        }
    }

    fn crash(&mut self, step: usize) {
        match step {
            1 => self.ack_out = None,
            3 => self.receipt_out = None,
            _ => {}
        }
    }

    fn pass_timeouts(&mut self) {
        // Before the deadline the merchant retries a deposit the bank has not answered.
        self.merchant_deposits();
        self.now = self.now.plus(jiff::SignedDuration::from_mins(11)).expect("in range");
    }

    fn recover(&mut self) -> Vec<String> {
        let mut did = Vec::new();
        if self.replay
            && let Some(deposit) = self.last_deposit.clone()
        {
            let credited = self.bank().and_then(|mut b| b.deposit(&deposit, &self.bank_keys, self.now).ok());
            did.push(format!(
                "the merchant replays his deposit: credited {:?}",
                credited.map(|r| r.unverified().credited)
            ));
        }
        if self.her_ack || self.policy == Policy::Keep {
            if !self.her_ack {
                did.push("no acknowledgement: she keeps the coin and waits".into());
            }
            return did;
        }
        let Some(request) = self.her_request.clone() else { return did };
        let Some(mut wallet) = self.wallet() else { return did };
        let Ok(payment) = wallet.pay(&request, self.now) else { return did };
        if self.policy == Policy::Return {
            // The paper's first option: return the unacknowledged coin to the bank.
            if let Ok(ret) = wallet.give_back(&self.alice_keys, &[self.coin], true, self.now) {
                let receipt = self.bank().map(|mut b| b.give_back(&ret, &self.bank_keys, self.now));
                let outcome = receipt.and_then(|r| r.ok()).map(|r| r.unverified().coins[0].outcome);
                did.push(format!("no acknowledgement: she returns the coin to the bank: {outcome:?}"));
            }
            return did;
        }
        // Our recovery: the same payment again (the merchant answers it if he had it)...
        self.accept(&payment.0);
        if let Some(ack) = self.ack_out.clone()
            && wallet.acknowledge(&ack).is_ok()
        {
            self.her_ack = true;
            did.push("she sends the same payment again: acknowledged, with the goods".into());
        }
        // ...then the bank, about the very same spend; then the vouchers are cashed.
        let Some(mut bank) = self.bank() else { return did };
        for claim in wallet.claim("order-1", None).unwrap_or_default() {
            if let Ok(answer) = bank.refund(&claim, &self.bank_keys, self.now) {
                let settled = wallet.settle(&answer);
                did.push(format!("she asks the bank about the same spend: {settled:?}"));
            }
        }
        if let Ok(Some(redemption)) = wallet.redeem(&self.alice_keys)
            && let Ok(receipt) = bank.redeem(&redemption, &self.bank_keys, self.now)
            && let Ok(credited) = wallet.redeemed(&receipt)
        {
            did.push(format!("she cashes her voucher: {credited}"));
        }
        did
    }

    fn outcome(&mut self) -> Outcome {
        let (Some(mut bank), Some(mut wallet)) = (self.bank(), self.wallet()) else {
            return Outcome { money: Some(false), notes: vec!["a store does not open".into()], ..Outcome::default() };
        };
        let mut read = || -> Result<_> {
            let audit = bank.audit()?;
            let contents = wallet.contents()?;
            let (alice, shop) = (bank.balance("alice")?, bank.balance("bookshop")?);
            let state = bank.coin_state(&self.coin)?;
            let accused = bank.double_spends()?.len();
            Ok((audit, contents, alice, shop, state, accused))
        };
        let Ok((audit, contents, alice, shop, state, accused)) = read() else {
            return Outcome { money: Some(false), notes: vec!["a store cannot be read".into()], ..Outcome::default() };
        };
        let one: Amount = FUNDS.parse().expect("an amount");
        let credited_to_shop = shop == one;
        let merchant_holds = self.shop().and_then(|mut s| s.coins().ok()).unwrap_or_default();
        let merchant_lost = merchant_holds.iter().any(|(_, _, s)| s != "credited");
        let stuck = contents.coins.iter().any(|c| c.state == "pending") && state.is_none();
        let usable =
            [alice, contents.fresh, contents.vouchers].into_iter().try_fold(Amount::ZERO, |a, b| a.checked_add(b));
        let conserved = usable.ok().and_then(|u| u.checked_add(shop).ok()) == Some(one);
        let mut notes = vec![format!(
            "alice {alice} (+{} in coins, +{} in vouchers), bookshop {shop}; coin at the bank: {}; double spends recorded: {accused}",
            contents.fresh,
            contents.vouchers,
            state.as_deref().unwrap_or("unseen")
        )];
        if stuck {
            notes.push("her coin is stuck: handed over, never deposited, and she cannot safely use it".into());
        }
        if merchant_lost {
            notes.push("the merchant accepted a coin the bank did not credit him for".into());
        }
        let money = audit.problems.is_empty() && conserved && !stuck && !merchant_lost && accused == 0;
        let got_goods = self.her_ack;
        let paid = credited_to_shop;
        Outcome { money: Some(money), goods: Some(got_goods == paid), certified: Some(false), notes }
    }
}
