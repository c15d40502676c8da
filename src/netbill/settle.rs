//! Step 7: the NetBill server's decision, as a pure function.
//!
//! [`decide_checked`] looks only at the request, its checked signatures, the two accounts, the
//! clock and the journal's head. [`crate::netbill::batch::settle_group`] runs it inside a
//! ledger transaction ([`Books`]): an EPO id seen before with the identical request returns the
//! stored receipt (retries are idempotent, nobody is charged twice), with a different request
//! it is refused as a replay; otherwise the decision, its money movement, the escrowed K, the
//! signed receipt and the journal entry are recorded together, before anyone sees the receipt.
//!
//! A payment always binds the EPO id; a refusal binds it only when both the customer's and the
//! merchant's signatures verified with their accounts' keys ([`RefusalReason::binds`]): a forged
//! request must not be able to burn a customer's EPO id. Unbound refusals are signed too, and
//! name the request they answer.

use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::crypto::seal::Channel;
use crate::doc::{Hex, Signed};
use crate::error::Result;
use crate::ledger::journal::{Entry, Head};
use crate::money::Amount;
use crate::netbill::delivery::EpoId;
use crate::netbill::delivery::key_commitment;
use crate::netbill::epo::{EndorsedEpo, check_matches_offer, goods_key_context};
use crate::netbill::receipt::{Outcome, Receipt, RefusalReason};

/// An account as the settlement sees it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The account's name.
    pub name: String,
    /// The public identity the account is bound to.
    pub identity: Identity,
    /// The current balance.
    pub balance: Amount,
}

/// A money movement decided by [`decide_checked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Account debited.
    pub customer: KeyId,
    /// Account credited.
    pub merchant: KeyId,
    /// Amount moved.
    pub price: Amount,
}

/// The server's decision on one request.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The receipt to sign.
    pub receipt: Receipt,
    /// The money to move (paid decisions only).
    pub transfer: Option<Transfer>,
}

impl Decision {
    /// Whether the decision is final for the EPO id (see the module docs).
    pub fn binds(&self) -> bool {
        self.receipt.reason.is_none_or(RefusalReason::binds)
    }
}

/// A settlement recorded in the books.
#[derive(Debug, Clone)]
pub struct StoredSettlement {
    /// Digest of the endorsed EPO that was decided.
    pub request: Hex<32>,
    /// The signed receipt.
    pub receipt: Signed<Receipt>,
}

/// The books as seen from inside one ledger transaction.
pub trait Books {
    /// The account bound to key `key`.
    fn account(&mut self, key: KeyId) -> Result<Option<Account>>;
    /// The recorded settlement of `epo_id`.
    fn settlement(&mut self, epo_id: &EpoId) -> Result<Option<StoredSettlement>>;
    /// The head of the journal, which stays the head until the transaction ends.
    fn head(&mut self) -> Result<Head>;
    /// Records a binding decision: the settlement, the escrowed K, and for a payment the
    /// debit and credit, as action `place` (entry, action) of the journal, which holds its
    /// receipt.
    fn record(&mut self, decision: &Decision, place: (u64, u32)) -> Result<()>;
    /// Appends the entry that journals what was recorded.
    fn append(&mut self, entry: &Signed<Entry>) -> Result<()>;
}

/// The outcome of the checks on one request: its two signatures and the K sealed inside it.
/// [`Signatures::strict`] checks one request; a batch verifier ([`crate::netbill::batch`])
/// reaches the same result for many requests at once.
///
/// The offer's own signature is not among them: the merchant's endorsement covers the offer,
/// so his signature on the request is his word on its terms (the customer checked the
/// offer's signature before she signed).
#[derive(Debug, Clone)]
pub struct Signatures {
    /// The merchant's endorsement and the customer's EPO both verify.
    pub parties: bool,
    /// K, opened on the merchant's channel, when it is the K the EPO's commitment names.
    pub key: Option<Hex<32>>,
}

impl Signatures {
    /// Checks the signatures of `request` strictly and opens its K.
    pub fn strict(
        request: &Signed<EndorsedEpo>,
        customer: &Identity,
        merchant: &Identity,
        server: &PartyKeys,
    ) -> Signatures {
        let endorsed = request.unverified();
        let channel = server.channel_from(&merchant.x25519).ok();
        Signatures {
            parties: request.verify(merchant).is_ok() && endorsed.epo.verify(customer).is_ok(),
            key: channel.and_then(|c| open_key(endorsed, &c)),
        }
    }
}

/// Opens the K sealed in `endorsed` on `channel` (the merchant's to the server), if it is the
/// K the EPO's commitment names.
pub fn open_key(endorsed: &EndorsedEpo, channel: &Channel) -> Option<Hex<32>> {
    let epo = endorsed.epo.unverified();
    let opened = channel.open(&goods_key_context(&epo.epo_id), &endorsed.sealed_key).ok()?;
    let key = Hex(<[u8; 32]>::try_from(&opened[..]).ok()?);
    (key_commitment(&epo.epo_id, &key) == epo.key_commitment).then_some(key)
}

/// Decides one endorsed EPO whose signatures have been checked (`None` when there was nothing
/// to check them with: no such accounts, or another server). Pure.
pub fn decide_checked(
    request: &Signed<EndorsedEpo>,
    customer: Option<&Account>,
    merchant: Option<&Account>,
    signatures: Option<&Signatures>,
    server: &PartyKeys,
    now: Time,
    head: Head,
) -> Decision {
    let endorsed = request.unverified();
    let epo = endorsed.epo.unverified();
    let refuse = |reason| Decision { receipt: receipt(request, Err(reason), now, head), transfer: None };

    if epo.server != server.key_id() {
        return refuse(RefusalReason::WrongServer);
    }
    let (Some(customer), Some(merchant), Some(signatures)) = (customer, merchant, signatures) else {
        return refuse(RefusalReason::UnknownAccount);
    };
    if !signatures.parties {
        return refuse(RefusalReason::BadSignature);
    }
    // Both parties have committed to this request: refusals from here on bind the EPO id.
    if epo.customer == epo.merchant || epo.epo_id.merchant() != epo.merchant {
        return refuse(RefusalReason::Inconsistent);
    }
    if check_matches_offer(epo, endorsed.offer.unverified(), endorsed.offer.digest()).is_err() {
        return refuse(RefusalReason::PriceMismatch);
    }
    if now > epo.expires_at {
        return refuse(RefusalReason::Expired);
    }
    let Some(key) = signatures.key else {
        return refuse(RefusalReason::BadKey);
    };
    if customer.balance < epo.price {
        return refuse(RefusalReason::InsufficientFunds);
    }
    if merchant.balance.checked_add(epo.price).is_err() {
        return refuse(RefusalReason::LimitExceeded);
    }
    Decision {
        receipt: receipt(request, Ok(key), now, head),
        transfer: Some(Transfer { customer: epo.customer, merchant: epo.merchant, price: epo.price }),
    }
}

/// The refusal of a request whose EPO id was settled with other content.
pub fn replay(request: &Signed<EndorsedEpo>, now: Time, head: Head) -> Receipt {
    receipt(request, Err(RefusalReason::Replay), now, head)
}

/// The receipt answering `request`: paid with K, or refused.
fn receipt(
    request: &Signed<EndorsedEpo>,
    decided: std::result::Result<Hex<32>, RefusalReason>,
    now: Time,
    head: Head,
) -> Receipt {
    let endorsed = request.unverified();
    let epo = endorsed.epo.unverified();
    let (result, reason, key) = match decided {
        Ok(key) => (Outcome::Paid, None, Some(key)),
        Err(reason) => (Outcome::Refused, Some(reason), None),
    };
    Receipt {
        epo_id: epo.epo_id.clone(),
        result,
        reason,
        customer: epo.customer,
        merchant: epo.merchant,
        product: epo.product.clone(),
        price: epo.price,
        ciphertext_root: epo.ciphertext_root,
        key_commitment: epo.key_commitment,
        epo: endorsed.epo.digest(),
        request: request.digest(),
        key,
        server_time: now,
        journal: head,
    }
}
