//! Steps 5–6: the customer signs the electronic purchase order (her point of no return),
//! the merchant countersigns it and attaches K sealed to the NetBill server (his).
//!
//! The server checks two signatures (the endorsement, the EPO inside it) and no more: the
//! endorsement covers the offer the EPO accepts, and the EPO carries the merchant's
//! commitment to K from his delivery note, which the sealed K must open to.

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::crypto::seal::ChannelBox;
use crate::doc::{Body, Hex, Members, Signed};
use crate::error::{Error, Result, ResultExt};
use crate::money::Amount;
use crate::netbill::delivery::{DeliveryNote, EpoId, key_commitment};
use crate::netbill::offer::Offer;

/// The body of a `netbill.epo`, signed by the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Epo {
    /// The purchase's id, from the delivery note.
    pub epo_id: EpoId,
    /// The customer (signer).
    pub customer: KeyId,
    /// The merchant.
    pub merchant: KeyId,
    /// The NetBill server that may settle this EPO (no replay at another server).
    pub server: KeyId,
    /// Product id, as offered.
    pub product: String,
    /// Price, as offered.
    pub price: Amount,
    /// Merkle root of the ciphertext the customer received and accepts.
    pub ciphertext_root: Hex<32>,
    /// The merchant's commitment to K, from the delivery note.
    pub key_commitment: Hex<32>,
    /// Digest of the merchant-signed offer this EPO accepts.
    pub offer: Hex<32>,
    /// When the customer signed.
    pub signed_at: Time,
    /// The time-out: the server refuses the EPO after this instant.
    pub expires_at: Time,
}

impl Body for Epo {
    const TYPE: &'static str = "netbill.epo";

    /// Written member by member (one EPO per request).
    fn assembled(&self) -> Option<Vec<u8>> {
        Members::new(512)
            .string("ciphertext_root", &self.ciphertext_root)
            .string("customer", &self.customer)
            .string("epo_id", &self.epo_id)
            .string("expires_at", &self.expires_at)
            .string("key_commitment", &self.key_commitment)
            .string("merchant", &self.merchant)
            .string("offer", &self.offer)
            .string("price", &self.price)
            .string("product", &self.product)
            .string("server", &self.server)
            .string("signed_at", &self.signed_at)
            .end()
    }
}

/// The body of a `netbill.endorsed-epo`, signed by the merchant: the step-6 message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndorsedEpo {
    /// The customer-signed EPO.
    pub epo: Signed<Epo>,
    /// The merchant-signed offer the EPO accepts.
    pub offer: Signed<Offer>,
    /// K, sealed on the channel from the merchant to the server (see [`goods_key_context`]).
    pub sealed_key: ChannelBox,
}

impl Body for EndorsedEpo {
    const TYPE: &'static str = "netbill.endorsed-epo";

    /// The EPO's and the offer's own encodings (which their signatures and digests use),
    /// members in RFC 8785 order: `epo`, `offer`, `sealed_key`.
    fn assembled(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(2048);
        out.extend_from_slice(b"{\"epo\":");
        self.epo.write_encoded(&mut out);
        out.extend_from_slice(b",\"offer\":");
        self.offer.write_encoded(&mut out);
        out.extend_from_slice(b",\"sealed_key\":");
        let sealed_key = Members::new(160)
            .string("ciphertext", &self.sealed_key.ciphertext)
            .string("nonce", &self.sealed_key.nonce)
            .end()?;
        out.extend_from_slice(&sealed_key);
        out.push(b'}');
        Some(out)
    }
}

/// The sealing context of the goods key K for `epo_id`.
pub fn goods_key_context(epo_id: &EpoId) -> String {
    format!("netbill.goods-key:{epo_id}")
}

/// How an EPO fails to match the offer it claims to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferMismatch {
    /// The price differs.
    Price {
        /// Price in the EPO.
        epo: Amount,
        /// Price in the offer.
        offer: Amount,
    },
    /// Another field differs (named).
    Field(&'static str),
}

impl std::fmt::Display for OfferMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OfferMismatch::Price { epo, offer } => {
                write!(f, "the EPO's price {epo} differs from the offered {offer}")
            }
            OfferMismatch::Field(name) => write!(f, "the EPO's {name} differs from the offer's"),
        }
    }
}

/// Checks that `epo` accepts exactly `offer` (whose digest is `offer_digest`).
pub fn check_matches_offer(epo: &Epo, offer: &Offer, offer_digest: Hex<32>) -> std::result::Result<(), OfferMismatch> {
    let fields = [
        ("offer digest", epo.offer == offer_digest),
        ("merchant", epo.merchant == offer.merchant),
        ("customer", epo.customer == offer.customer),
        ("product", epo.product == offer.product),
    ];
    if let Some((name, _)) = fields.iter().find(|(_, ok)| !ok) {
        return Err(OfferMismatch::Field(name));
    }
    if epo.price != offer.price {
        return Err(OfferMismatch::Price { epo: epo.price, offer: offer.price });
    }
    Ok(())
}

/// What the customer holds when she decides to buy.
pub struct Purchase<'a> {
    /// The merchant-signed offer.
    pub offer: &'a Signed<Offer>,
    /// The merchant's identity.
    pub merchant: &'a Identity,
    /// The merchant-signed delivery note.
    pub note: &'a Signed<DeliveryNote>,
    /// The Merkle root of the ciphertext as received ([`crate::crypto::goods::ciphertext_root`]).
    pub ciphertext_root: Hex<32>,
    /// The NetBill server's identity.
    pub server: &'a Identity,
    /// The time-out she gives the EPO.
    pub expires_at: Time,
    /// Refuse to sign above this price.
    pub max_price: Option<Amount>,
    /// The current time.
    pub now: Time,
}

/// Step 5: verifies the offer, the delivery note and the ciphertext checksum, then signs the EPO.
pub fn sign_epo(p: &Purchase<'_>, customer: &PartyKeys) -> Result<Signed<Epo>> {
    let offer = p.offer.verify(p.merchant).at("offer")?;
    let note = p.note.verify(p.merchant).at("delivery note")?;
    if offer.customer != customer.key_id() {
        let why = format!("the offer is for customer {}, not for {}", offer.customer, customer.key_id());
        return Err(Error::refused(why).at("offer"));
    }
    if p.now > offer.expires_at {
        return Err(Error::refused(format!("the offer expired at {}", offer.expires_at)).at("offer"));
    }
    if note.offer != p.offer.digest() || note.epo_id.merchant() != offer.merchant {
        return Err(Error::refused("the delivery note is for another offer").at("delivery note"));
    }
    if p.ciphertext_root != note.ciphertext_root {
        return Err(Error::refused(format!(
            "its Merkle root is {} but the delivery note says {}: damaged in transit; ask the merchant to send it again",
            p.ciphertext_root, note.ciphertext_root
        ))
        .at("ciphertext"));
    }
    if let Some(max) = p.max_price.filter(|max| offer.price > *max) {
        return Err(Error::refused(format!("the price {} is above the limit {max}", offer.price)).at("offer"));
    }
    if p.expires_at <= p.now {
        return Err(Error::usage(format!("the EPO's expiry {} is not in the future", p.expires_at)));
    }
    let epo = Epo {
        epo_id: note.epo_id.clone(),
        customer: customer.key_id(),
        merchant: offer.merchant,
        server: p.server.key_id,
        product: offer.product.clone(),
        price: offer.price,
        ciphertext_root: note.ciphertext_root,
        key_commitment: note.key_commitment,
        offer: p.offer.digest(),
        signed_at: p.now,
        expires_at: p.expires_at,
    };
    Ok(Signed::sign(epo, customer))
}

/// What the merchant checks the customer's EPO against.
pub struct Endorsement<'a> {
    /// The customer-signed EPO.
    pub epo: &'a Signed<Epo>,
    /// The customer's identity.
    pub customer: &'a Identity,
    /// The offer the goods were delivered against.
    pub offer: &'a Signed<Offer>,
    /// The delivery note for this EPO id.
    pub note: &'a Signed<DeliveryNote>,
    /// K for this delivery.
    pub key: &'a Hex<32>,
    /// The NetBill server's identity (K is sealed to it).
    pub server: &'a Identity,
    /// The current time.
    pub now: Time,
}

/// Step 6: checks the EPO against the merchant's own offer and delivery, then countersigns
/// it with K sealed on the merchant's channel to the server.
pub fn countersign(e: &Endorsement<'_>, merchant: &PartyKeys) -> Result<Signed<EndorsedEpo>> {
    let me = merchant.identity();
    let epo = e.epo.verify(e.customer).at("EPO")?;
    let offer = e.offer.verify(&me).at("stored offer")?;
    let note = e.note.verify(&me).at("stored delivery note")?;
    let refuse = |why: String| Err(Error::refused(why).at("EPO"));
    if epo.customer != e.customer.key_id {
        return refuse(format!("the EPO names customer {}, but {} signed it", epo.customer, e.customer.key_id));
    }
    if epo.epo_id != note.epo_id {
        return refuse(format!("the EPO is for {}, not for delivery {}", epo.epo_id, note.epo_id));
    }
    if let Err(mismatch) = check_matches_offer(&epo, &offer, e.offer.digest()) {
        return refuse(mismatch.to_string());
    }
    if epo.ciphertext_root != note.ciphertext_root {
        return refuse("the EPO acknowledges another ciphertext than the one delivered".into());
    }
    if epo.key_commitment != note.key_commitment {
        return refuse("the EPO names another key commitment than the delivery note's".into());
    }
    if key_commitment(&epo.epo_id, e.key) != note.key_commitment {
        return Err(Error::refused("the stored K is not the one the delivery note commits to").at("stored key"));
    }
    if epo.server != e.server.key_id {
        return refuse(format!("the EPO names server {}, not {}", epo.server, e.server.key_id));
    }
    if e.now > epo.expires_at {
        return refuse(format!("the EPO expired at {}", epo.expires_at));
    }
    let sealed_key = merchant.channel_to(&e.server.x25519)?.seal(&goods_key_context(&epo.epo_id), &e.key.0);
    let body = EndorsedEpo { epo: e.epo.clone(), offer: e.offer.clone(), sealed_key };
    Ok(Signed::sign(body, merchant))
}
