//! Step 7's result: the NetBill server's signed receipt.
//!
//! Every decision is a signed receipt, refusals included, so each party holds evidence of
//! what the server decided. A paid receipt carries K and the merchant-signed key statement,
//! so the customer can decrypt and a judge can compare the server's K with the merchant's.

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::crypto::keys::KeyId;
use crate::doc::{Body, Hex, Signed};
use crate::ledger::journal::Head;
use crate::money::Amount;
use crate::netbill::delivery::EpoId;
use crate::netbill::epo::KeyStatement;

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
    /// A signature (customer's EPO, merchant's endorsement, offer or key statement) does not
    /// verify with the account's registered key.
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
    /// The sealed key does not open, or the key statement does not match the EPO.
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
    /// Digest of the customer-signed EPO.
    pub epo: Hex<32>,
    /// Digest of the endorsed EPO this receipt answers.
    pub request: Hex<32>,
    /// The escrowed goods key K (paid only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Hex<32>>,
    /// The merchant-signed key statement for K (paid only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_statement: Option<Signed<KeyStatement>>,
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

    /// A paid receipt carries K and the merchant's statement of the same K for the same EPO
    /// and ciphertext, and no reason; a refusal carries a reason and no key.
    fn check(&self) -> Result<(), String> {
        match (self.result, self.reason, &self.key, &self.key_statement) {
            (Outcome::Paid, None, Some(key), Some(statement)) => {
                let s = statement.unverified();
                if s.key != *key || s.epo_id != self.epo_id || s.ciphertext_root != self.ciphertext_root {
                    return Err("the key statement does not state this receipt's key, EPO and ciphertext".into());
                }
                Ok(())
            }
            (Outcome::Paid, ..) => Err("a paid receipt has a key and a key statement, and no reason".into()),
            (Outcome::Refused, Some(_), None, None) => Ok(()),
            (Outcome::Refused, ..) => Err("a refused receipt has a reason, and no key or key statement".into()),
        }
    }
}
