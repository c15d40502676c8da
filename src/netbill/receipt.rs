//! Step 7's result: the NetBill server's signed receipt.
//!
//! Every decision is a signed receipt, refusals included, so each party holds evidence of
//! what the server decided. A paid receipt carries K, which opens to the merchant's key
//! commitment, so the customer can decrypt and a judge can compare the server's K with the
//! one the merchant committed to in his delivery note and countersigned in the EPO.

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::crypto::keys::KeyId;
use crate::doc::{Body, Hex, Members};
use crate::ledger::journal::Head;
use crate::money::Amount;
use crate::netbill::delivery::{EpoId, key_commitment};

/// The outcome of a settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The customer was debited and the merchant credited; K is in the receipt.
    Paid,
    /// No money moved; `reason` says why.
    Refused,
}

/// Why the server refused an EPO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalReason {
    /// The customer's EPO or the merchant's endorsement does not verify with the account's
    /// registered key.
    BadSignature,
    /// The customer or the merchant has no account at this server.
    UnknownAccount,
    /// The EPO names another NetBill server.
    WrongServer,
    /// The EPO's time-out passed before the server processed it.
    Expired,
    /// The customer's balance is below the price.
    InsufficientFunds,
    /// The EPO does not accept the countersigned offer (price, product, customer or digest).
    PriceMismatch,
    /// The sealed key does not open on the merchant's channel, or is not the K the EPO's key
    /// commitment names.
    BadKey,
    /// The EPO id was settled before with a different request.
    Replay,
    /// The EPO contradicts itself (customer and merchant are one party, or the EPO id is
    /// another merchant's).
    Inconsistent,
    /// The credit would overflow the merchant's balance.
    LimitExceeded,
}

impl RefusalReason {
    /// Whether a refusal for this reason is the server's final decision on the EPO id. Only
    /// refusals of requests whose customer and merchant signatures both verified with their
    /// accounts' keys bind; the others answer one request and leave the EPO id open, so a
    /// forger who saw an EPO id cannot burn it.
    pub fn binds(self) -> bool {
        !matches!(
            self,
            RefusalReason::BadSignature
                | RefusalReason::UnknownAccount
                | RefusalReason::WrongServer
                | RefusalReason::Replay
        )
    }

    /// The reason as written in receipts.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::BadSignature => "bad-signature",
            RefusalReason::UnknownAccount => "unknown-account",
            RefusalReason::WrongServer => "wrong-server",
            RefusalReason::Expired => "expired",
            RefusalReason::InsufficientFunds => "insufficient-funds",
            RefusalReason::PriceMismatch => "price-mismatch",
            RefusalReason::BadKey => "bad-key",
            RefusalReason::Replay => "replay",
            RefusalReason::Inconsistent => "inconsistent",
            RefusalReason::LimitExceeded => "limit-exceeded",
        }
    }
}

/// The body of a `netbill.receipt`, signed by the NetBill server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The purchase.
    pub epo_id: EpoId,
    /// Paid or refused.
    pub result: Outcome,
    /// Why it was refused (refusals only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RefusalReason>,
    /// The customer named by the EPO.
    pub customer: KeyId,
    /// The merchant named by the EPO.
    pub merchant: KeyId,
    /// The product named by the EPO.
    pub product: String,
    /// The price named by the EPO.
    pub price: Amount,
    /// Merkle root of the ciphertext both parties signed for.
    pub ciphertext_root: Hex<32>,
    /// The merchant's commitment to K named by the EPO.
    pub key_commitment: Hex<32>,
    /// Digest of the customer-signed EPO.
    pub epo: Hex<32>,
    /// Digest of the endorsed EPO this receipt answers.
    pub request: Hex<32>,
    /// The escrowed goods key K (paid only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Hex<32>>,
    /// The server's time of decision.
    pub server_time: Time,
    /// The head of the server's journal when it signed this receipt: the history before it,
    /// which the receipt holder can hold the server to.
    pub journal: Head,
}

impl Receipt {
    /// Whether this is the server's final word on the EPO id: a payment, or a refusal that
    /// binds ([`RefusalReason::binds`]).
    pub fn binds(&self) -> bool {
        self.reason.is_none_or(RefusalReason::binds)
    }
}

impl Body for Receipt {
    const TYPE: &'static str = "netbill.receipt";

    /// Written member by member (one receipt per settlement).
    fn assembled(&self) -> Option<Vec<u8>> {
        Members::new(640)
            .string("ciphertext_root", &self.ciphertext_root)
            .string("customer", &self.customer)
            .string("epo", &self.epo)
            .string("epo_id", &self.epo_id)
            .object("journal", |m| m.string("digest", &self.journal.digest).integer("seq", self.journal.seq))
            .optional("key", self.key.as_ref())
            .string("key_commitment", &self.key_commitment)
            .string("merchant", &self.merchant)
            .string("price", &self.price)
            .string("product", &self.product)
            .optional("reason", self.reason.as_ref())
            .string("request", &self.request)
            .string("result", &self.result)
            .string("server_time", &self.server_time)
            .end()
    }

    /// A paid receipt carries the K its key commitment names, and no reason; a refusal
    /// carries a reason and no key.
    fn check(&self) -> Result<(), String> {
        match (self.result, self.reason, &self.key) {
            (Outcome::Paid, None, Some(key)) if key_commitment(&self.epo_id, key) == self.key_commitment => Ok(()),
            (Outcome::Paid, None, Some(_)) => Err("the key is not the one the key commitment names".into()),
            (Outcome::Paid, ..) => Err("a paid receipt has a key, and no reason".into()),
            (Outcome::Refused, Some(_), None) => Ok(()),
            (Outcome::Refused, ..) => Err("a refused receipt has a reason, and no key".into()),
        }
    }
}
