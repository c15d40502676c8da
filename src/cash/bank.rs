//! The bank: accounts, withdrawals, deposits with the uniqueness check, double-spender
//! identification, refunds and voucher redemption, on SQLite.
//!
//! Every request is one transaction and idempotent: the same request gets the same answer
//! and moves money once. Each coin the bank has seen is in exactly one state, `deposited`,
//! `refunded` or `returned`, reached from "never seen" by one transaction:
//!
//! - a deposit by the payee before the spend's deadline → `deposited`;
//! - a refund claim by the coin's owner, with the very same spend, at or after the deadline
//!   → `refunded` (a blind voucher of the coin's value);
//! - the paper's return of a coin to its owner's account (a fresh challenge) → `returned`.
//!
//! A coin met again with the same challenge is a retry; with another challenge, a double
//! spend: the two answers reveal the spender, and the bank records a proof anyone can check.
//!
//! Withdrawal sessions of one denomination are serialized (one open at a time, closed after
//! `session_seconds`): concurrent sessions of a blind Schnorr-type signature invite ROS
//! forgeries.

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::cash::brands::BankKey;
use crate::cash::docs::*;
use crate::cash::store::{Blob, Sql, Store, from_json, json};
use crate::cash::voucher::{VoucherKey, VoucherPublic};
use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::doc::{Body, Hex, HexBytes, Signed};

use crate::error::{Error, ErrorKind, Result};
use crate::money::{Amount, from_sql as amount, to_sql as micros};

const SCHEMA: &str = "
CREATE TABLE denominations (
    value INTEGER PRIMARY KEY,
    coin_secret BLOB NOT NULL,
    voucher_secret BLOB NOT NULL
) STRICT;
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key_id TEXT NOT NULL UNIQUE,
    identity TEXT NOT NULL,
    registration TEXT,
    brands_identity BLOB UNIQUE,
    balance INTEGER NOT NULL CHECK (balance >= 0),
    opened_at TEXT NOT NULL
) STRICT;
CREATE TABLE movements (
    id INTEGER PRIMARY KEY,
    account INTEGER NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL CHECK (kind IN ('fund', 'payout', 'withdrawal', 'deposit', 'return', 'redemption')),
    amount INTEGER NOT NULL,
    reference TEXT NOT NULL,
    at TEXT NOT NULL
) STRICT;
CREATE TABLE sessions (
    id BLOB PRIMARY KEY,
    account INTEGER NOT NULL REFERENCES accounts(id),
    denomination INTEGER NOT NULL REFERENCES denominations(value),
    request BLOB NOT NULL,
    w BLOB,
    commitment TEXT NOT NULL,
    expires TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'answered', 'expired')),
    challenge BLOB,
    response TEXT
) STRICT;
CREATE INDEX open_sessions ON sessions(denomination) WHERE state = 'open';
CREATE TABLE coins (
    id BLOB PRIMARY KEY,
    denomination INTEGER NOT NULL REFERENCES denominations(value),
    state TEXT NOT NULL CHECK (state IN ('deposited', 'refunded', 'returned')),
    account INTEGER REFERENCES accounts(id),
    spend TEXT NOT NULL,
    d BLOB NOT NULL,
    blinded BLOB,
    blind_signature BLOB,
    at TEXT NOT NULL
) STRICT;
CREATE TABLE answers (digest BLOB PRIMARY KEY, answer TEXT NOT NULL) STRICT;
CREATE TABLE vouchers (
    serial BLOB PRIMARY KEY,
    denomination INTEGER NOT NULL,
    account INTEGER NOT NULL REFERENCES accounts(id),
    redemption BLOB NOT NULL,
    at TEXT NOT NULL
) STRICT;
CREATE TABLE double_spends (coin BLOB NOT NULL, second_d BLOB NOT NULL, proof TEXT NOT NULL,
    PRIMARY KEY (coin, second_d)) STRICT;
";

/// A bank on one SQLite file.
pub struct Bank {
    store: Store,
    keys: BankKeys,
    document: Signed<BankKeys>,
}

/// An account as the bank reads it in a transaction.
struct AccountRow {
    id: i64,
    name: String,
    balance: Amount,
    registration: Option<String>,
}

impl Bank {
    /// Creates a bank: a Brands key and a voucher key for each denomination, signed into the
    /// `cash.bank` document by `signer`. The file appears only once complete.
    pub fn create(
        path: &Path,
        signer: &PartyKeys,
        denominations: &[Amount],
        session_seconds: u32,
    ) -> Result<Signed<BankKeys>> {
        let mut values = denominations.to_vec();
        values.sort();
        values.dedup();
        let mut secrets = Vec::new();
        let mut public = Vec::new();
        for value in values {
            let coin = BankKey::generate();
            let voucher = VoucherKey::generate()?;
            public.push(Denomination {
                value,
                coin_key: point_hex(&coin.public()),
                voucher_key: HexBytes(voucher.public().to_spki()),
            });
            secrets.push((value, coin.to_bytes(), voucher.to_der()));
        }
        let body = BankKeys { bank: signer.identity(), denominations: public, session_seconds };
        body.check().map_err(Error::usage)?;
        let document = Signed::sign(body, signer);
        let schema = SCHEMA.to_string()
            + &secrets
                .iter()
                .map(|(v, c, k)| {
                    format!(
                        "INSERT INTO denominations VALUES ({}, X'{}', X'{}');",
                        micros(*v),
                        hex::encode(c.as_slice()),
                        hex::encode(k.as_slice())
                    )
                })
                .collect::<String>();
        Store::create(path, "bank", &schema, &[("keys", &document.to_json_line())])?;
        Ok(document)
    }

    /// Opens a bank.
    pub fn open(path: &Path) -> Result<Bank> {
        let store = Store::open(path, "bank", "cash-bank init")?;
        let text = store.required("keys")?;
        let document: Signed<BankKeys> = Signed::parse(text.as_bytes()).map_err(|e| e.at(path.display()))?;
        let keys = BankKeys::from_document(&document).map_err(|e| e.at(path.display()))?;
        Ok(Bank { store, keys, document })
    }

    /// The bank's public key document.
    pub fn document(&self) -> &Signed<BankKeys> {
        &self.document
    }

    /// The bank's public keys.
    pub fn keys(&self) -> &BankKeys {
        &self.keys
    }

    fn check_signer(&self, signer: &PartyKeys) -> Result<()> {
        if signer.key_id() != self.keys.bank.key_id {
            return Err(Error::usage(format!(
                "key {} is not this bank's signing key ({})",
                signer.key_id(),
                self.keys.bank.key_id
            )));
        }
        Ok(())
    }

    fn check_bank(&self, named: KeyId, what: &str) -> Result<()> {
        if named != self.keys.bank.key_id {
            return Err(Error::refused(format!(
                "the {what} is for bank {named}, not this one ({})",
                self.keys.bank.key_id
            )));
        }
        Ok(())
    }

    /// Opens an account for a party; a customer who will withdraw coins also registers her
    /// Brands identity (her signed `cash.registration`).
    pub fn open_account(
        &mut self,
        identity: &Identity,
        registration: Option<&Signed<Registration>>,
        now: Time,
    ) -> Result<()> {
        let brands_identity = match registration {
            Some(doc) => {
                let reg = doc.verify(identity)?;
                self.check_bank(reg.bank, "registration")?;
                if reg.customer != *identity {
                    return Err(Error::refused("the registration names another customer"));
                }
                let i = reg.checked_identity()?;
                if curve25519_dalek::traits::IsIdentity::is_identity(&(i + crate::cash::brands::generators().1)) {
                    return Err(Error::refused("the registered identity is -G2"));
                }
                Some(reg.identity.0.to_vec())
            }
            None => None,
        };
        let registration = registration.map(|r| r.to_json_line());
        self.store.write(|tx| {
            let taken: Option<String> = tx
                .query_row(
                    "SELECT name FROM accounts WHERE name = ?1 OR key_id = ?2 OR brands_identity = ?3",
                    params![identity.name, identity.key_id.to_string(), brands_identity],
                    |r| r.get(0),
                )
                .optional()
                .sql()?;
            if let Some(name) = taken {
                return Err(Error::refused(format!(
                    "account {name} already exists (names, keys and identities are unique)"
                )));
            }
            tx.execute(
                "INSERT INTO accounts (name, key_id, identity, registration, brands_identity, balance, opened_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
                params![
                    identity.name,
                    identity.key_id.to_string(),
                    json(identity),
                    registration,
                    brands_identity,
                    now.to_string()
                ],
            )
            .sql()?;
            Ok(())
        })
    }

    /// Credits external money to an account (`fund`) or pays it out (`payout`); returns the balance.
    pub fn external(&mut self, account: &str, value: Amount, payout: bool, now: Time) -> Result<Amount> {
        if value == Amount::ZERO {
            return Err(Error::usage("the amount must be greater than zero"));
        }
        self.store.write(|tx| {
            let row = account_by(tx, account)?;
            let kind = if payout { "payout" } else { "fund" };
            move_money(tx, &row, value, !payout, kind, "external", now)
        })
    }

    /// An account's balance.
    pub fn balance(&mut self, account: &str) -> Result<Amount> {
        self.store.read(|tx| Ok(account_by(tx, account)?.balance))
    }

    /// First move of a withdrawal: opens the session named in the request (or returns its
    /// commitment again) after checking the account and the funds.
    pub fn commit(
        &mut self,
        request: &Signed<WithdrawalRequest>,
        signer: &PartyKeys,
        now: Time,
    ) -> Result<Signed<WithdrawalCommitment>> {
        self.check_signer(signer)?;
        let body = request.unverified();
        self.check_bank(body.bank, "withdrawal request")?;
        self.keys.denomination(body.denomination)?;
        let digest = request.digest();
        let session_seconds = self.keys.session_seconds;
        self.store.write(|tx| {
            let row = signed_by(tx, request)?;
            let identity = row.brands_identity()?;
            expire_sessions(tx, now)?;
            let existing: Option<(Vec<u8>, String, String)> = tx
                .query_row("SELECT request, commitment, state FROM sessions WHERE id = ?1", [&body.session.0[..]], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .sql()?;
            if let Some((req, commitment, state)) = existing {
                if req != digest.0 {
                    return Err(Error::refused(format!("withdrawal session {} exists with another request", body.session)));
                }
                if state == "expired" {
                    return Err(Error::refused(format!(
                        "withdrawal session {} expired unanswered; start a new one (no money moved)",
                        body.session
                    )));
                }
                return Signed::parse(commitment.as_bytes());
            }
            if row.balance < body.denomination {
                return Err(Error::refused(format!(
                    "insufficient funds: {} has {}, a coin costs {}",
                    row.name, row.balance, body.denomination
                )));
            }
            let open: Option<String> = tx
                .query_row(
                    "SELECT expires FROM sessions WHERE denomination = ?1 AND state = 'open'",
                    [micros(body.denomination)],
                    |r| r.get(0),
                )
                .optional()
                .sql()?;
            if let Some(until) = open {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!(
                        "another withdrawal of {} is in progress until {until} (sessions are served one at a time); retry",
                        body.denomination
                    ),
                ));
            }
            let key = coin_key(tx, body.denomination)?;
            let (w, a, b) = key.commit(&identity);
            let z = key.account_tag(&identity);
            let commitment = Signed::sign(
                WithdrawalCommitment {
                    session: body.session,
                    account: request.signature().key_id,
                    denomination: body.denomination,
                    z: point_hex(&z),
                    a: point_hex(&a),
                    b: point_hex(&b),
                    expires: now.plus(jiff::SignedDuration::from_secs(session_seconds.into()))?,
                },
                signer,
            );
            tx.execute(
                "INSERT INTO sessions (id, account, denomination, request, w, commitment, expires, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open')",
                params![
                    &body.session.0[..],
                    row.id,
                    micros(body.denomination),
                    &digest.0[..],
                    &w.to_bytes()[..],
                    commitment.to_json_line(),
                    commitment.unverified().expires.to_string()
                ],
            )
            .sql()?;
            Ok(commitment)
        })
    }

    /// Second move: answers the blinded challenge of an open session, debiting the account,
    /// and retires the session's secret. A retry of the same challenge gets the same answer.
    pub fn sign(
        &mut self,
        challenge: &Signed<WithdrawalChallenge>,
        signer: &PartyKeys,
        now: Time,
    ) -> Result<Signed<WithdrawalResponse>> {
        self.check_signer(signer)?;
        let body = challenge.unverified();
        self.check_bank(body.bank, "withdrawal challenge")?;
        let c = scalar(&body.c, "the challenge c")?;
        self.store.write(|tx| {
            let row = signed_by(tx, challenge)?;
            expire_sessions(tx, now)?;
            let session = tx
                .query_row(
                    "SELECT account, denomination, w, state, challenge, response FROM sessions WHERE id = ?1",
                    [&body.session.0[..]],
                    |r| {
                        Ok((
                            (r.get::<_, i64>(0)?, r.get::<_, i64>(1)?),
                            r.get::<_, Blob>(2)?,
                            (r.get(3)?, r.get(4)?, r.get(5)?),
                        ))
                    },
                )
                .optional()
                .sql()?;
            let Some(((account, denomination), w, (state, answered, response))): Option<(
                _,
                _,
                (String, Blob, Option<String>),
            )> = session
            else {
                return Err(Error::new(ErrorKind::NoInput, format!("no withdrawal session {}", body.session)));
            };
            if account != row.id {
                return Err(Error::refused(format!("withdrawal session {} belongs to another account", body.session)));
            }
            match (state.as_str(), answered, response) {
                ("answered", Some(answered), Some(response)) if answered == body.c.0 => {
                    return Signed::parse(response.as_bytes());
                }
                ("answered", ..) => {
                    return Err(Error::refused(format!(
                        "withdrawal session {} already answered another challenge",
                        body.session
                    )));
                }
                ("expired", ..) => {
                    return Err(Error::refused(format!(
                        "withdrawal session {} expired before the challenge came; start a new one (no money moved)",
                        body.session
                    )));
                }
                _ => {}
            }
            let value = amount(denomination)?;
            move_money(tx, &row, value, false, "withdrawal", &body.session.to_string(), now)?;
            let w = w.as_deref().and_then(|w| crate::cash::brands::scalar(w.try_into().ok()?));
            let w = w.ok_or_else(|| Error::malformed("an open session without its secret"))?;
            let r = coin_key(tx, value)?.respond(&w, &c);
            let response =
                Signed::sign(WithdrawalResponse { session: body.session, c: body.c, r: scalar_hex(&r) }, signer);
            tx.execute(
                "UPDATE sessions SET state = 'answered', w = NULL, challenge = ?2, response = ?3 WHERE id = ?1",
                params![&body.session.0[..], &body.c.0[..], response.to_json_line()],
            )
            .sql()?;
            Ok(response)
        })
    }

    /// A merchant deposits spends paid to him. Each coin never seen before and still within
    /// its deadline is credited; a retry is answered with the first receipt.
    pub fn deposit(
        &mut self,
        deposit: &Signed<Deposit>,
        signer: &PartyKeys,
        now: Time,
    ) -> Result<Signed<DepositReceipt>> {
        self.check_signer(signer)?;
        let body = deposit.unverified();
        self.check_bank(body.bank, "deposit")?;
        let payee = deposit.signature().key_id;
        for (i, spend) in body.spends.iter().enumerate() {
            if spend.intent.payee != payee {
                return Err(Error::refused(format!(
                    "spend {} is payable to {}, not the depositor",
                    i + 1,
                    spend.intent.payee
                )));
            }
        }
        self.settle_coins(deposit, &body.spends, signer, now, |_| true)
    }

    /// The paper's return of unspent coins to their owner's account, each answering a fresh
    /// challenge whose payee is the bank.
    pub fn give_back(&mut self, ret: &Signed<Return>, signer: &PartyKeys, now: Time) -> Result<Signed<DepositReceipt>> {
        self.check_signer(signer)?;
        let body = ret.unverified();
        self.check_bank(body.bank, "return")?;
        let bank = self.keys.bank.key_id;
        if let Some(i) = body.spends.iter().position(|s| s.intent.payee != bank) {
            return Err(Error::refused(format!(
                "returned coin {} does not answer a challenge payable to the bank",
                i + 1
            )));
        }
        self.settle_coins(ret, &body.spends, signer, now, |_| false)
    }

    /// Credits the signer of `doc` with its spends (see [`Bank::deposit`]); `deadline_applies`
    /// tells whether a spend's deadline bounds it (deposits) or not (returns).
    fn settle_coins<B: crate::doc::Body>(
        &mut self,
        doc: &Signed<B>,
        spends: &[Spend],
        signer: &PartyKeys,
        now: Time,
        deadline_applies: impl Fn(&Spend) -> bool,
    ) -> Result<Signed<DepositReceipt>> {
        let checked: Vec<CheckedSpend> = spends
            .iter()
            .enumerate()
            .map(|(i, s)| s.check(&self.keys).map_err(|e| numbered(e, i)))
            .collect::<Result<_>>()?;
        let digest = doc.digest();
        let (state, kind) = if B::TYPE == Return::TYPE { ("returned", "return") } else { ("deposited", "deposit") };
        self.store.write(|tx| {
            let row = signed_by(tx, doc)?;
            if let Some(answer) = stored_answer(tx, &digest)? {
                return Signed::parse(answer.as_bytes());
            }
            let mut lines = Vec::new();
            let mut credited = Amount::ZERO;
            for (spend, check) in spends.iter().zip(&checked) {
                let value = spend.coin.denomination;
                let outcome = match seen_coin(tx, &spend.coin.big_a)? {
                    None if deadline_applies(spend) && now >= spend.intent.deadline => CoinOutcome::Late,
                    None => {
                        tx.execute(
                            "INSERT INTO coins (id, denomination, state, account, spend, d, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            params![&spend.coin.big_a.0[..], micros(value), state, row.id, json(spend), &check.d.to_bytes()[..], now.to_string()],
                        )
                        .sql()?;
                        credited = credited.checked_add(value)?;
                        CoinOutcome::Credited
                    }
                    Some(seen) if seen.d != check.d.to_bytes() => {
                        record_double_spend(tx, &self.keys, &seen, spend, signer, now)?;
                        CoinOutcome::DoubleSpent
                    }
                    Some(seen) if seen.state == state && seen.account == Some(row.id) => CoinOutcome::AlreadyCredited,
                    Some(_) => CoinOutcome::Late,
                };
                lines.push(CoinResult { coin: spend.coin.big_a, value, outcome });
            }
            if credited > Amount::ZERO {
                move_money(tx, &row, credited, true, kind, &digest.to_string(), now)?;
            }
            let receipt = Signed::sign(
                DepositReceipt { account: doc.signature().key_id, deposit: digest, coins: lines, credited, at: now },
                signer,
            );
            store_answer(tx, &digest, &receipt.to_json_line())?;
            Ok(receipt)
        })
    }

    /// Answers a refund claim by the coin's owner: the coin's state for this very spend, and
    /// after the deadline, if nobody deposited it, a blind voucher of its value.
    pub fn refund(
        &mut self,
        claim: &Signed<RefundClaim>,
        signer: &PartyKeys,
        now: Time,
    ) -> Result<Signed<RefundAnswer>> {
        self.check_signer(signer)?;
        let body = claim.unverified();
        self.check_bank(body.bank, "refund claim")?;
        let check = body.spend.check(&self.keys)?;
        let owner = VerifyingKey::from_bytes(&body.spend.coin.owner.0)
            .map_err(|_| Error::malformed("the coin's owner key is not an Ed25519 key"))?;
        claim.verify_with(KeyId::of(&body.spend.coin.owner.0), &owner, "the coin's owner")?;
        let digest = claim.digest();
        let coin_id = body.spend.coin.big_a;
        let value = body.spend.coin.denomination;
        let answer = |status| Signed::sign(RefundAnswer { coin: coin_id, claim: digest, result: status }, signer);
        // A double spend is recorded (committed) and then refused: the outer result is the
        // transaction's, the inner one the answer's.
        self.store.write(|tx| {
            let status = match seen_coin(tx, &coin_id)? {
                None if now < body.spend.intent.deadline => {
                    RefundStatus::Pending { deadline: body.spend.intent.deadline }
                }
                None => {
                    let blind = voucher_key(tx, value)?.blind_sign(&body.blinded.0)?;
                    tx.execute(
                        "INSERT INTO coins (id, denomination, state, spend, d, blinded, blind_signature, at)
                         VALUES (?1, ?2, 'refunded', ?3, ?4, ?5, ?6, ?7)",
                        params![&coin_id.0[..], micros(value), json(&body.spend), &check.d.to_bytes()[..], &body.blinded.0, &blind, now.to_string()],
                    )
                    .sql()?;
                    RefundStatus::Refunded { blind_signature: HexBytes(blind) }
                }
                Some(seen) if seen.d != check.d.to_bytes() => {
                    record_double_spend(tx, &self.keys, &seen, &body.spend, signer, now)?;
                    return Ok(Err(Error::refused(format!(
                        "coin {coin_id} was spent with another challenge: a double spend, recorded with its spender's identity"
                    ))));
                }
                Some(seen) => match seen.state.as_str() {
                    "deposited" => {
                        let payee = from_json::<Spend>(&seen.spend)?.intent.payee;
                        RefundStatus::Deposited { payee, at: seen.at.parse()? }
                    }
                    "refunded" if seen.blinded.as_deref() == Some(&body.blinded.0[..]) => {
                        RefundStatus::Refunded { blind_signature: HexBytes(seen.blind_signature.unwrap_or_default()) }
                    }
                    "refunded" => {
                        return Ok(Err(Error::refused(format!(
                            "coin {coin_id} was already refunded, to another voucher request"
                        ))));
                    }
                    other => {
                        return Ok(Err(Error::refused(format!("coin {coin_id} was {other} to its owner's account"))));
                    }
                },
            };
            Ok(Ok(answer(status)))
        })?
    }

    /// Credits the signer's account with vouchers never redeemed before; a retry of the same
    /// redemption gets the first receipt.
    pub fn redeem(
        &mut self,
        redemption: &Signed<Redemption>,
        signer: &PartyKeys,
        now: Time,
    ) -> Result<Signed<RedemptionReceipt>> {
        self.check_signer(signer)?;
        let body = redemption.unverified();
        self.check_bank(body.bank, "redemption")?;
        let mut total = Amount::ZERO;
        for v in &body.vouchers {
            let key = VoucherPublic::from_spki(&self.keys.denomination(v.denomination)?.voucher_key.0)?;
            key.verify(&crate::cash::voucher::Voucher {
                denomination: v.denomination,
                serial: v.serial.0,
                randomizer: v.randomizer.0,
                signature: v.signature.0.clone(),
            })?;
            total = total.checked_add(v.denomination)?;
        }
        let digest = redemption.digest();
        self.store.write(|tx| {
            let row = signed_by(tx, redemption)?;
            if let Some(answer) = stored_answer(tx, &digest)? {
                return Signed::parse(answer.as_bytes());
            }
            for v in &body.vouchers {
                let taken = tx.execute(
                    "INSERT INTO vouchers (serial, denomination, account, redemption, at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT DO NOTHING",
                    params![&v.serial.0[..], micros(v.denomination), row.id, &digest.0[..], now.to_string()],
                )
                .sql()?;
                if taken == 0 {
                    return Err(Error::refused(format!("voucher {} was redeemed before", v.serial)));
                }
            }
            move_money(tx, &row, total, true, "redemption", &digest.to_string(), now)?;
            let receipt = Signed::sign(
                RedemptionReceipt {
                    account: redemption.signature().key_id,
                    serials: body.vouchers.iter().map(|v| v.serial).collect(),
                    credited: total,
                },
                signer,
            );
            store_answer(tx, &digest, &receipt.to_json_line())?;
            Ok(receipt)
        })
    }

    /// The state of a coin at the bank (`deposited`, `refunded`, `returned`), `None` if never seen.
    pub fn coin_state(&mut self, coin: &Hex<32>) -> Result<Option<String>> {
        self.store.read(|tx| Ok(seen_coin(tx, coin)?.map(|c| c.state)))
    }

    /// Every double spend recorded, as proofs.
    pub fn double_spends(&mut self) -> Result<Vec<Signed<DoubleSpend>>> {
        self.store.read(|tx| {
            let mut stmt = tx.prepare("SELECT proof FROM double_spends ORDER BY rowid").sql()?;
            let proofs = stmt.query_map([], |r| r.get::<_, String>(0)).sql()?;
            proofs.map(|p| Signed::parse(p.sql()?.as_bytes())).collect()
        })
    }

    /// The bank's books: balances, and money outstanding in coins and vouchers.
    pub fn audit(&mut self) -> Result<Audit> {
        self.store.read(|tx| {
            let sum = |sql: &str| -> Result<i64> { tx.query_row(sql, [], |r| r.get::<_, Option<i64>>(0)).sql().map(|v| v.unwrap_or(0)) };
            let funded = sum("SELECT SUM(amount) FROM movements WHERE kind = 'fund'")?;
            let paid_out = -sum("SELECT SUM(amount) FROM movements WHERE kind = 'payout'")?;
            let issued = -sum("SELECT SUM(amount) FROM movements WHERE kind = 'withdrawal'")?;
            let settled = sum("SELECT SUM(denomination) FROM coins")?;
            let refunded = sum("SELECT SUM(denomination) FROM coins WHERE state = 'refunded'")?;
            let redeemed = sum("SELECT SUM(denomination) FROM vouchers")?;
            let balances = sum("SELECT SUM(balance) FROM accounts")?;
            let mut problems = Vec::new();
            let mut stmt = tx
                .prepare("SELECT a.name, a.balance, COALESCE(SUM(m.amount), 0) FROM accounts a LEFT JOIN movements m ON m.account = a.id GROUP BY a.id")
                .sql()?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))).sql()?;
            for row in rows {
                let (name, balance, moved) = row.sql()?;
                if balance != moved {
                    problems.push(format!("account {name}: balance {balance} but movements sum to {moved} (micro-units)"));
                }
            }
            let credited = sum("SELECT SUM(amount) FROM movements WHERE kind IN ('deposit', 'return')")?;
            let credited_coins = sum("SELECT SUM(denomination) FROM coins WHERE state IN ('deposited', 'returned')")?;
            if credited != credited_coins {
                problems.push(format!("deposits credited {credited} but deposited coins are worth {credited_coins}"));
            }
            let outstanding_coins = issued - settled;
            let outstanding_vouchers = refunded - redeemed;
            if outstanding_coins < 0 || outstanding_vouchers < 0 {
                problems.push("more coins or vouchers came back than were issued".into());
            }
            if balances + outstanding_coins + outstanding_vouchers != funded - paid_out {
                problems.push("balances + outstanding coins + outstanding vouchers != funded - paid out".into());
            }
            let double_spends = sum("SELECT COUNT(*) FROM double_spends")?;
            Ok(Audit {
                funded: amount(funded)?,
                paid_out: amount(paid_out)?,
                balances: amount(balances)?,
                outstanding_coins: amount(outstanding_coins.max(0))?,
                outstanding_vouchers: amount(outstanding_vouchers.max(0))?,
                double_spends: u64::try_from(double_spends).unwrap_or(0),
                problems,
            })
        })
    }
}

/// The bank's audit report (`cash-bank audit`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Audit {
    /// External money paid in.
    pub funded: Amount,
    /// External money paid out.
    pub paid_out: Amount,
    /// Sum of account balances.
    pub balances: Amount,
    /// Coins withdrawn and not yet deposited, returned or refunded.
    pub outstanding_coins: Amount,
    /// Vouchers issued and not yet redeemed.
    pub outstanding_vouchers: Amount,
    /// Double spends recorded.
    pub double_spends: u64,
    /// Broken invariants (empty when the books are right).
    pub problems: Vec<String>,
}

impl crate::doc::Body for Audit {
    const TYPE: &'static str = "cash.audit";
}

fn numbered(e: Error, i: usize) -> Error {
    Error::new(e.kind(), format!("spend {}: {}", i + 1, e.message()))
}

impl AccountRow {
    fn brands_identity(&self) -> Result<curve25519_dalek::ristretto::RistrettoPoint> {
        let reg = self.registration.as_deref().ok_or_else(|| {
            Error::refused(format!(
                "account {} has no registered cash identity; open it with a registration",
                self.name
            ))
        })?;
        let reg: Signed<Registration> = Signed::parse(reg.as_bytes())?;
        point(&reg.unverified().identity, "the registered identity")
    }
}

fn account_by(tx: &Transaction, account: &str) -> Result<AccountRow> {
    tx.query_row(
        "SELECT id, name, balance, registration FROM accounts WHERE name = ?1 OR key_id = ?1",
        [account],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<String>>(3)?)),
    )
    .optional()
    .sql()?
    .ok_or_else(|| Error::new(ErrorKind::NoInput, format!("no account {account:?}")))
    .and_then(|(id, name, balance, registration)| Ok(AccountRow { id, name, balance: amount(balance)?, registration }))
}

/// The account that signed `doc`, its signature checked against the identity it opened with.
fn signed_by<B: crate::doc::Body>(tx: &Transaction, doc: &Signed<B>) -> Result<AccountRow> {
    let key_id = doc.signature().key_id.to_string();
    let row = account_by(tx, &key_id)
        .map_err(|_| Error::refused(format!("{} is signed by key {key_id}, which has no account here", B::TYPE)))?;
    let identity: String = tx.query_row("SELECT identity FROM accounts WHERE id = ?1", [row.id], |r| r.get(0)).sql()?;
    doc.verify(&from_json::<Identity>(&identity)?)?;
    Ok(row)
}

fn move_money(
    tx: &Transaction,
    row: &AccountRow,
    value: Amount,
    credit: bool,
    kind: &str,
    reference: &str,
    now: Time,
) -> Result<Amount> {
    let balance = if credit {
        row.balance.checked_add(value)?
    } else {
        row.balance.checked_sub(value).ok_or_else(|| {
            Error::refused(format!("insufficient funds: {} has {}, needs {value}", row.name, row.balance))
        })?
    };
    let delta = if credit { micros(value) } else { -micros(value) };
    tx.execute(
        "INSERT INTO movements (account, kind, amount, reference, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![row.id, kind, delta, reference, now.to_string()],
    )
    .sql()?;
    tx.execute("UPDATE accounts SET balance = ?1 WHERE id = ?2", params![micros(balance), row.id]).sql()?;
    Ok(balance)
}

fn expire_sessions(tx: &Transaction, now: Time) -> Result<()> {
    // Times are fixed-width RFC 3339 UTC, so text order is time order.
    tx.execute(
        "UPDATE sessions SET state = 'expired', w = NULL WHERE state = 'open' AND expires <= ?1",
        [now.to_string()],
    )
    .sql()?;
    Ok(())
}

fn coin_key(tx: &Transaction, value: Amount) -> Result<BankKey> {
    let bytes: Vec<u8> =
        tx.query_row("SELECT coin_secret FROM denominations WHERE value = ?1", [micros(value)], |r| r.get(0)).sql()?;
    let bytes = zeroize::Zeroizing::new(bytes);
    BankKey::from_bytes(bytes.as_slice().try_into().map_err(|_| Error::malformed("invalid coin key"))?)
}

fn voucher_key(tx: &Transaction, value: Amount) -> Result<VoucherKey> {
    let der: Vec<u8> = tx
        .query_row("SELECT voucher_secret FROM denominations WHERE value = ?1", [micros(value)], |r| r.get(0))
        .sql()?;
    VoucherKey::from_der(&zeroize::Zeroizing::new(der))
}

/// A coin the bank has seen.
struct SeenCoin {
    state: String,
    account: Option<i64>,
    spend: String,
    d: Vec<u8>,
    blinded: Option<Vec<u8>>,
    blind_signature: Option<Vec<u8>>,
    at: String,
}

fn seen_coin(tx: &Transaction, id: &Hex<32>) -> Result<Option<SeenCoin>> {
    tx.query_row(
        "SELECT state, account, spend, d, blinded, blind_signature, at FROM coins WHERE id = ?1",
        [&id.0[..]],
        |r| {
            Ok(SeenCoin {
                state: r.get(0)?,
                account: r.get(1)?,
                spend: r.get(2)?,
                d: r.get(3)?,
                blinded: r.get(4)?,
                blind_signature: r.get(5)?,
                at: r.get(6)?,
            })
        },
    )
    .optional()
    .sql()
}

/// Records the proof that the coin of `seen` was spent again as `second`, naming its spender.
fn record_double_spend(
    tx: &Transaction,
    keys: &BankKeys,
    seen: &SeenCoin,
    second: &Spend,
    signer: &PartyKeys,
    now: Time,
) -> Result<()> {
    let first: Spend = from_json(&seen.spend)?;
    let (a, b) = (first.check(keys)?, second.check(keys)?);
    let identity = crate::cash::brands::identify(&a.coin, (a.d, a.r1, a.r2), (b.d, b.r1, b.r2))
        .ok_or_else(|| Error::malformed("two answers for one coin that do not identify anyone"))?;
    let registration: String = tx
        .query_row("SELECT registration FROM accounts WHERE brands_identity = ?1", [&point_hex(&identity).0[..]], |r| {
            r.get(0)
        })
        .optional()
        .sql()?
        .ok_or_else(|| Error::malformed("a double spender with no registered account"))?;
    let proof = Signed::sign(
        DoubleSpend { first, second: second.clone(), registration: Signed::parse(registration.as_bytes())?, at: now },
        signer,
    );
    tx.execute(
        "INSERT INTO double_spends (coin, second_d, proof) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![&second.coin.big_a.0[..], &b.d.to_bytes()[..], proof.to_json_line()],
    )
    .sql()?;
    Ok(())
}

fn stored_answer(tx: &Transaction, digest: &Hex<32>) -> Result<Option<String>> {
    tx.query_row("SELECT answer FROM answers WHERE digest = ?1", [&digest.0[..]], |r| r.get(0)).optional().sql()
}

fn store_answer(tx: &Transaction, digest: &Hex<32>, answer: &str) -> Result<()> {
    tx.execute("INSERT INTO answers (digest, answer) VALUES (?1, ?2)", params![&digest.0[..], answer]).sql()?;
    Ok(())
}
