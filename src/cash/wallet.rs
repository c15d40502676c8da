//! The customer's wallet: her account secret, coins with their secrets, payment intents,
//! refund claims and vouchers, on SQLite.
//!
//! The wallet writes ahead: every secret and every decision is committed before the document
//! that depends on it is released, so a crash at any point leaves a state from which the same
//! step, run again, sends the same bytes. The rule that keeps her from ever being accused:
//! a coin answers at most one challenge, ever. A coin handed to a merchant stays bound to that
//! payment; if the payment's fate is unknown she asks the bank with the very same answer
//! (a refund claim), never with a new one.

use std::path::Path;

use ed25519_dalek::{Signer, SigningKey};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cash::brands::{self, AccountSecret, CoinSecrets, Withdrawal};
use crate::cash::docs::*;
use crate::cash::store::{Blob, Sql, Store, from_json, json};
use crate::cash::voucher::{PendingVoucher, VoucherPublic};
use crate::clock::Time;
use crate::crypto::keys::{KeyId, PartyKeys};
use crate::doc::{Body, Hex, HexBytes, Plain, Signed};
use crate::error::{Error, ErrorKind, Result};
use crate::money::{Amount, from_sql as amount, to_sql as micros};

const SCHEMA: &str = "
CREATE TABLE withdrawals (
    session BLOB PRIMARY KEY,
    denomination INTEGER NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('requested', 'challenged', 'done')),
    blinding BLOB,
    owner_seed BLOB,
    challenge TEXT,
    coin BLOB
) STRICT;
CREATE TABLE intents (
    id INTEGER PRIMARY KEY,
    merchant TEXT NOT NULL,
    order_id TEXT NOT NULL,
    request TEXT NOT NULL,
    payment TEXT NOT NULL,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    UNIQUE (merchant, order_id)
) STRICT;
CREATE TABLE coins (
    id BLOB PRIMARY KEY,
    denomination INTEGER NOT NULL,
    coin TEXT NOT NULL,
    secrets BLOB NOT NULL,
    owner_seed BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('fresh', 'pending', 'spent', 'refunded', 'returned')),
    intent INTEGER REFERENCES intents(id),
    spend TEXT
) STRICT;
CREATE TABLE claims (
    coin BLOB PRIMARY KEY REFERENCES coins(id),
    serial BLOB NOT NULL,
    randomizer BLOB NOT NULL,
    secret BLOB NOT NULL,
    blinded BLOB NOT NULL,
    claim TEXT NOT NULL
) STRICT;
CREATE TABLE vouchers (
    serial BLOB PRIMARY KEY,
    denomination INTEGER NOT NULL,
    voucher TEXT NOT NULL,
    redeemed INTEGER NOT NULL DEFAULT 0
) STRICT;
";

/// A wallet on one SQLite file (mode 0600: it holds her secrets).
pub struct Wallet {
    store: Store,
    bank: BankKeys,
    account: KeyId,
}

/// What a wallet holds (`cash-withdraw list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contents {
    /// Coins she can spend.
    pub fresh: Amount,
    /// Coins handed to a merchant whose payment is not settled yet.
    pub pending: Amount,
    /// Vouchers not yet redeemed.
    pub vouchers: Amount,
    /// Coins spent (deposited by the payee).
    pub spent: Amount,
    /// Coins refunded (as vouchers).
    pub refunded: Amount,
    /// Coins returned to her account the paper's way.
    pub returned: Amount,
    /// Each coin: id, value, state and, for a pending or spent coin, the order.
    pub coins: Vec<CoinLine>,
}

impl Body for Contents {
    const TYPE: &'static str = "cash.wallet";
}

/// One coin in [`Contents`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinLine {
    /// `A`.
    pub coin: Hex<32>,
    /// Value.
    pub value: Amount,
    /// State.
    pub state: String,
    /// The order it pays, if bound to one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order: Option<String>,
    /// For a coin bound to an order: whether the merchant acknowledged the payment.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acknowledged: Option<bool>,
}

/// What applying a refund answer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The payee deposited the coin: the payment went through.
    Paid,
    /// The coin was refunded as a voucher.
    Refunded,
    /// The deadline has not passed.
    Pending,
}

impl Wallet {
    /// Creates a wallet for the customer `keys` at the bank described by `bank_document`, with a
    /// fresh account secret; returns her registration, to be given to the bank.
    pub fn create(path: &Path, bank_document: &[u8], keys: &PartyKeys) -> Result<Signed<Registration>> {
        let bank = BankKeys::parse(bank_document)?;
        let secret = AccountSecret::generate();
        let registration = Signed::sign(Registration::new(bank.bank.key_id, keys.identity(), &secret), keys);
        let bank_line = std::str::from_utf8(bank_document).map_err(|_| Error::malformed("not UTF-8"))?;
        let secret_hex = Zeroizing::new(hex::encode(secret.to_bytes().as_slice()));
        Store::create(
            path,
            "wallet",
            SCHEMA,
            &[
                ("bank", bank_line),
                ("account", &keys.key_id().to_string()),
                ("account_secret", &secret_hex),
                ("registration", &registration.to_json_line()),
            ],
        )?;
        Ok(registration)
    }

    /// Opens a wallet.
    pub fn open(path: &Path) -> Result<Wallet> {
        let store = Store::open(path, "wallet", "cash-withdraw init")?;
        let bank = BankKeys::parse(store.required("bank")?.as_bytes()).map_err(|e| e.at(path.display()))?;
        let account = store.required("account")?.parse().map_err(|e: Error| e.at(path.display()))?;
        Ok(Wallet { store, bank, account })
    }

    /// The bank's keys this wallet trusts.
    pub fn bank(&self) -> &BankKeys {
        &self.bank
    }

    /// Her registration document.
    pub fn registration(&self) -> Result<String> {
        self.store.required("registration")
    }

    fn check_keys(&self, keys: &PartyKeys) -> Result<()> {
        if keys.key_id() != self.account {
            return Err(Error::usage(format!(
                "key {} is not this wallet's account key ({})",
                keys.key_id(),
                self.account
            )));
        }
        Ok(())
    }

    fn account_secret(&self) -> Result<AccountSecret> {
        let hex_secret = Zeroizing::new(self.store.required("account_secret")?);
        let bytes = Zeroizing::new(Hex::<32>::parse(&hex_secret).map_err(Error::malformed)?);
        AccountSecret::from_bytes(&bytes.0)
    }

    /// Starts withdrawing one coin of `denomination`: a new session, remembered.
    pub fn request(&mut self, keys: &PartyKeys, denomination: Amount) -> Result<Signed<WithdrawalRequest>> {
        self.check_keys(keys)?;
        self.bank.denomination(denomination)?;
        let request = Signed::sign(
            WithdrawalRequest { bank: self.bank.bank.key_id, session: Hex(crate::crypto::random()), denomination },
            keys,
        );
        self.store.write(|tx| {
            tx.execute(
                "INSERT INTO withdrawals (session, denomination, request, state) VALUES (?1, ?2, ?3, 'requested')",
                params![&request.unverified().session.0[..], micros(denomination), request.to_json_line()],
            )
            .sql()?;
            Ok(())
        })?;
        Ok(request)
    }

    /// Answers the bank's commitment with a blinded challenge, storing the blinding first; the
    /// same commitment again gets the same challenge.
    pub fn blind(
        &mut self,
        keys: &PartyKeys,
        commitment: &Signed<WithdrawalCommitment>,
    ) -> Result<Signed<WithdrawalChallenge>> {
        self.check_keys(keys)?;
        let body = commitment.verify(&self.bank.bank)?.clone();
        if body.account != self.account {
            return Err(Error::refused(format!("the commitment is for account {}, not this wallet's", body.account)));
        }
        let bank_id = self.bank.bank.key_id;
        let z = point(&body.z, "z")?;
        let a = point(&body.a, "a")?;
        let b = point(&body.b, "b")?;
        let account = self.account_secret()?;
        self.store.write(|tx| {
            let (denomination, state, challenge) = session(tx, &body.session)?;
            if denomination != body.denomination {
                return Err(Error::refused(format!(
                    "the commitment is for a coin of {}, the request was for {denomination}",
                    body.denomination
                )));
            }
            match (state.as_str(), challenge) {
                ("requested", _) => {}
                (_, Some(challenge)) => return Signed::parse(challenge.as_bytes()),
                _ => return Err(Error::malformed("a withdrawal session without its challenge")),
            }
            let seed = Zeroizing::new(crate::crypto::random::<32>());
            let owner = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            let (blinding, c) = Withdrawal::start(&account, [z, a, b], owner);
            let challenge = Signed::sign(
                WithdrawalChallenge { bank: bank_id, session: body.session, c: scalar_hex(&c) },
                keys,
            );
            tx.execute(
                "UPDATE withdrawals SET state = 'challenged', blinding = ?2, owner_seed = ?3, challenge = ?4 WHERE session = ?1",
                params![&body.session.0[..], blinding.to_bytes().as_slice(), &seed[..], challenge.to_json_line()],
            )
            .sql()?;
            Ok(challenge)
        })
    }

    /// Unblinds the bank's response into a coin, after checking it; a response already used
    /// gives the same coin.
    pub fn finish(&mut self, response: &Signed<WithdrawalResponse>) -> Result<CoinDoc> {
        let body = response.verify(&self.bank.bank)?.clone();
        let bank = &self.bank;
        self.store.write(|tx| {
            let (denomination, state, _) = session(tx, &body.session)?;
            let row: (Blob, Blob, Blob) = tx
                .query_row("SELECT blinding, owner_seed, coin FROM withdrawals WHERE session = ?1", [&body.session.0[..]], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .sql()?;
            if state == "done" {
                let coin: String = tx
                    .query_row("SELECT coin FROM coins WHERE id = ?1", [row.2.unwrap_or_default()], |r| r.get(0))
                    .sql()?;
                return from_json(&coin);
            }
            let (Some(blinding), Some(seed)) = (row.0.map(Zeroizing::new), row.1.map(Zeroizing::new)) else {
                return Err(Error::refused(format!("withdrawal session {} has not sent its challenge yet", body.session)));
            };
            let blinding = Withdrawal::from_bytes(&blinding)?;
            if scalar_hex(&blinding.challenge()) != body.c {
                return Err(Error::refused("the response answers another challenge"));
            }
            let (coin, secrets) = blinding.finish(&bank.coin_key(denomination)?, &scalar(&body.r, "r")?)?;
            let doc = CoinDoc::of(denomination, &coin);
            tx.execute(
                "INSERT INTO coins (id, denomination, coin, secrets, owner_seed, state) VALUES (?1, ?2, ?3, ?4, ?5, 'fresh')",
                params![&doc.big_a.0[..], micros(denomination), json(&doc), secrets.to_bytes().as_slice(), &seed[..]],
            )
            .sql()?;
            tx.execute(
                "UPDATE withdrawals SET state = 'done', blinding = NULL, owner_seed = NULL, coin = ?2 WHERE session = ?1",
                params![&body.session.0[..], &doc.big_a.0[..]],
            )
            .sql()?;
            Ok(doc)
        })
    }

    /// Pays a merchant's request: binds coins of exactly the price to this payment intent
    /// (for good) and answers their challenges. Paying the same request again returns the
    /// same payment, byte for byte.
    pub fn pay(&mut self, request: &Signed<PaymentRequest>, now: Time) -> Result<Plain<Payment>> {
        let body = request.verify(&request.unverified().merchant)?.clone();
        body.merchant.check_consistent()?;
        if body.bank != self.bank.bank.key_id {
            return Err(Error::refused(format!("the merchant banks with {}, not with this wallet's bank", body.bank)));
        }
        let request_line = request.to_json_line();
        self.store.write(|tx| {
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT request, payment FROM intents WHERE merchant = ?1 AND order_id = ?2",
                    params![body.merchant.key_id.to_string(), body.order],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .sql()?;
            if let Some((stored, payment)) = existing {
                if stored != request_line {
                    return Err(Error::refused(format!(
                        "order {:?} of {} was paid already, for another request",
                        body.order, body.merchant.name
                    )));
                }
                return Plain::parse(payment.as_bytes()).map(Plain);
            }
            if now >= body.deadline {
                return Err(Error::refused(format!("the request's deposit deadline {} has passed", body.deadline)));
            }
            let chosen = choose_coins(tx, body.price)?;
            let intent = Intent { payee: body.merchant.key_id, order: body.order.clone(), deadline: body.deadline };
            let spends: Vec<Spend> = chosen.iter().map(|c| answer(c, &intent)).collect::<Result<_>>()?;
            let payment = Payment { request: request.clone(), coins: spends };
            tx.execute(
                "INSERT INTO intents (merchant, order_id, request, payment) VALUES (?1, ?2, ?3, ?4)",
                params![
                    body.merchant.key_id.to_string(),
                    body.order,
                    request_line,
                    Plain(payment.clone()).to_json_line()
                ],
            )
            .sql()?;
            let id = tx.last_insert_rowid();
            for spend in &payment.coins {
                tx.execute(
                    "UPDATE coins SET state = 'pending', intent = ?2, spend = ?3 WHERE id = ?1",
                    params![&spend.coin.big_a.0[..], id, json(spend)],
                )
                .sql()?;
            }
            Ok(Plain(payment))
        })
    }

    /// Records the merchant's acknowledgement of a payment.
    pub fn acknowledge(&mut self, ack: &Signed<PaymentAck>) -> Result<()> {
        let merchant = ack.signature().key_id;
        let order = ack.unverified().order.clone();
        self.store.write(|tx| {
            let (request, payment): (String, String) = tx
                .query_row(
                    "SELECT request, payment FROM intents WHERE merchant = ?1 AND order_id = ?2",
                    params![merchant.to_string(), order],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .sql()?
                .ok_or_else(|| {
                    Error::new(ErrorKind::NoInput, format!("no payment for order {order:?} to {merchant}"))
                })?;
            let request: Signed<PaymentRequest> = Signed::parse(request.as_bytes())?;
            let body = ack.verify(&request.unverified().merchant)?;
            let payment = Plain(Plain::<Payment>::parse(payment.as_bytes())?);
            let coins: Vec<Hex<32>> = payment.0.coins.iter().map(|s| s.coin.big_a).collect();
            if body.payment != payment.digest() || body.coins != coins {
                return Err(Error::refused("the acknowledgement is for another payment than hers"));
            }
            tx.execute(
                "UPDATE intents SET acknowledged = 1 WHERE merchant = ?1 AND order_id = ?2",
                params![merchant.to_string(), order],
            )
            .sql()?;
            Ok(())
        })
    }

    /// Refund claims for the unsettled coins of the payment of `order` (to `merchant`, when
    /// several merchants used the order id): the very spends she made, with blinded voucher
    /// requests stored before release. Claiming again repeats the same claims.
    pub fn claim(&mut self, order: &str, merchant: Option<KeyId>) -> Result<Vec<Signed<RefundClaim>>> {
        let bank = &self.bank;
        self.store.write(|tx| {
            let intent = find_intent(tx, order, merchant)?;
            let mut stmt = tx
                .prepare("SELECT id, denomination, owner_seed, spend FROM coins WHERE intent = ?1 AND state = 'pending' ORDER BY id")
                .sql()?;
            let coins = stmt
                .query_map([intent], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, String>(3)?)))
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            if coins.is_empty() {
                return Err(Error::refused(format!("order {order:?} has no unsettled coin to claim")));
            }
            let mut claims = Vec::new();
            for (id, denomination, seed, spend) in coins {
                let seed = Zeroizing::new(seed);
                if let Some(claim) = tx.query_row("SELECT claim FROM claims WHERE coin = ?1", [&id], |r| r.get::<_, String>(0)).optional().sql()? {
                    claims.push(Signed::parse(claim.as_bytes())?);
                    continue;
                }
                let value = amount(denomination)?;
                let key = VoucherPublic::from_spki(&bank.denomination(value)?.voucher_key.0)?;
                let (blinded, pending) = key.request(value)?;
                let owner = SigningKey::from_bytes(seed.as_slice().try_into().map_err(|_| Error::malformed("invalid coin key"))?);
                let body = RefundClaim { bank: bank.bank.key_id, spend: from_json(&spend)?, blinded: HexBytes(blinded) };
                let claim = Signed::sign_with(body, KeyId::of(&owner.verifying_key().to_bytes()), |m| Ok(owner.sign(m).to_bytes()))?;
                tx.execute(
                    "INSERT INTO claims (coin, serial, randomizer, secret, blinded, claim) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![&id, &pending.serial[..], &pending.randomizer[..], pending.secret.as_slice(), &pending.blinded, claim.to_json_line()],
                )
                .sql()?;
                claims.push(claim);
            }
            Ok(claims)
        })
    }

    /// Applies the bank's answer to one of her refund claims.
    pub fn settle(&mut self, answer: &Signed<RefundAnswer>) -> Result<Settled> {
        let body = answer.verify(&self.bank.bank)?.clone();
        let bank = &self.bank;
        self.store.write(|tx| {
            let claim = tx
                .query_row(
                    "SELECT c.claim, c.serial, c.randomizer, c.secret, c.blinded, k.state, k.denomination
                     FROM claims c JOIN coins k ON k.id = c.coin WHERE c.coin = ?1",
                    [&body.coin.0[..]],
                    |r| {
                        let blobs: [Vec<u8>; 4] = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?];
                        Ok((r.get::<_, String>(0)?, blobs, r.get::<_, String>(5)?, r.get::<_, i64>(6)?))
                    },
                )
                .optional()
                .sql()?;
            let Some((claim, [serial, randomizer, secret, blinded], state, denomination)) = claim else {
                return Err(Error::new(ErrorKind::NoInput, format!("no refund claim for coin {}", body.coin)));
            };
            let claim: Signed<RefundClaim> = Signed::parse(claim.as_bytes())?;
            if claim.digest() != body.claim {
                return Err(Error::refused("the answer is to another claim"));
            }
            let outcome = match &body.result {
                RefundStatus::Pending { .. } => return Ok(Settled::Pending),
                RefundStatus::Deposited { .. } => Settled::Paid,
                RefundStatus::Refunded { .. } => Settled::Refunded,
            };
            if state != "pending" {
                return Ok(outcome);
            }
            if let RefundStatus::Refunded { blind_signature } = &body.result {
                let value = amount(denomination)?;
                let pending = PendingVoucher {
                    denomination: value,
                    serial: serial.try_into().map_err(|_| Error::malformed("invalid serial"))?,
                    randomizer: randomizer.try_into().map_err(|_| Error::malformed("invalid randomizer"))?,
                    secret: Zeroizing::new(secret),
                    blinded,
                };
                let key = VoucherPublic::from_spki(&bank.denomination(value)?.voucher_key.0)?;
                let v = pending.finish(&key, &blind_signature.0)?;
                let doc = VoucherDoc {
                    denomination: v.denomination,
                    serial: Hex(v.serial),
                    randomizer: Hex(v.randomizer),
                    signature: HexBytes(v.signature),
                };
                tx.execute(
                    "INSERT INTO vouchers (serial, denomination, voucher) VALUES (?1, ?2, ?3)",
                    params![&doc.serial.0[..], denomination, json(&doc)],
                )
                .sql()?;
            }
            let new_state = if outcome == Settled::Paid { "spent" } else { "refunded" };
            tx.execute("UPDATE coins SET state = ?2 WHERE id = ?1", params![&body.coin.0[..], new_state]).sql()?;
            Ok(outcome)
        })
    }

    /// A redemption of every voucher not yet redeemed, signed by her account key (the same
    /// document while the set is unchanged); `None` when there is none.
    pub fn redeem(&mut self, keys: &PartyKeys) -> Result<Option<Signed<Redemption>>> {
        self.check_keys(keys)?;
        let bank = self.bank.bank.key_id;
        self.store.read(|tx| {
            let mut stmt = tx.prepare("SELECT voucher FROM vouchers WHERE redeemed = 0 ORDER BY serial").sql()?;
            let vouchers = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .sql()?
                .map(|v| from_json(&v.sql()?))
                .collect::<Result<Vec<VoucherDoc>>>()?;
            Ok((!vouchers.is_empty()).then(|| Signed::sign(Redemption { bank, vouchers }, keys)))
        })
    }

    /// Records the bank's redemption receipt.
    pub fn redeemed(&mut self, receipt: &Signed<RedemptionReceipt>) -> Result<Amount> {
        let body = receipt.verify(&self.bank.bank)?.clone();
        if body.account != self.account {
            return Err(Error::refused("the receipt is for another account"));
        }
        self.store.write(|tx| {
            for serial in &body.serials {
                tx.execute("UPDATE vouchers SET redeemed = 1 WHERE serial = ?1", [&serial.0[..]]).sql()?;
            }
            Ok(body.credited)
        })
    }

    /// The paper's return: deposits coins into her own account, each answering a fresh
    /// challenge. For a coin bound to a payment whose fate is unknown this is the paper's
    /// dilemma, and it is refused unless `as_in_the_paper`: if the merchant did get the coin,
    /// the bank will see two answers and reveal her identity.
    pub fn give_back(
        &mut self,
        keys: &PartyKeys,
        coins: &[Hex<32>],
        as_in_the_paper: bool,
        now: Time,
    ) -> Result<Signed<Return>> {
        self.check_keys(keys)?;
        let bank = self.bank.bank.key_id;
        self.store.write(|tx| {
            let mut spends = Vec::new();
            for id in coins {
                let state: String = tx
                    .query_row("SELECT state FROM coins WHERE id = ?1", [&id.0[..]], |r| r.get(0))
                    .optional()
                    .sql()?
                    .ok_or_else(|| Error::new(ErrorKind::NoInput, format!("no coin {id} in the wallet")))?;
                match state.as_str() {
                    "fresh" => {}
                    "pending" if as_in_the_paper => {}
                    "pending" => {
                        return Err(Error::refused(format!(
                            "coin {id} was handed to a merchant: answering a new challenge would reveal you as a double-spender if he got it; claim a refund after the deadline instead"
                        )));
                    }
                    other => return Err(Error::refused(format!("coin {id} is {other}"))),
                }
                let coin = stored_coin(tx, id)?;
                let intent = Intent { payee: bank, order: format!("return-{}", hex::encode(crate::crypto::random::<16>())), deadline: now };
                spends.push(answer(&coin, &intent)?);
                tx.execute("UPDATE coins SET state = 'returned' WHERE id = ?1", [&id.0[..]]).sql()?;
            }
            Ok(Signed::sign(Return { bank, spends }, keys))
        })
    }

    /// What the wallet holds.
    pub fn contents(&mut self) -> Result<Contents> {
        self.store.read(|tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT c.id, c.denomination, c.state, i.order_id, i.acknowledged
                     FROM coins c LEFT JOIN intents i ON i.id = c.intent ORDER BY c.rowid",
                )
                .sql()?;
            let rows = stmt
                .query_map([], |r| {
                    let coin = (r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?);
                    Ok((coin, (r.get::<_, Option<String>>(3)?, r.get::<_, Option<i64>>(4)?)))
                })
                .sql()?;
            let mut c = Contents {
                fresh: Amount::ZERO,
                pending: Amount::ZERO,
                vouchers: Amount::ZERO,
                spent: Amount::ZERO,
                refunded: Amount::ZERO,
                returned: Amount::ZERO,
                coins: Vec::new(),
            };
            for row in rows {
                let ((id, value, state), (order, acknowledged)) = row.sql()?;
                let value = amount(value)?;
                let total = match state.as_str() {
                    "fresh" => &mut c.fresh,
                    "pending" => &mut c.pending,
                    "spent" => &mut c.spent,
                    "refunded" => &mut c.refunded,
                    _ => &mut c.returned,
                };
                *total = total.checked_add(value)?;
                let coin = Hex(id.try_into().map_err(|_| Error::malformed("invalid coin id"))?);
                c.coins.push(CoinLine { coin, value, state, order, acknowledged: acknowledged.map(|a: i64| a != 0) });
            }
            let vouchers: i64 = tx
                .query_row("SELECT COALESCE(SUM(denomination), 0) FROM vouchers WHERE redeemed = 0", [], |r| r.get(0))
                .sql()?;
            c.vouchers = amount(vouchers)?;
            Ok(c)
        })
    }
}

fn session(tx: &Transaction, id: &Hex<16>) -> Result<(Amount, String, Option<String>)> {
    let row: Option<(i64, String, Option<String>)> = tx
        .query_row("SELECT denomination, state, challenge FROM withdrawals WHERE session = ?1", [&id.0[..]], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .sql()?;
    let (d, state, challenge) =
        row.ok_or_else(|| Error::new(ErrorKind::NoInput, format!("no withdrawal session {id} in this wallet")))?;
    Ok((amount(d)?, state, challenge))
}

fn find_intent(tx: &Transaction, order: &str, merchant: Option<KeyId>) -> Result<i64> {
    let mut stmt = tx.prepare("SELECT id, merchant FROM intents WHERE order_id = ?1").sql()?;
    let rows: Vec<(i64, String)> =
        stmt.query_map([order], |r| Ok((r.get(0)?, r.get(1)?))).sql()?.collect::<rusqlite::Result<_>>().sql()?;
    let rows: Vec<i64> =
        rows.into_iter().filter(|(_, m)| merchant.is_none_or(|k| k.to_string() == *m)).map(|(id, _)| id).collect();
    match rows.as_slice() {
        [id] => Ok(*id),
        [] => Err(Error::new(ErrorKind::NoInput, format!("no payment for order {order:?} in this wallet"))),
        _ => Err(Error::usage(format!("several merchants have an order {order:?}: name one with --merchant"))),
    }
}

/// A coin ready to answer a challenge.
struct OwnedCoin {
    doc: CoinDoc,
    secrets: CoinSecrets,
}

fn stored_coin(tx: &Transaction, id: &Hex<32>) -> Result<OwnedCoin> {
    let (coin, secrets): (String, Vec<u8>) = tx
        .query_row("SELECT coin, secrets FROM coins WHERE id = ?1", [&id.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .sql()?;
    Ok(OwnedCoin { doc: from_json(&coin)?, secrets: CoinSecrets::from_bytes(&Zeroizing::new(secrets))? })
}

/// The spend of `coin` for `intent`.
fn answer(coin: &OwnedCoin, intent: &Intent) -> Result<Spend> {
    let a = point(&coin.doc.big_a, "A")?;
    let b = point(&coin.doc.big_b, "B")?;
    let sig = crate::cash::brands::CoinSignature {
        z: point(&coin.doc.z, "z")?,
        a: point(&coin.doc.a, "a")?,
        b: point(&coin.doc.b, "b")?,
        r: scalar(&coin.doc.r, "r")?,
    };
    let c = brands::Coin { big_a: a, big_b: b, owner: coin.doc.owner.0, signature: sig };
    let (r1, r2) = brands::respond(&coin.secrets, &intent.challenge(&c));
    Ok(Spend { coin: coin.doc.clone(), intent: intent.clone(), r1: scalar_hex(&r1), r2: scalar_hex(&r2) })
}

/// Fresh coins worth exactly `price`: largest first, which is exact for the usual
/// denomination series (1-2-5, powers of ten) whenever enough coins are held.
fn choose_coins(tx: &Transaction, price: Amount) -> Result<Vec<OwnedCoin>> {
    let mut stmt =
        tx.prepare("SELECT id, denomination FROM coins WHERE state = 'fresh' ORDER BY denomination DESC, id").sql()?;
    let fresh: Vec<(Vec<u8>, i64)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).sql()?.collect::<rusqlite::Result<_>>().sql()?;
    let mut left = price;
    let mut chosen = Vec::new();
    let mut held = Amount::ZERO;
    for (id, value) in fresh {
        let value = amount(value)?;
        held = held.checked_add(value)?;
        if let Some(rest) = left.checked_sub(value) {
            left = rest;
            chosen.push(stored_coin(tx, &Hex(id.try_into().map_err(|_| Error::malformed("invalid coin id"))?))?);
        }
    }
    if left != Amount::ZERO {
        return Err(Error::refused(format!(
            "no set of your fresh coins (worth {held} in all) pays exactly {price}; withdraw coins that add up to it"
        )));
    }
    Ok(chosen)
}
