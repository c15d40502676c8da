//! A digital-cash world for tests and benchmarks: a bank with alice (customer), bob (a second
//! customer) and a bookshop (merchant), driven through the same library calls the tools make.

use std::path::PathBuf;

use atomic_commerce::cash::bank::Bank;
use atomic_commerce::cash::docs::*;
use atomic_commerce::cash::merchant::Merchant;
use atomic_commerce::cash::wallet::{Settled, Wallet};
use atomic_commerce::clock::Time;
use atomic_commerce::crypto::keys::PartyKeys;
use atomic_commerce::doc::{Plain, Signed};
use atomic_commerce::fsio;
use atomic_commerce::money::Amount;

use super::now;

pub fn amount(s: &str) -> Amount {
    s.parse().unwrap()
}

/// `now` plus `minutes`.
pub fn at(minutes: i64) -> Time {
    now().plus(jiff::SignedDuration::from_mins(minutes)).unwrap()
}

pub struct CashWorld {
    pub dir: tempfile::TempDir,
    pub bank_keys: PartyKeys,
    pub bank: Bank,
    pub alice_keys: PartyKeys,
    pub alice: Wallet,
    pub shop_keys: PartyKeys,
    pub shop: Merchant,
    /// The bank's public document as customers and merchants pin it.
    pub bank_doc: String,
    pub funded: Amount,
}

impl CashWorld {
    /// A bank issuing coins of 0.1, 1 and 5; alice funded with `funds`; a bookshop.
    pub fn new(funds: &str) -> CashWorld {
        let dir = tempfile::tempdir().unwrap();
        let bank_keys = PartyKeys::generate("bank").unwrap();
        let doc = Bank::create(&dir.path().join("bank.db"), &bank_keys, &[amount("0.1"), amount("1"), amount("5")], 60)
            .unwrap();
        let bank_doc = doc.to_json_pretty();
        let mut bank = Bank::open(&dir.path().join("bank.db")).unwrap();
        let alice_keys = PartyKeys::generate("alice").unwrap();
        let reg = Wallet::create(&dir.path().join("alice.wallet"), bank_doc.as_bytes(), &alice_keys).unwrap();
        bank.open_account(&alice_keys.identity(), Some(&reg), now()).unwrap();
        let shop_keys = PartyKeys::generate("bookshop").unwrap();
        Merchant::create(&dir.path().join("shop.db"), bank_doc.as_bytes(), &shop_keys).unwrap();
        bank.open_account(&shop_keys.identity(), None, now()).unwrap();
        let funded = amount(funds);
        bank.external("alice", funded, false, now()).unwrap();
        for (keys, file) in [(&bank_keys, "bank.key"), (&alice_keys, "alice.key"), (&shop_keys, "shop.key")] {
            fsio::write_secret(&dir.path().join(file), keys.to_file().as_bytes()).unwrap();
        }
        fsio::write_new(&dir.path().join("bank.json"), bank_doc.as_bytes()).unwrap();
        let alice = Wallet::open(&dir.path().join("alice.wallet")).unwrap();
        let shop = Merchant::open(&dir.path().join("shop.db")).unwrap();
        CashWorld { dir, bank_keys, bank, alice_keys, alice, shop_keys, shop, bank_doc, funded }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A tool run in the world's directory, with every party's files in its environment and
    /// the clock at `when`.
    pub fn tool(&self, name: &str, when: Time) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin(name).unwrap();
        cmd.current_dir(self.dir.path()).env("ATOMIC_COMMERCE_NOW", when.to_string());
        for (var, file) in [
            ("CASH_BANK_DB", "bank.db"),
            ("CASH_BANK_KEY", "bank.key"),
            ("CASH_WALLET", "alice.wallet"),
            ("CASH_KEY", "alice.key"),
            ("CASH_MERCHANT", "shop.db"),
            ("CASH_MERCHANT_KEY", "shop.key"),
        ] {
            cmd.env(var, self.path(file));
        }
        cmd
    }

    /// Writes a file in the world's directory.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Withdraws one coin of `value` through the three moves.
    pub fn withdraw(&mut self, value: &str) -> CoinDoc {
        let request = self.alice.request(&self.alice_keys, amount(value)).unwrap();
        let commitment = self.bank.commit(&request, &self.bank_keys, now()).unwrap();
        let challenge = self.alice.blind(&self.alice_keys, &commitment).unwrap();
        let response = self.bank.sign(&challenge, &self.bank_keys, now()).unwrap();
        self.alice.finish(&response).unwrap()
    }

    /// The bookshop's request for `order` at `price`, depositable for ten minutes.
    pub fn offer(&mut self, order: &str, price: &str) -> Signed<PaymentRequest> {
        self.shop.offer(&self.shop_keys, order, "a book", amount(price), at(10)).unwrap()
    }

    pub fn pay(&mut self, request: &Signed<PaymentRequest>) -> Payment {
        self.alice.pay(request, now()).unwrap().0
    }

    pub fn accept(&mut self, payment: &Payment) -> Signed<PaymentAck> {
        self.shop.accept(&self.shop_keys, payment, now()).unwrap()
    }

    /// The bookshop deposits everything accepted, at `when`; the receipt is recorded.
    pub fn deposit(&mut self, when: Time) -> Option<Signed<DepositReceipt>> {
        let deposit = self.shop.deposit(&self.shop_keys, when).unwrap()?;
        let receipt = self.bank.deposit(&deposit, &self.bank_keys, when).unwrap();
        self.shop.record(&receipt).unwrap();
        Some(receipt)
    }

    /// Alice recovers the payment of `order` at `when`: claims, the bank answers, she applies.
    pub fn recover(&mut self, order: &str, when: Time) -> Vec<Settled> {
        let claims = self.alice.claim(order, None).unwrap();
        claims
            .iter()
            .map(|c| {
                let answer = self.bank.refund(c, &self.bank_keys, when).unwrap();
                self.alice.settle(&answer).unwrap()
            })
            .collect()
    }

    /// Alice cashes her vouchers into her account.
    pub fn redeem(&mut self) -> Amount {
        let Some(redemption) = self.alice.redeem(&self.alice_keys).unwrap() else { return Amount::ZERO };
        let receipt = self.bank.redeem(&redemption, &self.bank_keys, now()).unwrap();
        self.alice.redeemed(&receipt).unwrap()
    }

    /// Money conservation over every account, coin and voucher: what alice and the bookshop
    /// hold (balances, fresh and pending coins, vouchers) equals what was funded, and the
    /// bank's own audit agrees.
    pub fn assert_conserved(&mut self) {
        let audit = self.bank.audit().unwrap();
        assert!(audit.problems.is_empty(), "{:?}", audit.problems);
        let c = self.alice.contents().unwrap();
        let held = [
            self.bank.balance("alice").unwrap(),
            self.bank.balance("bookshop").unwrap(),
            c.fresh,
            c.pending,
            c.vouchers,
        ]
        .into_iter()
        .fold(Amount::ZERO, |s, a| s.checked_add(a).unwrap());
        // A pending coin the bank has credited is counted in a balance already.
        let deposited_pending = self.deposited_pending();
        assert_eq!(held.checked_sub(deposited_pending).unwrap(), self.funded, "{c:?}");
        assert_eq!(
            audit
                .balances
                .checked_add(audit.outstanding_coins)
                .unwrap()
                .checked_add(audit.outstanding_vouchers)
                .unwrap(),
            self.funded
        );
    }

    /// Her pending coins the bank has credited to someone already (she learns it on recovery).
    fn deposited_pending(&mut self) -> Amount {
        let c = self.alice.contents().unwrap();
        let mut sum = Amount::ZERO;
        for l in c.coins.iter().filter(|l| l.state == "pending") {
            if matches!(self.bank.coin_state(&l.coin).unwrap().as_deref(), Some("deposited" | "returned")) {
                sum = sum.checked_add(l.value).unwrap();
            }
        }
        sum
    }

    pub fn payment_line(payment: &Payment) -> String {
        Plain(payment.clone()).to_json_line()
    }
}
