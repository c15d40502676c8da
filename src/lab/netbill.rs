//! NetBill in the lab: the eight steps of the paper through the library the tools use, a
//! ledger on SQLite, the merchant's store on disk, and the judge on the customer's evidence.
//!
//! Messages: the customer's price request, the offer, the encrypted goods with the delivery
//! note, the EPO, the endorsed EPO to the server, the receipt to the merchant, and the receipt
//! forwarded to the customer. Recovery: the merchant resubmits an endorsed EPO he has no
//! receipt for (the server answers it again, or refuses it as expired); the customer fetches
//! the receipt of an EPO she signed from the server (`key-fetch`) and decrypts. With two
//! purchases, both share the customer's account, which holds enough for one of them, and
//! their messages interleave.

use std::path::PathBuf;

use serde_json::json;

use crate::clock::Time;
use crate::crypto::goods::{self, GoodsKey};
use crate::crypto::keys::PartyKeys;
use crate::doc::{Hex, Signed};
use crate::error::Result;
use crate::lab::{Outcome, Protocol, Run, scratch};
use crate::ledger::sqlite::External;
use crate::ledger::{Ledger, SqliteLedger};
use crate::money::Amount;
use crate::netbill::delivery::{DeliveryNote, deliver, key_commitment};
use crate::netbill::epo::{EndorsedEpo, Endorsement, Epo, Purchase as EpoPurchase, countersign, sign_epo};
use crate::netbill::judge::{Claim, Evidence, Presented, Source, Verdict, judge};
use crate::netbill::merchant_store::MerchantStore;
use crate::netbill::offer::{Catalog, Offer, OfferRequest, make_offer};
use crate::netbill::receipt::{Outcome as Paid, Receipt};
use crate::netbill::recovery;

/// NetBill with `purchases` purchases (1, or 2 sharing one account).
pub struct NetBill {
    /// How many purchases run concurrently.
    pub purchases: usize,
}

const STEPS: [&str; 7] =
    ["price-request", "offer", "encrypted-goods", "epo", "endorsed-epo", "receipt-to-merchant", "receipt-to-customer"];
const STEPS_2: [&str; 14] = [
    "A price-request",
    "B price-request",
    "A offer",
    "B offer",
    "A encrypted-goods",
    "B encrypted-goods",
    "A epo",
    "B epo",
    "A endorsed-epo",
    "B endorsed-epo",
    "A receipt-to-merchant",
    "B receipt-to-merchant",
    "A receipt-to-customer",
    "B receipt-to-customer",
];

const GOODS: &[u8] = b"Atomicity in Electronic Commerce, the paper.\n";
const PRICE: &str = "1";

impl Protocol for NetBill {
    fn name(&self) -> &'static str {
        if self.purchases == 1 { "netbill" } else { "netbill-2" }
    }
    fn label(&self) -> &'static str {
        if self.purchases == 1 { "NetBill" } else { "NetBill, 2 purchases, 1 account" }
    }
    fn steps(&self) -> &'static [&'static str] {
        if self.purchases == 1 { &STEPS } else { &STEPS_2 }
    }
    fn misbehaviours(&self) -> &'static [&'static str] {
        &[
            "merchant-sends-bogus-key",
            "merchant-sends-wrong-goods",
            "customer-tampers-ciphertext",
            "merchant-replays-epo",
        ]
    }
    fn start(&self, misbehaviour: Option<&'static str>) -> Result<Box<dyn Run>> {
        Ok(Box::new(NetBillRun::new(self.purchases, misbehaviour)?))
    }
}

/// One purchase's messages and what each party holds of it.
#[derive(Default)]
struct Purchase {
    // Merchant.
    asked: bool,
    offer: Option<Signed<Offer>>,
    delivery: Option<(Signed<DeliveryNote>, Vec<u8>, GoodsKey)>,
    epo_received: Option<Signed<Epo>>,
    endorsed: Option<Signed<EndorsedEpo>>,
    // Server.
    receipt_out: Option<Signed<Receipt>>,
    // Merchant again.
    receipt_for_customer: Option<Signed<Receipt>>,
    // Customer.
    her_offer: Option<Signed<Offer>>,
    her_goods: Option<(Signed<DeliveryNote>, Vec<u8>)>,
    her_epo: Option<Signed<Epo>>,
    her_receipt: Option<Signed<Receipt>>,
}

struct NetBillRun {
    _dir: tempfile::TempDir,
    ledger: PathBuf,
    store: PathBuf,
    alice: PartyKeys,
    shop: PartyKeys,
    server: PartyKeys,
    catalog: Catalog,
    catalog_dir: PathBuf,
    now: Time,
    misbehaviour: Option<&'static str>,
    purchases: Vec<Purchase>,
    funds: Amount,
}

impl NetBillRun {
    fn new(purchases: usize, misbehaviour: Option<&'static str>) -> Result<NetBillRun> {
        let dir = scratch()?;
        let now: Time = "2026-11-25T12:00:00Z".parse()?;
        let (alice, shop, server) =
            (PartyKeys::generate("alice")?, PartyKeys::generate("bookshop")?, PartyKeys::generate("netbill")?);
        let ledger = dir.path().join("netbill.db");
        SqliteLedger::create(&ledger, &server, now)?;
        let mut books = SqliteLedger::open(&ledger)?;
        books.open_account(&alice.identity(), &server, now)?;
        books.open_account(&shop.identity(), &server, now)?;
        // Enough for one purchase and a half: with two, one must be refused.
        let funds: Amount = "1.5".parse()?;
        books.external("alice", External::Deposit, funds, None, &server, now)?;
        std::fs::write(dir.path().join("paper.txt"), GOODS).map_err(|e| crate::error::Error::io(&e))?;
        let catalog = Catalog::parse(
            format!(r#"{{"products": [{{"id": "paper", "description": "the paper", "price": "{PRICE}", "goods": "paper.txt"}}]}}"#)
                .as_bytes(),
        )?;
        Ok(NetBillRun {
            ledger,
            store: dir.path().join("store"),
            catalog_dir: dir.path().to_path_buf(),
            _dir: dir,
            alice,
            shop,
            server,
            catalog,
            now,
            misbehaviour,
            purchases: (0..purchases).map(|_| Purchase::default()).collect(),
            funds,
        })
    }

    fn which(&self, step: usize) -> (usize, usize) {
        let n = self.purchases.len();
        (step % n, step / n)
    }

    fn merchant_store(&self) -> Option<MerchantStore> {
        MerchantStore::create(&self.store).ok()
    }

    /// The merchant encrypts the goods under a fresh K (or misbehaves) and records the delivery.
    fn merchant_delivers(&mut self, p: usize) -> Option<(Signed<DeliveryNote>, Vec<u8>, GoodsKey)> {
        let offer = self.purchases[p].offer.clone()?;
        let mut delivery = deliver(&offer, &self.shop, GOODS, self.now).ok()?;
        let mut note = delivery.note.unverified().clone();
        match self.misbehaviour {
            Some("merchant-sends-wrong-goods") => {
                // He skips goods-encrypt's check and encrypts other goods under the offer.
                let wrong = b"Some unrelated material.\n";
                let (ciphertext, made) = goods::encrypt_bytes(&delivery.key, note.epo_id.as_str(), wrong);
                delivery.ciphertext = ciphertext;
                note.ciphertext_root = made.ciphertext_root;
            }
            Some("merchant-sends-bogus-key") => {
                // He commits to, and will release, an all-zero K.
                delivery.key = GoodsKey::new(Hex([0; 32]));
                note.key_commitment = key_commitment(&note.epo_id, &delivery.key);
            }
            _ => {}
        }
        delivery.note = Signed::sign(note, &self.shop);
        let store = self.merchant_store()?;
        store.record_delivery(&offer, &delivery.note, &delivery.key).ok()?;
        Some((delivery.note, delivery.ciphertext, delivery.key))
    }

    /// The merchant countersigns the EPO he received (the same endorsement if asked again).
    fn merchant_countersigns(&mut self, p: usize) -> Option<Signed<EndorsedEpo>> {
        let epo = self.purchases[p].epo_received.clone()?;
        let (note, _, key) = self.purchases[p].delivery.clone()?;
        let offer = self.purchases[p].offer.clone()?;
        let store = self.merchant_store()?;
        if let Ok(Some(done)) = store.endorsed(&epo.unverified().epo_id) {
            return Some(done);
        }
        let endorsement = Endorsement {
            epo: &epo,
            customer: &self.alice.identity(),
            offer: &offer,
            note: &note,
            key: &key,
            server: &self.server.identity(),
            now: self.now,
        };
        let endorsed = countersign(&endorsement, &self.shop).ok()?;
        let identity = self.alice.identity_document().to_json_pretty();
        store.record_endorsement(&endorsed, identity.as_bytes()).ok()?;
        Some(endorsed)
    }

    fn settle(&mut self, endorsed: &Signed<EndorsedEpo>) -> Option<Signed<Receipt>> {
        SqliteLedger::open(&self.ledger).ok()?.settle(endorsed, &self.server, self.now).ok()
    }

    /// The customer's key-fetch: the server's stored receipt of her EPO, sealed to her.
    fn key_fetch(&self, p: usize) -> Option<Signed<Receipt>> {
        let epo = self.purchases[p].her_epo.as_ref()?;
        let request = recovery::request(epo.unverified().epo_id.clone(), &self.alice);
        let mut books = SqliteLedger::open(&self.ledger).ok()?;
        let (stored, _) = books.settlement(&epo.unverified().epo_id).ok()??;
        let answer = recovery::answer(&request, &self.alice.identity(), &stored.receipt).ok()?;
        recovery::open(&answer, &self.alice, &self.server.identity()).ok()
    }

    /// What the customer decrypts with the receipt she holds, if anything.
    fn her_goods(&self, p: usize) -> Option<Vec<u8>> {
        let purchase = &self.purchases[p];
        let receipt = purchase.her_receipt.as_ref()?.verify(&self.server.identity()).ok()?;
        let key = receipt.key.filter(|_| receipt.result == Paid::Paid)?;
        let (_, ciphertext) = purchase.her_goods.as_ref()?;
        if goods::ciphertext_root(&ciphertext[..], &mut |_| {}).ok()?.1 != receipt.ciphertext_root {
            return None;
        }
        goods::decrypt_bytes(&key, receipt.epo_id.as_str(), ciphertext).ok()
    }

    /// The judge on the customer's evidence, with the claim her situation calls for; whether
    /// the ruling is the right one for what really happened, and whether it upholds her claim.
    fn rule(&self, p: usize, paid: bool, goods_ok: bool, notes: &mut Vec<String>) -> Option<(bool, bool)> {
        let purchase = &self.purchases[p];
        let receipt = purchase.her_receipt.as_ref()?;
        let (note, ciphertext) = purchase.her_goods.as_ref()?;
        let tampered = self.misbehaviour == Some("customer-tampers-ciphertext");
        let mut presented = ciphertext.clone();
        if tampered {
            let last = presented.len() - 1;
            presented[last] ^= 1;
        }
        let (claim, expected) = match (paid, goods_ok) {
            (false, _) => (Claim::PaidButNeverGotKey, Verdict::NoSale),
            (true, _) if tampered => (Claim::KeyDoesNotDecrypt, Verdict::CustomerAtFault),
            (true, true) => (Claim::NotWhatIOrdered, Verdict::DeliveredAsAgreed),
            (true, false) if self.misbehaviour == Some("merchant-sends-wrong-goods") => {
                (Claim::NotWhatIOrdered, Verdict::MerchantAtFault)
            }
            (true, false) => (Claim::KeyDoesNotDecrypt, Verdict::MerchantAtFault),
        };
        let texts = [
            self.alice.identity_document().to_json_line(),
            self.shop.identity_document().to_json_line(),
            self.server.identity_document().to_json_line(),
            purchase.her_offer.as_ref()?.to_json_line(),
            note.to_json_line(),
            purchase.her_epo.as_ref()?.to_json_line(),
            receipt.to_json_line(),
        ];
        let evidence = Evidence::new(claim, texts.iter().map(String::as_str)).ok()?;
        let presented = Presented::Ciphertext(Source::Bytes(&presented));
        let ruling = judge(&evidence, Some(&presented), Some(&self.server.identity())).ruling;
        let upheld = ruling.upheld == crate::netbill::judge::Upheld::Yes;
        notes.push(format!("purchase {p}: claim {claim:?}, verdict {:?} (expected {expected:?})", ruling.verdict));
        Some((ruling.verdict == expected, upheld))
    }
}

impl Run for NetBillRun {
    fn send(&mut self, step: usize) -> Option<Vec<u8>> {
        let (p, s) = self.which(step);
        match s {
            0 => Some(self.alice.identity_document().to_json_line().into_bytes()),
            1 => self.purchases[p].offer.as_ref().map(|o| o.to_json_line().into_bytes()),
            2 => {
                if self.purchases[p].delivery.is_none() {
                    self.purchases[p].delivery = self.merchant_delivers(p);
                }
                let (note, ciphertext, _) = self.purchases[p].delivery.as_ref()?;
                Some(json!({"note": note, "ciphertext": hex::encode(ciphertext)}).to_string().into_bytes())
            }
            3 => {
                let purchase = &self.purchases[p];
                if purchase.her_epo.is_none() {
                    let (offer, (note, ciphertext)) = (purchase.her_offer.as_ref()?, purchase.her_goods.as_ref()?);
                    let epo = sign_epo(
                        &EpoPurchase {
                            offer,
                            merchant: &self.shop.identity(),
                            note,
                            ciphertext_root: goods::ciphertext_root(&ciphertext[..], &mut |_| {}).ok()?.1,
                            server: &self.server.identity(),
                            expires_at: self.now.plus(jiff::SignedDuration::from_hours(1)).ok()?,
                            max_price: None,
                            now: self.now,
                        },
                        &self.alice,
                    )
                    .ok()?;
                    self.purchases[p].her_epo = Some(epo);
                }
                self.purchases[p].her_epo.as_ref().map(|e| e.to_json_line().into_bytes())
            }
            4 => {
                if self.purchases[p].endorsed.is_none() {
                    self.purchases[p].endorsed = self.merchant_countersigns(p);
                }
                self.purchases[p].endorsed.as_ref().map(|e| e.to_json_line().into_bytes())
            }
            5 => self.purchases[p].receipt_out.as_ref().map(|r| r.to_json_line().into_bytes()),
            _ => self.purchases[p].receipt_for_customer.as_ref().map(|r| r.to_json_line().into_bytes()),
        }
    }

    fn deliver(&mut self, step: usize, message: &[u8]) {
        let (p, s) = self.which(step);
        match s {
            0 => {
                self.purchases[p].asked = true;
                let request = OfferRequest {
                    catalog: &self.catalog,
                    catalog_dir: &self.catalog_dir,
                    product: "paper",
                    customer: &self.alice.identity(),
                    now: self.now,
                };
                if self.purchases[p].offer.is_none() {
                    self.purchases[p].offer = make_offer(&request, &self.shop).ok();
                }
            }
            1 => {
                let offer = Signed::<Offer>::parse(message).ok().filter(|o| o.verify(&self.shop.identity()).is_ok());
                if self.purchases[p].her_offer.is_none() {
                    self.purchases[p].her_offer = offer;
                }
            }
            2 => {
                let value: serde_json::Value = serde_json::from_slice(message).unwrap_or_default();
                let note = serde_json::from_value::<Signed<DeliveryNote>>(value["note"].clone()).ok();
                let ciphertext = value["ciphertext"].as_str().and_then(|c| hex::decode(c).ok());
                if let (Some(note), Some(ciphertext), None) = (note, ciphertext, &self.purchases[p].her_goods) {
                    let good = note.verify(&self.shop.identity()).is_ok()
                        && goods::ciphertext_root(&ciphertext[..], &mut |_| {})
                            .is_ok_and(|(_, root)| root == note.unverified().ciphertext_root);
                    if good {
                        self.purchases[p].her_goods = Some((note, ciphertext));
                    }
                }
            }
            3 => {
                if self.purchases[p].epo_received.is_none() {
                    self.purchases[p].epo_received = Signed::parse(message).ok();
                }
            }
            4 => {
                if let Ok(endorsed) = Signed::<EndorsedEpo>::parse(message)
                    && let Some(receipt) = self.settle(&endorsed)
                {
                    self.purchases[p].receipt_out = Some(receipt);
                }
            }
            5 => {
                if let Ok(receipt) = Signed::<Receipt>::parse(message)
                    && receipt.verify(&self.server.identity()).is_ok()
                    && let Some(store) = self.merchant_store()
                    && store.record_receipt(&receipt).is_ok()
                {
                    self.purchases[p].receipt_for_customer = Some(receipt);
                }
            }
            _ => {
                if let Ok(receipt) = Signed::<Receipt>::parse(message)
                    && receipt.verify(&self.server.identity()).is_ok()
                {
                    self.purchases[p].her_receipt = Some(receipt);
                }
            }
        }
    }

    fn crash(&mut self, step: usize) {
        // The receiver loses what it had yet to send; its stores survive.
        let (p, s) = self.which(step);
        let purchase = &mut self.purchases[p];
        match s {
            0 => purchase.offer = None,
            3 => purchase.endorsed = None,
            4 => purchase.receipt_out = None,
            5 => purchase.receipt_for_customer = None,
            _ => {}
        }
    }

    fn pass_timeouts(&mut self) {
        self.now = self.now.plus(jiff::SignedDuration::from_hours(2)).expect("in range");
    }

    fn recover(&mut self) -> Vec<String> {
        let mut did = Vec::new();
        for p in 0..self.purchases.len() {
            // The merchant: an endorsement without a receipt is submitted again.
            let store = self.merchant_store();
            let endorsed = self.purchases[p]
                .epo_received
                .as_ref()
                .and_then(|e| store.as_ref()?.endorsed(&e.unverified().epo_id).ok().flatten());
            if let Some(endorsed) = endorsed {
                let epo_id = endorsed.unverified().epo.unverified().epo_id.clone();
                let has = store.as_ref().and_then(|s| s.receipt(&epo_id).ok().flatten()).is_some();
                if !has && let Some(receipt) = self.settle(&endorsed) {
                    let _ = self.merchant_store().map(|s| s.record_receipt(&receipt));
                    did.push(format!("purchase {p}: the merchant resubmits: {:?}", receipt.unverified().result));
                }
            }
            // The customer: an EPO she signed and no receipt: key-fetch from the server.
            if self.purchases[p].her_epo.is_some() && self.purchases[p].her_receipt.is_none() {
                self.purchases[p].her_receipt = self.key_fetch(p);
                let got = self.purchases[p].her_receipt.as_ref().map(|r| r.unverified().result);
                did.push(format!("purchase {p}: she fetches the receipt from the server: {got:?}"));
            }
            if self.misbehaviour == Some("merchant-replays-epo")
                && let Some(endorsed) = self.purchases[p].endorsed.clone()
            {
                let again = self.settle(&endorsed).map(|r| r.unverified().result);
                did.push(format!("purchase {p}: the merchant replays the endorsed EPO: {again:?}"));
            }
        }
        did
    }

    fn outcome(&mut self) -> Outcome {
        let mut notes = Vec::new();
        let Ok(mut books) = Ledger::open(&self.ledger) else {
            return Outcome {
                money: Some(false),
                notes: vec!["the ledger does not open".into()],
                ..Outcome::default()
            };
        };
        let audit = books.audit();
        let (alice, shop) = (books.balance("alice"), books.balance("bookshop"));
        let (Ok(audit), Ok(alice), Ok(shop)) = (audit, alice, shop) else {
            return Outcome {
                money: Some(false),
                notes: vec!["the ledger cannot be read".into()],
                ..Outcome::default()
            };
        };
        let price: Amount = PRICE.parse().expect("a price");
        let paid_count = (0..self.purchases.len()).filter(|&p| self.paid(p)).count() as u64;
        let moved = Amount::from_micros(price.micros() * paid_count).expect("small");
        let money = audit.problems.is_empty()
            && alice.checked_add(shop).ok() == Some(self.funds)
            && shop == moved
            && self.funds.checked_sub(alice) == Some(moved);
        notes.push(format!("alice {alice}, bookshop {shop}, {paid_count} purchase(s) paid"));
        let mut goods = true;
        let mut certified = None;
        for p in 0..self.purchases.len() {
            let paid = self.paid(p);
            let got = self.her_goods(p).as_deref() == Some(GOODS);
            let ruled = self.rule(p, paid, got, &mut notes);
            if let Some((right, _)) = ruled {
                certified = Some(certified.unwrap_or(true) && right);
            }
            let remedied = paid && !got && matches!(ruled, Some((true, true)));
            if paid != got && !remedied {
                goods = false;
            }
            notes.push(format!(
                "purchase {p}: paid {paid}, goods {got}{}",
                if remedied { ", remedied by the judge" } else { "" }
            ));
        }
        Outcome { money: Some(money), goods: Some(goods), certified, notes }
    }
}

impl NetBillRun {
    /// Whether the server charged purchase `p` (a paid receipt for its EPO in the ledger).
    fn paid(&self, p: usize) -> bool {
        let Some(epo) = self.purchases[p].epo_received.as_ref().or(self.purchases[p].her_epo.as_ref()) else {
            return false;
        };
        SqliteLedger::open(&self.ledger)
            .ok()
            .and_then(|mut b| b.settlement(&epo.unverified().epo_id).ok().flatten())
            .is_some_and(|(s, _)| s.receipt.unverified().result == Paid::Paid)
    }
}
