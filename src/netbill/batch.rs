//! Settlement at volume: the signatures of many requests checked at once on every core, then
//! the requests decided and recorded in one ledger transaction (group commit).
//!
//! Each settlement is decided on the balances as they stand after the requests before it,
//! recorded with its money movement and its receipt, idempotent by EPO id; the group's binding
//! decisions make one journal entry, and its receipts carry the head that entry follows. The
//! group is one transaction, so a crash loses the whole group and no receipt of it has been
//! released: the client sends the requests again, and they are settled once.
//!
//! Batch verification (ed25519-dalek's) checks a random linear combination of the signature
//! equations; unlike `verify_strict` it may accept a signature whose `R` carries a small-order
//! component, which only the holder of the signing key can make. The two signatures it checks
//! are each checked strictly by an honest counterparty before they reach the server (the EPO
//! by the merchant in `epo-countersign`) or can only bind their own signer (the
//! endorsement); account keys are refused at opening unless they are torsion-free, so that the
//! combination is exact for every honest signature. The K a payment releases is not a
//! signature at all: the EPO, which both parties signed, names its commitment.

use std::collections::HashMap;

use ed25519_dalek::{Signature, VerifyingKey};

use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::crypto::seal::Channel;
use crate::doc::{Hex, Signed};
use crate::error::Result;
use crate::ledger::journal::{Action, Balances, Entry};
use crate::money::Amount;
use crate::netbill::delivery::EpoId;
use crate::netbill::epo::EndorsedEpo;
use crate::netbill::receipt::Receipt;
use crate::netbill::settle::{Account, Books, Decision, Signatures, decide_checked, open_key, replay};

/// A party's identity and its parsed key, as a settler caches them (accounts never change keys).
pub type Directory = HashMap<KeyId, (Identity, VerifyingKey)>;

/// A request with its signatures checked.
pub struct Prepared {
    /// The request.
    pub request: Signed<EndorsedEpo>,
    /// The checks (`None`: another server, or no account to check them with).
    pub signatures: Option<Signatures>,
}

/// One signature to check, and which request it is for.
struct Claim {
    message: Vec<u8>,
    signature: Signature,
    key: VerifyingKey,
    request: usize,
}

/// Checks the signatures of `requests` on `threads` threads, in one batch per thread (each
/// thread verifying its part strictly, signature by signature, if its batch fails), and opens
/// their sealed keys on the merchants' channels.
pub fn prepare(
    requests: Vec<Signed<EndorsedEpo>>,
    directory: &Directory,
    server: &PartyKeys,
    threads: usize,
) -> Vec<Prepared> {
    let chunk = requests.len().div_ceil(threads.max(1)).max(1);
    let checked: Vec<Option<Signatures>> = std::thread::scope(|scope| {
        let workers: Vec<_> =
            requests.chunks(chunk).map(|part| scope.spawn(move || check_part(part, directory, server))).collect();
        workers.into_iter().flat_map(|w| w.join().expect("a verifier does not panic")).collect()
    });
    requests.into_iter().zip(checked).map(|(request, signatures)| Prepared { request, signatures }).collect()
}

fn check_part(part: &[Signed<EndorsedEpo>], directory: &Directory, server: &PartyKeys) -> Vec<Option<Signatures>> {
    let mut claims = Vec::with_capacity(part.len() * 2);
    let mut channels: HashMap<KeyId, Option<Channel>> = HashMap::new();
    let mut out: Vec<Option<Signatures>> = part
        .iter()
        .enumerate()
        .map(|(i, request)| {
            let endorsed = request.unverified();
            let epo = endorsed.epo.unverified();
            if epo.server != server.key_id() {
                return None;
            }
            let ((customer, customer_key), (merchant, merchant_key)) =
                (directory.get(&epo.customer)?, directory.get(&epo.merchant)?);
            let mut claim =
                |doc_key: KeyId, message: Option<Vec<u8>>, sig: &Hex<64>, id: &Identity, key: &VerifyingKey| {
                    let Some(message) = message.filter(|_| doc_key == id.key_id) else {
                        return false;
                    };
                    claims.push(Claim { message, signature: Signature::from_bytes(&sig.0), key: *key, request: i });
                    true
                };
            let parties = claim(
                request.signature().key_id,
                request.signed_bytes(),
                &request.signature().ed25519,
                merchant,
                merchant_key,
            ) & claim(
                endorsed.epo.signature().key_id,
                endorsed.epo.signed_bytes(),
                &endorsed.epo.signature().ed25519,
                customer,
                customer_key,
            );
            // The digests the decision and the receipt name, computed here, on every core.
            let _ = (request.digest(), endorsed.epo.digest(), endorsed.offer.digest());
            let channel = channels.entry(merchant.key_id).or_insert_with(|| server.channel_from(&merchant.x25519).ok());
            let key = channel.as_ref().and_then(|c| open_key(endorsed, c));
            Some(Signatures { parties, key })
        })
        .collect();
    let messages: Vec<&[u8]> = claims.iter().map(|c| c.message.as_slice()).collect();
    let signatures: Vec<Signature> = claims.iter().map(|c| c.signature).collect();
    let keys: Vec<VerifyingKey> = claims.iter().map(|c| c.key).collect();
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_err() {
        for c in &claims {
            if c.key.verify_strict(&c.message, &c.signature).is_err()
                && let Some(s) = out[c.request].as_mut()
            {
                s.parties = false;
            }
        }
    }
    out
}

/// How many receipts one signature covers. Each receipt carries its batch's inclusion proof,
/// log2 of this many hashes; 16 costs a sixteenth of a signature and four hashes (about 270
/// bytes) per receipt, which the journal entry stores.
pub const RECEIPT_BATCH: usize = 16;

/// Signs `receipts` in batches of [`RECEIPT_BATCH`] on `threads` threads; in order.
fn sign_receipts(receipts: &[&Receipt], server: &PartyKeys, threads: usize) -> Vec<Signed<Receipt>> {
    let per_thread = receipts.len().div_ceil(threads.max(1)).next_multiple_of(RECEIPT_BATCH).max(RECEIPT_BATCH);
    std::thread::scope(|scope| {
        let workers: Vec<_> = receipts
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.chunks(RECEIPT_BATCH)
                        .flat_map(|batch| Signed::sign_batch(batch.iter().map(|&r| r.clone()).collect(), server))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a signer does not panic")).collect()
    })
}

/// What became of one request of a group.
enum Slot {
    /// Settled before: its stored receipt.
    Stored(Signed<Receipt>),
    /// Decided now (to be signed, and recorded if it binds), with the balances a payment left.
    Decided(Decision, Option<Balances>),
    /// A replay of a settled EPO id with other content (signed, not recorded).
    Replay(Receipt),
    /// The same request as an earlier one of this group: the same receipt.
    SameAs(usize),
}

/// Settles a group of prepared requests in `books` (which the caller commits, once, for the
/// whole group) and returns their receipts in order.
pub fn settle_group(
    books: &mut dyn Books,
    group: &[Prepared],
    server: &PartyKeys,
    now: Time,
    threads: usize,
) -> Result<Vec<Signed<Receipt>>> {
    let head = books.head()?;
    let mut accounts: HashMap<KeyId, Option<Account>> = HashMap::new();
    let mut settled: HashMap<EpoId, (Hex<32>, usize)> = HashMap::new();
    let mut slots = Vec::with_capacity(group.len());
    for (i, p) in group.iter().enumerate() {
        let epo = p.request.unverified().epo.unverified();
        let digest = p.request.digest();
        if let Some((first, j)) = settled.get(&epo.epo_id) {
            slots.push(if *first == digest { Slot::SameAs(*j) } else { Slot::Replay(replay(&p.request, now, head)) });
            continue;
        }
        if let Some(stored) = books.settlement(&epo.epo_id)? {
            slots.push(if stored.request == digest {
                Slot::Stored(stored.receipt)
            } else {
                Slot::Replay(replay(&p.request, now, head))
            });
            continue;
        }
        for key in [epo.customer, epo.merchant] {
            if let std::collections::hash_map::Entry::Vacant(slot) = accounts.entry(key) {
                slot.insert(books.account(key)?);
            }
        }
        let decision = decide_checked(
            &p.request,
            accounts[&epo.customer].as_ref(),
            accounts[&epo.merchant].as_ref(),
            p.signatures.as_ref(),
            server,
            now,
            head,
        );
        let mut balances = None;
        if let Some(t) = decision.transfer {
            // The balances the next requests of the group are decided on.
            let mut after = |key: KeyId, credit: bool| -> Result<Amount> {
                let a = accounts.get_mut(&key).and_then(Option::as_mut).expect("a payment has both accounts");
                a.balance = if credit {
                    a.balance.checked_add(t.price)?
                } else {
                    a.balance.checked_sub(t.price).expect("decided on this balance")
                };
                Ok(a.balance)
            };
            balances = Some(Balances { customer: after(t.customer, false)?, merchant: after(t.merchant, true)? });
        }
        if decision.binds() {
            settled.insert(epo.epo_id.clone(), (digest, i));
        }
        slots.push(Slot::Decided(decision, balances));
    }
    // The receipts are signed in batches (`Signed::sign_batch`) on `threads` threads, and the
    // binding decisions recorded in order. The receipts the journal entry holds are signed in
    // batches of their own, so that the entry holds each of its batches whole (it stores each
    // batch's signature once, docs/FORMATS.md §6.10); its encoding is assembled from the
    // receipts' own (`Entry`'s `Body::assembled`).
    let journaled = |slot: &Slot| matches!(slot, Slot::Decided(d, _) if d.binds());
    let sign = |journal: bool| {
        let bodies: Vec<&Receipt> = slots
            .iter()
            .filter(|s| journaled(s) == journal)
            .filter_map(|s| match s {
                Slot::Decided(d, _) => Some(&d.receipt),
                Slot::Replay(r) => Some(r),
                _ => None,
            })
            .collect();
        sign_receipts(&bodies, server, threads).into_iter()
    };
    // Each in the order of its slots.
    let (mut signed_journaled, mut signed_others) = (sign(true), sign(false));
    let mut receipts: Vec<Signed<Receipt>> = Vec::with_capacity(slots.len());
    let (mut actions, mut binding) = (Vec::new(), Vec::new());
    for slot in &slots {
        let receipt = match slot {
            Slot::Stored(r) => r.clone(),
            Slot::SameAs(j) => receipts[*j].clone(),
            Slot::Replay(_) | Slot::Decided(..) => {
                let signed = if journaled(slot) { &mut signed_journaled } else { &mut signed_others };
                signed.next().expect("a receipt for every decision")
            }
        };
        if let Slot::Decided(decision, balances) = slot
            && decision.binds()
        {
            binding.push(decision);
            actions.push(Action::Settlement { receipt: Box::new(receipt.clone()), balances: *balances });
        }
        receipts.push(receipt);
    }
    // The journal entry (a megabyte for a full group) is signed, and its digest, which
    // `append` makes the head, computed, on its own thread while the decisions are recorded.
    std::thread::scope(|scope| -> Result<()> {
        let entry = (!actions.is_empty()).then(|| {
            scope.spawn(move || {
                let entry = Entry::sign(Some(head), now, actions, server);
                entry.digest();
                entry
            })
        });
        for (n, decision) in binding.into_iter().enumerate() {
            books.record(decision, (head.seq + 1, u32::try_from(n).expect("groups are small")))?;
        }
        match entry {
            Some(entry) => books.append(&entry.join().expect("signing does not panic")),
            None => Ok(()),
        }
    })?;
    Ok(receipts)
}
