//! Key recovery (the paper's status query): after any failure past step 5 the customer asks
//! the NetBill server, or the merchant, for her receipt, and with it K.
//!
//! Asking and answering are separate documents so any transport carries them. Only the
//! EPO's signer may ask: the request is signed, and the responder checks it with the key it
//! already knows for that customer (the ledger's account, the merchant's records). The answer
//! is the stored receipt sealed to that same customer's X25519 key, so a replayed or
//! intercepted request yields nothing anyone else can open.

use serde::{Deserialize, Serialize};

use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::crypto::seal::{self, Sealed};
use crate::doc::{Body, Signed};
use crate::error::{Error, Result};
use crate::netbill::delivery::EpoId;
use crate::netbill::receipt::Receipt;

/// The body of a `netbill.key-request`, signed by the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// The purchase whose receipt is asked for.
    pub epo_id: EpoId,
    /// The customer asking (the signer).
    pub customer: KeyId,
}

impl Body for KeyRequest {
    const TYPE: &'static str = "netbill.key-request";
}

/// The body of a `netbill.key-answer`: the receipt, sealed to the customer who asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAnswer {
    /// The purchase.
    pub epo_id: EpoId,
    /// The customer it is sealed to.
    pub customer: KeyId,
    /// The receipt document, sealed (context `netbill.key-answer:<epo id>`).
    pub sealed_receipt: Sealed,
}

impl Body for KeyAnswer {
    const TYPE: &'static str = "netbill.key-answer";
}

fn context(epo_id: &EpoId) -> String {
    format!("{}:{epo_id}", KeyAnswer::TYPE)
}

/// The customer's signed request for the receipt of `epo_id`.
pub fn request(epo_id: EpoId, customer: &PartyKeys) -> Signed<KeyRequest> {
    Signed::sign(KeyRequest { epo_id, customer: customer.key_id() }, customer)
}

/// Answers `request` with `receipt`, if `customer` (the responder's own record of the
/// EPO's signer) signed the request.
pub fn answer(request: &Signed<KeyRequest>, customer: &Identity, receipt: &Signed<Receipt>) -> Result<KeyAnswer> {
    let asked = request.verify(customer).map_err(|_| {
        Error::refused(format!(
            "the key request is not signed by the customer of {}; only the EPO's signer may fetch its key",
            request.unverified().epo_id
        ))
    })?;
    let receipt_body = receipt.unverified();
    if asked.customer != customer.key_id {
        return Err(Error::refused("the key request names another customer than its signer"));
    }
    if receipt_body.epo_id != asked.epo_id || receipt_body.customer != customer.key_id {
        return Err(Error::refused("the stored receipt is not this customer's"));
    }
    let sealed_receipt = seal::seal(&customer.x25519, &context(&asked.epo_id), receipt.to_json_line().as_bytes())?;
    Ok(KeyAnswer { epo_id: asked.epo_id.clone(), customer: customer.key_id, sealed_receipt })
}

/// Opens an answer with the customer's key and checks the receipt is the server's.
pub fn open(answer: &KeyAnswer, customer: &PartyKeys, server: &Identity) -> Result<Signed<Receipt>> {
    if answer.customer != customer.key_id() {
        return Err(Error::refused(format!(
            "the answer is sealed to {}, not to {}",
            answer.customer,
            customer.key_id()
        )));
    }
    let bytes = customer.open_sealed(&context(&answer.epo_id), &answer.sealed_receipt)?;
    let receipt = Signed::<Receipt>::parse(&bytes)?;
    let body = receipt.verify(server)?;
    if body.epo_id != answer.epo_id {
        return Err(Error::refused("the sealed receipt is for another EPO"));
    }
    Ok(receipt.clone())
}
