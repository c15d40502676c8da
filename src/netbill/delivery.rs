//! Step 4: the merchant delivers the goods encrypted under a fresh key K.
//!
//! The delivery assigns the EPO id, the purchase's name from here on: the merchant's key
//! id, the time at the end of delivery, and a random serial, so it is globally unique
//! without coordination. The signed delivery note carries the Merkle root of the ciphertext
//! and the merchant's commitment to K ([`key_commitment`]), which the customer checks and
//! copies into her EPO: the server releases only the K the merchant committed to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use std::io::{Read, Write};

use crate::crypto::goods::{self, GoodsCommitment, GoodsKey};
use crate::crypto::keys::{KeyId, PartyKeys};
use crate::doc::{Body, Hex, Signed};
use crate::error::{Error, Result, ResultExt};
use crate::netbill::offer::Offer;

/// An EPO id: `<merchant key id>.<YYYYMMDDTHHMMSSZ>.<16 hex digit serial>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EpoId(String);

impl EpoId {
    /// A fresh EPO id for `merchant` at `now`.
    pub fn new(merchant: KeyId, now: Time) -> EpoId {
        EpoId(format!("{merchant}.{}.{}", now.compact(), hex::encode(crate::crypto::random::<8>())))
    }

    /// The merchant key id the id was made by.
    pub fn merchant(&self) -> KeyId {
        self.0[..16].parse().expect("checked when the EpoId was built")
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EpoId {
    type Err = Error;
    fn from_str(s: &str) -> Result<EpoId> {
        let bad =
            || Error::malformed(format!("invalid EPO id {s:?}: expected <key id>.<YYYYMMDDTHHMMSSZ>.<16 hex digits>"));
        let parts: Vec<&str> = s.split('.').collect();
        let [merchant, time, serial] = parts[..] else {
            return Err(bad());
        };
        merchant.parse::<KeyId>().map_err(|_| bad())?;
        Hex::<8>::parse(serial).map_err(|_| bad())?;
        if time.len() != 16 || !time.is_ascii() {
            return Err(bad());
        }
        let (d, t) = (&time[..8], &time[9..15]);
        let rfc3339 = format!("{}-{}-{}T{}:{}:{}Z", &d[..4], &d[4..6], &d[6..], &t[..2], &t[2..4], &t[4..]);
        let parsed: Time = rfc3339.parse().map_err(|_| bad())?;
        if parsed.compact() != time {
            return Err(bad());
        }
        Ok(EpoId(s.to_string()))
    }
}

impl fmt::Display for EpoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EpoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The body of a `netbill.delivery` note, signed by the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryNote {
    /// The purchase's EPO id.
    pub epo_id: EpoId,
    /// Digest of the offer the goods are delivered against.
    pub offer: Hex<32>,
    /// Root of the ciphertext's Merkle tree ([`goods::ciphertext_root`]).
    pub ciphertext_root: Hex<32>,
    /// The merchant's commitment to the K that opens the ciphertext ([`key_commitment`]).
    pub key_commitment: Hex<32>,
}

/// The commitment to goods key `key` for `epo_id`: SHA-256 of
/// `"atomic-commerce:netbill.key-commitment:v1" 0x00 epo_id 0x00 key`. K is 256 random bits,
/// so the commitment hides it; SHA-256 binds it.
pub fn key_commitment(epo_id: &EpoId, key: &Hex<32>) -> Hex<32> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"atomic-commerce:netbill.key-commitment:v1\0");
    h.update(epo_id.as_str().as_bytes());
    h.update([0]);
    h.update(key.0);
    Hex(h.finalize().into())
}

impl Body for DeliveryNote {
    const TYPE: &'static str = "netbill.delivery";
}

/// A delivery: what goes to the customer (note, ciphertext) and what the merchant keeps (K).
pub struct Delivery {
    /// The signed delivery note.
    pub note: Signed<DeliveryNote>,
    /// The encrypted goods.
    pub ciphertext: Vec<u8>,
    /// The fresh goods key K.
    pub key: GoodsKey,
}

/// Encrypts goods of `size` bytes (read twice through `open`, see [`goods::encrypt`]) for
/// `offer` under a fresh K, writing the ciphertext to `out`; returns the signed note and K.
/// Refuses an offer not signed by `merchant`, an expired offer, and goods other than the ones
/// the offer promised (before writing anything).
pub fn deliver_to<R: Read>(
    offer: &Signed<Offer>,
    merchant: &PartyKeys,
    size: u64,
    open: impl Fn() -> Result<R>,
    out: &mut impl Write,
    now: Time,
    progress: &mut dyn FnMut(u64),
) -> Result<(Signed<DeliveryNote>, GoodsKey)> {
    let offer_body = offer.verify(&merchant.identity()).at("offer")?;
    if now > offer_body.expires_at {
        return Err(Error::refused(format!("the offer expired at {}", offer_body.expires_at)).at("offer"));
    }
    let check = |made: &GoodsCommitment| match offer_body.goods {
        Some(promised) if promised != *made => Err(Error::refused(format!(
            "{} bytes with root {}, but the offer promised {} bytes with root {}",
            made.size, made.root, promised.size, promised.root
        ))
        .at("goods")),
        _ => Ok(()),
    };
    let epo_id = EpoId::new(merchant.key_id(), now);
    let key = goods::fresh_key();
    let encrypted = goods::encrypt(&key, epo_id.as_str(), size, open, check, out, progress)?;
    let note = DeliveryNote {
        key_commitment: key_commitment(&epo_id, &key),
        epo_id,
        offer: offer.digest(),
        ciphertext_root: encrypted.ciphertext_root,
    };
    Ok((Signed::sign(note, merchant), key))
}

/// [`deliver_to`] for goods in memory.
pub fn deliver(offer: &Signed<Offer>, merchant: &PartyKeys, goods: &[u8], now: Time) -> Result<Delivery> {
    let mut ciphertext = Vec::new();
    let (note, key) = deliver_to(offer, merchant, goods.len() as u64, || Ok(goods), &mut ciphertext, now, &mut |_| {})?;
    Ok(Delivery { note, ciphertext, key })
}
