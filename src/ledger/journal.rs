//! The server's journal: a hash chain of server-signed entries that covers every change of the
//! books, and the books as the journal alone makes them.
//!
//! Entry `n` names entry `n − 1` by its digest, and each entry is signed by the server, so
//! nobody without the server's key can insert, delete or rewrite an entry without breaking the
//! chain. Every receipt carries the head of the journal when it was signed (the entry it
//! follows): whoever holds a receipt holds a commitment to the whole history before it. The
//! tables a ledger keeps (accounts, transactions, movements, settlements) are a projection of
//! the journal: [`replay`] recomputes them, so that `netbill-ledger audit` can name every row
//! changed behind the server's back and `netbill-ledger unwind` can restore them.
//!
//! Money entries also record the balance each account was left with, as the server saw it.
//! When the books were edited behind the server's back and the server then acted on an edited
//! balance, the recorded balance disagrees with the journal's own history from that entry on:
//! a [`Divergence`] pinpoints where the corruption began.

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::doc::{Body, Hex, Signed};
use crate::error::Error;
use crate::ledger::Direction;
use crate::money::{Amount, to_sql};
use crate::netbill::receipt::{Outcome, Receipt};

/// A position in the journal: an entry's sequence number and the digest of the signed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// The entry's sequence number (the first entry is 0).
    pub seq: u64,
    /// SHA-256 of the signed entry ([`Signed::digest`]).
    pub digest: Hex<32>,
}

impl Head {
    /// The head a signed entry makes.
    pub fn of(entry: &Signed<Entry>) -> Head {
        Head { seq: entry.unverified().seq, digest: entry.digest() }
    }
}

/// The body of a `netbill.journal` entry, signed by the server. Its settlements' receipts are
/// stored as their bodies, with the signature of each batch they were signed in once
/// ([`EntryWire`]), and whole again when the entry is parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EntryWire", into = "EntryWire")]
pub struct Entry {
    /// Sequence number: one more than the previous entry's.
    pub seq: u64,
    /// The digest of the previous entry (none for entry 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<Hex<32>>,
    /// When the server wrote it.
    pub at: Time,
    /// What changed, in order.
    pub actions: Vec<Action>,
}

/// An entry as it is encoded: each settlement's receipt as its body, and the signature of
/// each batch of receipts once, in order (`receipt_batches`, absent when empty).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryWire {
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prev: Option<Hex<32>>,
    at: Time,
    actions: Vec<Action<Receipt>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    receipt_batches: Vec<ReceiptBatch>,
}

/// The signature of a batch of receipts: it covers the next `size` settlements' receipts of
/// the entry (a batch of one was signed alone; docs/FORMATS.md §2.3, §6.10).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptBatch {
    /// The batch's Ed25519 signature.
    ed25519: Hex<64>,
    /// The signer's key id.
    key_id: KeyId,
    /// How many receipts it covers, at least one.
    size: u32,
}

impl ReceiptBatch {
    /// The batches of `receipts`, in order: each must be whole, as a group signs the receipts
    /// it journals in batches of their own.
    fn of<'a>(receipts: impl Iterator<Item = &'a Signed<Receipt>>) -> Vec<ReceiptBatch> {
        let mut batches: Vec<ReceiptBatch> = Vec::new();
        let mut open = 0;
        for receipt in receipts {
            let signature = receipt.signature();
            let (index, size) = signature.batch.as_ref().map_or((0, 1), |b| (b.index, b.size));
            assert_eq!(index, open, "a journal entry holds whole batches of receipts, in order");
            if index == 0 {
                batches.push(ReceiptBatch { ed25519: signature.ed25519, key_id: signature.key_id, size });
            }
            open = if index + 1 == size { 0 } else { index + 1 };
        }
        assert_eq!(open, 0, "a journal entry holds whole batches of receipts");
        batches
    }

    /// Writes the canonical encoding of `batches` (members in order: `ed25519`, `key_id`,
    /// `size`; hex, a key id and an integer, which need no escape).
    fn write_canonical(batches: &[ReceiptBatch], out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, b) in batches.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            write!(out, r#"{comma}{{"ed25519":"{}","key_id":"{}","size":{}}}"#, b.ed25519, b.key_id, b.size)
                .expect("a Vec takes any write");
        }
        out.push(b']');
    }
}

impl From<Entry> for EntryWire {
    fn from(entry: Entry) -> EntryWire {
        let receipt_batches = ReceiptBatch::of(entry.receipts());
        let actions = entry.actions.into_iter().map(|a| a.map_receipt(|r| r.unverified().clone())).collect();
        EntryWire { seq: entry.seq, prev: entry.prev, at: entry.at, actions, receipt_batches }
    }
}

impl TryFrom<EntryWire> for Entry {
    type Error = String;

    /// Makes each batch's receipts whole again from their bodies and its signature.
    fn try_from(wire: EntryWire) -> std::result::Result<Entry, String> {
        let mut bodies = Vec::new();
        let actions: Vec<Action<()>> = wire.actions.into_iter().map(|a| a.map_receipt(|r| bodies.push(r))).collect();
        let held = bodies.len();
        let covered: u64 = wire.receipt_batches.iter().map(|b| u64::from(b.size)).sum();
        if covered != held as u64 {
            return Err(format!("the receipt batches cover {covered} receipts, the entry holds {held}"));
        }
        if wire.receipt_batches.iter().any(|b| b.size == 0) {
            return Err("a receipt batch covers no receipt".into());
        }
        let (mut bodies, mut receipts) = (bodies.into_iter(), Vec::with_capacity(held));
        for batch in &wire.receipt_batches {
            let batch_bodies = bodies.by_ref().take(batch.size as usize).collect();
            receipts.extend(Signed::from_batch(batch_bodies, batch.key_id, batch.ed25519));
        }
        let mut receipts = receipts.into_iter();
        let actions = actions
            .into_iter()
            .map(|a| a.map_receipt(|()| Box::new(receipts.next().expect("one receipt for each settlement"))))
            .collect();
        Ok(Entry { seq: wire.seq, prev: wire.prev, at: wire.at, actions })
    }
}

impl Body for Entry {
    const TYPE: &'static str = "netbill.journal";

    /// Assembled from its actions' encodings (members in RFC 8785 order: `actions`, `at`,
    /// `prev`, `receipt_batches`, `seq`): a group's entry holds the body of every receipt of the
    /// group.
    fn assembled(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(1024 * self.actions.len());
        out.extend_from_slice(b"{\"actions\":[");
        for (i, action) in self.actions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            action.write_encoded(&mut out);
        }
        out.extend_from_slice(b"],\"at\":");
        out.extend_from_slice(&crate::doc::jcs(&self.at));
        if let Some(prev) = &self.prev {
            out.extend_from_slice(b",\"prev\":");
            out.extend_from_slice(&crate::doc::jcs(prev));
        }
        let batches = ReceiptBatch::of(self.receipts());
        if !batches.is_empty() {
            out.extend_from_slice(b",\"receipt_batches\":");
            ReceiptBatch::write_canonical(&batches, &mut out);
        }
        out.extend_from_slice(format!(",\"seq\":{}}}", self.seq).as_bytes());
        Some(out)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if (self.seq == 0) != self.prev.is_none() {
            return Err("entry 0, and only entry 0, has no previous entry".into());
        }
        if self.actions.is_empty() {
            return Err("an entry records at least one action".into());
        }
        Ok(())
    }
}

impl Entry {
    /// Its settlements' receipts, in order.
    fn receipts(&self) -> impl Iterator<Item = &Signed<Receipt>> {
        self.actions.iter().filter_map(Action::receipt).map(|r| &**r)
    }

    /// The entry that follows `head` (or the first one), signed by `server` as a batch of one
    /// ([`Signed::sign_hashed`]: a full group's entry is a megabyte).
    pub fn sign(head: Option<Head>, at: Time, actions: Vec<Action>, server: &PartyKeys) -> Signed<Entry> {
        let entry = Entry { seq: head.map_or(0, |h| h.seq + 1), prev: head.map(|h| h.digest), at, actions };
        Signed::sign_hashed(entry, server)
    }
}

impl Action {
    /// Appends the action's canonical encoding to `out`; a settlement's is assembled around
    /// its receipt body's own (members in RFC 8785 order: `action`, `balances`, `receipt`), so
    /// a receipt signed in this process is not encoded again.
    fn write_encoded(&self, out: &mut Vec<u8>) {
        let Action::Settlement { receipt, balances } = self else {
            return out.extend_from_slice(&crate::doc::jcs(self));
        };
        out.extend_from_slice(b"{\"action\":\"settlement\"");
        if let Some(balances) = balances {
            out.extend_from_slice(b",\"balances\":");
            balances.write_canonical(out);
        }
        out.extend_from_slice(b",\"receipt\":");
        out.extend_from_slice(receipt.canonical());
        out.push(b'}');
    }
}

impl<R> Action<R> {
    /// A settlement's receipt.
    fn receipt(&self) -> Option<&R> {
        match self {
            Action::Settlement { receipt, .. } => Some(receipt),
            _ => None,
        }
    }

    /// The same action, a settlement's receipt mapped by `f`.
    fn map_receipt<S>(self, f: impl FnOnce(R) -> S) -> Action<S> {
        match self {
            Action::Create { server } => Action::Create { server },
            Action::Open { identity } => Action::Open { identity },
            Action::Deposit(e) => Action::Deposit(e),
            Action::Withdrawal(e) => Action::Withdrawal(e),
            Action::Settlement { receipt, balances } => Action::Settlement { receipt: f(receipt), balances },
            Action::Correction { from, moves } => Action::Correction { from, moves },
        }
    }
}

/// Receipts read from the journal entries that hold them, for the settlements the books place
/// there: an entry is parsed once for a run of reads into it (the last one read is kept).
#[derive(Default)]
pub struct StoredReceipts {
    last: Option<Signed<Entry>>,
}

impl StoredReceipts {
    /// The receipt of action `action` of entry `entry` (as the books store them), whose stored
    /// line `load` reads (`None`: no such entry).
    pub fn get<E: From<Error>>(
        &mut self,
        (entry, action): (i64, i64),
        load: impl FnOnce(u64) -> std::result::Result<Option<String>, E>,
    ) -> std::result::Result<Signed<Receipt>, E> {
        let no_receipt = || Error::malformed(format!("journal entry {entry} holds no receipt at action {action}"));
        let seq = u64::try_from(entry).map_err(|_| no_receipt())?;
        if self.last.as_ref().is_none_or(|last| last.unverified().seq != seq) {
            let line = load(seq)?.ok_or_else(|| Error::malformed(format!("journal entry {seq} is missing")))?;
            let parsed = Signed::<Entry>::parse(line.as_bytes())
                .map_err(|e| Error::malformed(format!("journal entry {seq}: {}", e.message())))?;
            self.last = Some(parsed);
        }
        let last = self.last.as_ref().expect("loaded above").unverified();
        match usize::try_from(action).ok().and_then(|i| last.actions.get(i)).filter(|_| last.seq == seq) {
            Some(Action::Settlement { receipt, .. }) => Ok((**receipt).clone()),
            _ => Err(no_receipt().into()),
        }
    }
}

/// One change of the books. In memory a settlement holds its signed receipt (`R`); an entry's
/// encoding holds the receipt's body ([`EntryWire`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action<R = Box<Signed<Receipt>>> {
    /// The ledger was created for this server (entry 0 only).
    Create {
        /// The server's public identity.
        server: Identity,
    },
    /// An account was opened, bound to a party's identity, with a zero balance.
    Open {
        /// The party's public identity (the account is named after it).
        identity: Identity,
    },
    /// External money moved into an account.
    Deposit(External),
    /// External money moved out of an account.
    Withdrawal(External),
    /// A settlement was recorded: its signed receipt, and for a payment the balances it left.
    Settlement {
        /// The receipt released for it.
        receipt: R,
        /// The customer's and the merchant's balances after a payment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        balances: Option<Balances>,
    },
    /// An unwinding: money moved back to restore the balances the journal's history gives, with
    /// the entries from `from` on reversed (`netbill-ledger unwind`).
    Correction {
        /// The first entry reversed (one past the previous entry when none is).
        from: u64,
        /// The money moved; the outside world takes or gives the difference.
        moves: Vec<Move>,
    },
}

/// A deposit or a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct External {
    /// The account.
    pub account: KeyId,
    /// The amount moved.
    pub amount: Amount,
    /// The memo given with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// The account's balance after it.
    pub balance: Amount,
}

/// The balances a payment left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Balances {
    /// The customer's.
    pub customer: Amount,
    /// The merchant's.
    pub merchant: Amount,
}

impl Balances {
    /// Appends the canonical encoding, written directly as [`crate::doc::jcs`] would: the two
    /// members in order, each an amount's decimal digits, which need no escape.
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write!(out, r#"{{"customer":"{}","merchant":"{}"}}"#, self.customer, self.merchant)
            .expect("a Vec takes any write");
    }
}

/// One account's part in a correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// The account.
    pub account: KeyId,
    /// Credit or debit.
    pub direction: Direction,
    /// The amount moved.
    pub amount: Amount,
    /// The balance after it.
    pub balance: Amount,
}

/// An account as the journal makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// Its name.
    pub name: String,
    /// Its identity, as the ledger stores it (compact JSON).
    pub identity: String,
    /// When it was opened.
    pub opened_at: String,
    /// Its balance in micro-units (negative only when the server paid out of a corrupted balance).
    pub balance: i128,
    /// The last entry that moved its money.
    pub last: u64,
}

/// A transaction as the journal makes it: where it is in the journal (entry, action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnState {
    /// `deposit`, `withdrawal`, `purchase` or `correction`.
    pub kind: &'static str,
    /// The purchase's EPO id.
    pub epo_id: Option<String>,
    /// The memo of a deposit or withdrawal.
    pub memo: Option<String>,
    /// When it was recorded.
    pub at: String,
    /// Its movements: (account key id, or `None` for the outside world; signed micro-units), sorted.
    pub moves: Vec<(Option<String>, i64)>,
}

/// A settlement as the journal makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementState {
    /// Digest of the endorsed EPO decided.
    pub request: String,
    /// `paid` or `refused`.
    pub result: &'static str,
    /// The ciphertext checksum both parties signed.
    pub ciphertext: String,
    /// The escrowed K (payments only).
    pub goods_key: Option<String>,
    /// The signed receipt, in line form.
    pub receipt: String,
    /// Where the journal holds the receipt: (entry, action). The books store this place, not
    /// the receipt.
    pub place: (u64, u32),
    /// Its purchase transaction (payments only).
    pub txn: Option<(u64, u32)>,
    /// The server's time of decision.
    pub at: String,
}

/// Where the server acted on a balance the journal's history does not give: the books were
/// changed behind its back between the entry that last moved the account and this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The entry where the server acted on the changed balance.
    pub seq: u64,
    /// The account.
    pub account: String,
    /// The last entry before that moved the account's money.
    pub after: u64,
    /// The balance the server acted on (micro-units).
    pub seen: i128,
    /// The balance the journal gives (micro-units).
    pub journal: i128,
}

/// The books as the journal alone makes them.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The last entry of the verified chain.
    pub head: Option<Head>,
    /// The digest of every verified entry, by sequence number.
    pub digests: Vec<Hex<32>>,
    /// Accounts by key id.
    pub accounts: BTreeMap<String, AccountState>,
    /// Transactions by (entry, action).
    pub transactions: BTreeMap<(u64, u32), TxnState>,
    /// Settlements by EPO id.
    pub settlements: BTreeMap<String, SettlementState>,
    /// Where the server acted on balances changed behind its back, not yet unwound.
    pub divergences: Vec<Divergence>,
    /// What is wrong with the journal itself; replay stops at the first broken link.
    pub problems: Vec<String>,
    /// Whether the whole journal verified (no broken link, forged or missing entry).
    pub intact: bool,
    /// Money in from outside, out to outside, and corrected (net, into the books), in micro-units.
    pub deposits: i128,
    /// See `deposits`.
    pub withdrawals: i128,
    /// See `deposits`.
    pub corrected: i128,
}

impl Replayed {
    /// The sum of all balances (micro-units).
    pub fn total(&self) -> i128 {
        self.accounts.values().map(|a| a.balance).sum()
    }

    /// The receipts the journal holds.
    pub fn receipts(&self) -> usize {
        self.settlements.len()
    }
}

/// Replays the journal `rows` (sequence number and stored entry, in order) of the ledger of
/// `server`: checks the chain and every signature, and makes the books.
pub fn replay(rows: &[(i64, String)], server: &Identity) -> Replayed {
    let mut r = Replayed { intact: true, ..Replayed::default() };
    for (row_seq, json) in rows {
        if let Err(problem) = r.apply_row(*row_seq, json, server) {
            r.problems.push(problem);
            r.intact = false;
            break;
        }
    }
    if rows.is_empty() {
        r.problems.push("the journal is empty: it has no entry 0".into());
        r.intact = false;
    }
    r
}

impl Replayed {
    fn apply_row(&mut self, row_seq: i64, json: &str, server: &Identity) -> std::result::Result<(), String> {
        let expected = self.head.map_or(0, |h| h.seq + 1);
        let at = format!("journal entry {row_seq}");
        if u64::try_from(row_seq) != Ok(expected) {
            return Err(format!("journal entry {expected} is missing (the next stored entry is {row_seq})"));
        }
        let entry = Signed::<Entry>::parse(json.as_bytes()).map_err(|e| format!("{at}: {}", e.message()))?;
        let body = entry
            .verify(server)
            .map_err(|_| format!("{at}: not signed by the server {}: forged or rewritten", server.key_id))?;
        if body.seq != expected || body.prev != self.head.map(|h| h.digest) {
            return Err(format!(
                "{at}: does not follow entry {} (broken link: an entry was replaced)",
                expected.wrapping_sub(1)
            ));
        }
        let before = self.head;
        for (i, action) in body.actions.iter().enumerate() {
            let index = u32::try_from(i).expect("fewer than 2^32 actions");
            self.apply(expected, index, body.at, action, before, server).map_err(|e| format!("{at}: {e}"))?;
        }
        self.head = Some(Head::of(&entry));
        self.digests.push(entry.digest());
        Ok(())
    }

    fn apply(
        &mut self,
        seq: u64,
        index: u32,
        at: Time,
        action: &Action,
        before: Option<Head>,
        server: &Identity,
    ) -> std::result::Result<(), String> {
        match action {
            Action::Create { server: named } => {
                if seq != 0 || index != 0 || named != server {
                    return Err("a ledger is created once, in entry 0, for the server of this ledger".into());
                }
            }
            _ if seq == 0 => return Err("entry 0 creates the ledger and does nothing else".into()),
            Action::Open { identity } => {
                let key = identity.key_id.to_string();
                if self.accounts.contains_key(&key) || self.accounts.values().any(|a| a.name == identity.name) {
                    return Err(format!("account {} opened twice", identity.name));
                }
                let stored = serde_json::to_string(identity).expect("serializable");
                let account = AccountState {
                    name: identity.name.clone(),
                    identity: stored,
                    opened_at: at.to_string(),
                    balance: 0,
                    last: seq,
                };
                self.accounts.insert(key, account);
            }
            Action::Deposit(e) | Action::Withdrawal(e) => {
                let deposit = matches!(action, Action::Deposit(_));
                let (kind, value) = if deposit { ("deposit", e.amount) } else { ("withdrawal", e.amount) };
                let delta = if deposit { to_sql(value) } else { -to_sql(value) };
                self.moved(seq, &e.account, delta, e.balance)?;
                if deposit {
                    self.deposits += i128::from(delta);
                } else {
                    self.withdrawals -= i128::from(delta);
                }
                let moves = vec![(Some(e.account.to_string()), delta), (None, -delta)];
                self.transactions.insert(
                    (seq, index),
                    TxnState { kind, epo_id: None, memo: e.memo.clone(), at: at.to_string(), moves: sorted(moves) },
                );
            }
            Action::Settlement { receipt, balances } => {
                let body = receipt.verify(server).map_err(|_| "a receipt not signed by the server".to_string())?;
                if Some(body.journal) != before {
                    return Err(format!("the receipt for {} does not follow the previous entry", body.epo_id));
                }
                let epo_id = body.epo_id.as_str().to_string();
                if self.settlements.contains_key(&epo_id) {
                    return Err(format!("EPO {epo_id} settled twice"));
                }
                let paid = body.result == Outcome::Paid;
                let txn = match (paid, balances) {
                    (true, Some(b)) => {
                        let price = to_sql(body.price);
                        self.moved(seq, &body.customer, -price, b.customer)?;
                        self.moved(seq, &body.merchant, price, b.merchant)?;
                        let moves =
                            vec![(Some(body.customer.to_string()), -price), (Some(body.merchant.to_string()), price)];
                        self.transactions.insert(
                            (seq, index),
                            TxnState {
                                kind: "purchase",
                                epo_id: Some(epo_id.clone()),
                                memo: None,
                                at: body.server_time.to_string(),
                                moves: sorted(moves),
                            },
                        );
                        Some((seq, index))
                    }
                    (false, None) => None,
                    _ => return Err(format!("settlement {epo_id}: balances are recorded for payments only")),
                };
                let settlement = SettlementState {
                    request: body.request.to_string(),
                    result: if paid { "paid" } else { "refused" },
                    ciphertext: body.ciphertext_root.to_string(),
                    goods_key: body.key.map(|k| k.to_string()),
                    receipt: receipt.to_json_line(),
                    place: (seq, index),
                    txn,
                    at: body.server_time.to_string(),
                };
                self.settlements.insert(epo_id, settlement);
            }
            Action::Correction { from, moves } => {
                if *from > seq {
                    return Err("a correction reverses entries before it only".into());
                }
                let mut rows = Vec::new();
                let mut net = 0i128;
                for m in moves {
                    let delta = if m.direction == Direction::Credit { to_sql(m.amount) } else { -to_sql(m.amount) };
                    self.moved(seq, &m.account, delta, m.balance)?;
                    rows.push((Some(m.account.to_string()), delta));
                    net += i128::from(delta);
                }
                if net != 0 {
                    rows.push((
                        None,
                        i64::try_from(-net).map_err(|_| "a correction moves too much money".to_string())?,
                    ));
                }
                self.corrected += net;
                self.divergences.retain(|d| d.seq < *from);
                if !rows.is_empty() {
                    self.transactions.insert(
                        (seq, index),
                        TxnState {
                            kind: "correction",
                            epo_id: None,
                            memo: None,
                            at: at.to_string(),
                            moves: sorted(rows),
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Moves `delta` on `account`, which the server says left it at `recorded`.
    fn moved(&mut self, seq: u64, account: &KeyId, delta: i64, recorded: Amount) -> std::result::Result<(), String> {
        let a = self.accounts.get_mut(&account.to_string()).ok_or_else(|| format!("no account {account}"))?;
        let delta = i128::from(delta);
        let seen = i128::from(to_sql(recorded)) - delta;
        if seen != a.balance {
            self.divergences.push(Divergence { seq, account: a.name.clone(), after: a.last, seen, journal: a.balance });
        }
        a.balance += delta;
        a.last = seq;
        Ok(())
    }
}

fn sorted(mut moves: Vec<(Option<String>, i64)>) -> Vec<(Option<String>, i64)> {
    moves.sort();
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Balances, written directly, are in the reference canonical form.
    #[test]
    fn balances_are_written_canonically() {
        let balances = Balances { customer: "12.5".parse().unwrap(), merchant: "1000000.0001".parse().unwrap() };
        let mut out = Vec::new();
        balances.write_canonical(&mut out);
        assert_eq!(out, serde_json_canonicalizer::to_vec(&balances).unwrap());
    }
}
