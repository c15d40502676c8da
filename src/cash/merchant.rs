//! The merchant: payment requests, accepting payments against his set of coins seen, and
//! deposits, on SQLite.
//!
//! He accepts a payment only before its deadline, with coins of exactly the price, each
//! answering the challenge of his own request and none seen before with another answer (the
//! paper's step 4). The same payment again gets the same acknowledgement.

use std::path::Path;

use rusqlite::{OptionalExtension, params};

use crate::cash::docs::*;
use crate::cash::store::{Sql, Store};
use crate::clock::Time;
use crate::crypto::keys::PartyKeys;
use crate::doc::{Hex, Plain, Signed};
use crate::error::{Error, ErrorKind, Result};
use crate::money::Amount;

const SCHEMA: &str = "
CREATE TABLE requests (
    order_id TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    payment BLOB,
    ack TEXT
) STRICT;
CREATE TABLE seen (
    coin BLOB PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES requests(order_id),
    d BLOB NOT NULL,
    spend TEXT NOT NULL,
    deadline TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('accepted', 'credited', 'late', 'double-spent'))
) STRICT;
";

/// A merchant's store.
pub struct Merchant {
    store: Store,
    bank: BankKeys,
    merchant: crate::crypto::keys::KeyId,
}

impl Merchant {
    /// Creates a merchant store for `keys`, banking with the bank of `bank_document`.
    pub fn create(path: &Path, bank_document: &[u8], keys: &PartyKeys) -> Result<()> {
        BankKeys::parse(bank_document)?;
        let bank = std::str::from_utf8(bank_document).map_err(|_| Error::malformed("not UTF-8"))?;
        Store::create(path, "merchant", SCHEMA, &[("bank", bank), ("merchant", &keys.key_id().to_string())])
    }

    /// Opens a merchant store.
    pub fn open(path: &Path) -> Result<Merchant> {
        let store = Store::open(path, "merchant", "cash-merchant init")?;
        let bank = BankKeys::parse(store.required("bank")?.as_bytes()).map_err(|e| e.at(path.display()))?;
        let merchant = store.required("merchant")?.parse().map_err(|e: Error| e.at(path.display()))?;
        Ok(Merchant { store, bank, merchant })
    }

    fn check_keys(&self, keys: &PartyKeys) -> Result<()> {
        if keys.key_id() != self.merchant {
            return Err(Error::usage(format!(
                "key {} is not this store's merchant key ({})",
                keys.key_id(),
                self.merchant
            )));
        }
        Ok(())
    }

    /// A signed payment request for a new order.
    pub fn offer(
        &mut self,
        keys: &PartyKeys,
        order: &str,
        description: &str,
        price: Amount,
        deadline: Time,
    ) -> Result<Signed<PaymentRequest>> {
        self.check_keys(keys)?;
        let body = PaymentRequest {
            merchant: keys.identity(),
            bank: self.bank.bank.key_id,
            order: order.to_string(),
            description: description.to_string(),
            price,
            deadline,
        };
        crate::doc::Body::check(&body).map_err(Error::usage)?;
        let request = Signed::sign(body, keys);
        self.store.write(|tx| {
            let n = tx
                .execute(
                    "INSERT INTO requests (order_id, request) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![order, request.to_json_line()],
                )
                .sql()?;
            if n == 0 {
                return Err(Error::refused(format!("order {order:?} exists already")));
            }
            Ok(())
        })?;
        Ok(request)
    }

    /// Accepts a payment for one of his requests, or refuses it and records nothing.
    pub fn accept(&mut self, keys: &PartyKeys, payment: &Payment, now: Time) -> Result<Signed<PaymentAck>> {
        self.check_keys(keys)?;
        let request = payment.request.verify(&keys.identity())?.clone();
        let intent = Intent { payee: self.merchant, order: request.order.clone(), deadline: request.deadline };
        let digest = Plain(payment.clone()).digest();
        let bank = &self.bank;
        self.store.write(|tx| {
            let stored: Option<(String, Option<Vec<u8>>, Option<String>)> = tx
                .query_row("SELECT request, payment, ack FROM requests WHERE order_id = ?1", [&request.order], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .sql()?;
            let Some((stored_request, paid, ack)) = stored else {
                return Err(Error::new(ErrorKind::NoInput, format!("no order {:?} here", request.order)));
            };
            if stored_request != payment.request.to_json_line() {
                return Err(Error::refused(format!("the payment is for another request than order {:?}", request.order)));
            }
            if let (Some(paid), Some(ack)) = (paid, ack) {
                if paid == digest.0 {
                    return Signed::parse(ack.as_bytes());
                }
                return Err(Error::refused(format!("order {:?} is paid already", request.order)));
            }
            if now >= request.deadline {
                return Err(Error::refused(format!("the order's deposit deadline {} has passed", request.deadline)));
            }
            let mut total = Amount::ZERO;
            let mut coins = Vec::new();
            for (i, spend) in payment.coins.iter().enumerate() {
                if spend.intent != intent {
                    return Err(Error::refused(format!("coin {} answers the challenge of another payment", i + 1)));
                }
                let checked = spend.check(bank)?;
                if coins.contains(&spend.coin.big_a) {
                    return Err(Error::refused(format!("coin {} appears twice", spend.coin.big_a)));
                }
                let seen: Option<String> =
                    tx.query_row("SELECT order_id FROM seen WHERE coin = ?1", [&spend.coin.big_a.0[..]], |r| r.get(0)).optional().sql()?;
                if let Some(order) = seen {
                    return Err(Error::refused(format!(
                        "coin {} was spent here before (order {order:?}): a double spend",
                        spend.coin.big_a
                    )));
                }
                tx.execute(
                    "INSERT INTO seen (coin, order_id, d, spend, deadline, state) VALUES (?1, ?2, ?3, ?4, ?5, 'accepted')",
                    params![
                        &spend.coin.big_a.0[..],
                        request.order,
                        &checked.d.to_bytes()[..],
                        serde_json::to_string(spend).expect("serializable"),
                        request.deadline.to_string()
                    ],
                )
                .sql()?;
                total = total.checked_add(spend.coin.denomination)?;
                coins.push(spend.coin.big_a);
            }
            if total != request.price {
                return Err(Error::refused(format!("the coins are worth {total}, the price is {}", request.price)));
            }
            let ack = Signed::sign(PaymentAck { order: request.order.clone(), payment: digest, coins, at: now }, keys);
            tx.execute(
                "UPDATE requests SET payment = ?2, ack = ?3 WHERE order_id = ?1",
                params![request.order, &digest.0[..], ack.to_json_line()],
            )
            .sql()?;
            Ok(ack)
        })
    }

    /// A deposit of every accepted coin whose deadline has not passed; `None` if there is none.
    /// The same document until a receipt is recorded, so a lost answer is safely asked again.
    pub fn deposit(&mut self, keys: &PartyKeys, now: Time) -> Result<Option<Signed<Deposit>>> {
        self.check_keys(keys)?;
        let bank = self.bank.bank.key_id;
        self.store.read(|tx| {
            let mut stmt =
                tx.prepare("SELECT spend FROM seen WHERE state = 'accepted' AND deadline > ?1 ORDER BY coin").sql()?;
            let spends = stmt
                .query_map([now.to_string()], |r| r.get::<_, String>(0))
                .sql()?
                .map(|s| serde_json::from_str(&s.sql()?).map_err(|e| Error::malformed(format!("corrupt spend: {e}"))))
                .collect::<Result<Vec<Spend>>>()?;
            Ok((!spends.is_empty()).then(|| Signed::sign(Deposit { bank, spends }, keys)))
        })
    }

    /// Records the bank's deposit receipt; returns the amount credited.
    pub fn record(&mut self, receipt: &Signed<DepositReceipt>) -> Result<Amount> {
        let body = receipt.verify(&self.bank.bank)?.clone();
        if body.account != self.merchant {
            return Err(Error::refused("the receipt is for another account"));
        }
        self.store.write(|tx| {
            for line in &body.coins {
                let state = match line.outcome {
                    CoinOutcome::Credited | CoinOutcome::AlreadyCredited => "credited",
                    CoinOutcome::Late => "late",
                    CoinOutcome::DoubleSpent => "double-spent",
                };
                tx.execute("UPDATE seen SET state = ?2 WHERE coin = ?1", params![&line.coin.0[..], state]).sql()?;
            }
            Ok(body.credited)
        })
    }

    /// The state of each coin he has seen, by order.
    pub fn coins(&mut self) -> Result<Vec<(String, Hex<32>, String)>> {
        self.store.read(|tx| {
            let mut stmt = tx.prepare("SELECT order_id, coin, state FROM seen ORDER BY rowid").sql()?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?)))
                .sql()?;
            rows.map(|r| {
                let (o, c, s) = r.sql()?;
                Ok((o, Hex(c.try_into().map_err(|_| Error::malformed("invalid coin id"))?), s))
            })
            .collect()
        })
    }
}
