//! Certified delivery: a judge rules on a disputed purchase from the evidence alone.
//!
//! The paper's third level of atomicity: the customer and the merchant both signed the
//! checksum of the ciphertext, the merchant signed K, the server signed the outcome, so a
//! judge can tell who is at fault by recomputing. [`judge`] is a pure, deterministic function
//! of the evidence (the signed documents a party holds, and the ciphertext): the same evidence
//! gives the same ruling whatever the clock, the formatting of the documents or their order.
//!
//! The procedure, in order (each step is a [`Finding`] in the ruling):
//! 1. every piece parses strictly and its signature verifies with the identity the EPO names
//!    for its role (the server's pinned by the judge, when given); copies of one document
//!    agree; receipts are for this EPO (else the evidence is rejected, naming the piece, or
//!    insufficient, naming what is missing);
//! 2. the server's signed receipts are consistent: every refusal has a reason, no paid receipt
//!    next to a binding refusal or another paid receipt, K in the receipt is the K the
//!    merchant committed to (in his delivery note, copied into the EPO he countersigned), the
//!    price, checksum and commitment are the EPO's, the EPO had not expired, and the
//!    EPO paid matches the offer it accepts (else the server is at fault);
//! 3. without a paid receipt, no money moved: no sale;
//! 4. the ciphertext presented has the Merkle root both parties signed, or the one chunk
//!    presented has a path to it (else the customer is at fault); K decrypts every chunk, or
//!    that chunk (else the merchant is); each chunk is the one the offer promised, by the
//!    merchant's own path inside it (else the merchant is); without a promised commitment, a
//!    person must look. With a whole ciphertext, the judge rules on its first faulty chunk in
//!    the very words a proof of that chunk alone would get ([`crate::crypto::goods`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::crypto::goods::{self, ChunkProof, GoodsCommitment};
use crate::crypto::keys::{Identity, KeyId};
use crate::doc::{Body, Hex, Plain, Signed};
use crate::error::{Error, Result};
use crate::netbill::delivery::{DeliveryNote, EpoId, key_commitment};
use crate::netbill::epo::{EndorsedEpo, Epo, check_matches_offer};
use crate::netbill::offer::Offer;
use crate::netbill::receipt::{Outcome, Receipt};

/// What is claimed, and so who claims it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Claim {
    /// Customer: the goods are not what the offer promised.
    NotWhatIOrdered,
    /// Customer: the key K in the receipt does not decrypt the goods.
    KeyDoesNotDecrypt,
    /// Customer: she was charged but never got K.
    PaidButNeverGotKey,
    /// Customer: she was charged more than she agreed to.
    ChargedMoreThanAgreed,
    /// Customer: she was told the purchase was refused, but was charged.
    ToldRefusedButCharged,
    /// Customer: she was charged after her EPO expired.
    ChargedAfterExpiry,
    /// Merchant: the customer acknowledged other goods than the ones she now presents.
    AcknowledgedOtherGoods,
    /// Merchant: the server's receipt releases another K than the one he sealed to it.
    ServerStoredAnotherKey,
}

impl Claim {
    /// Whether the merchant (rather than the customer) makes this claim.
    pub fn by_merchant(self) -> bool {
        matches!(self, Claim::AcknowledgedOtherGoods | Claim::ServerStoredAnotherKey)
    }

    /// Whether ruling on this claim needs the ciphertext.
    fn needs_ciphertext(self) -> bool {
        matches!(self, Claim::NotWhatIOrdered | Claim::KeyDoesNotDecrypt | Claim::AcknowledgedOtherGoods)
    }
}

/// The verdicts a ruling can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The ciphertext presented is not the one both parties signed for.
    CustomerAtFault,
    /// K does not decrypt the ciphertext, or the goods differ from the promised digest.
    MerchantAtFault,
    /// The server signed contradicting results, a refusal without a reason, a K other than the
    /// merchant's, other terms than the EPO's, a payment after the EPO expired, or a payment of
    /// an EPO whose terms differ from the offer it accepts.
    ServerAtFault,
    /// Everything checks: the goods delivered are the goods agreed, at the price agreed.
    DeliveredAsAgreed,
    /// No paid receipt: no money moved.
    NoSale,
    /// A piece of evidence is forged or contradicts another (named in the summary).
    EvidenceRejected,
    /// A piece needed to rule is missing (named in the summary).
    InsufficientEvidence,
    /// Nothing mechanical decides: no digest of the goods was promised; a person must
    /// compare the decrypted goods with the description.
    NotDecidable,
}

/// Whether the claim was upheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Upheld {
    /// The claim is upheld.
    Yes,
    /// The claim is not upheld.
    No,
    /// A person must decide.
    Undecided,
}

/// One check the judge made, with the evidence that settled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// What was checked (a stable kebab-case name).
    pub check: String,
    /// Whether it holds.
    pub holds: bool,
    /// The evidence: key ids, digests, times, amounts.
    pub detail: String,
}

/// The body of a `netbill.evidence` bundle: the claim and every document a party holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The claim.
    pub claim: Claim,
    /// The documents as they were presented: identities, offer, delivery note, EPO, endorsed
    /// EPO, receipts. The judge parses each strictly, so a broken one is a finding, not an
    /// error.
    pub pieces: Vec<Box<RawValue>>,
}

impl Body for Evidence {
    const TYPE: &'static str = "netbill.evidence";
}

impl Evidence {
    /// Evidence for `claim` from documents' texts, each checked to be a well-formed NetBill
    /// document (signatures are the judge's business), kept in canonical form, sorted and
    /// without duplicates, so that the order and formatting of the files do not matter.
    pub fn new<'a>(claim: Claim, texts: impl IntoIterator<Item = &'a str>) -> Result<Evidence> {
        let mut pieces = Vec::new();
        for text in texts {
            parse_piece(text)?;
            pieces.push(canonical_piece(text));
        }
        pieces.sort_by(|a, b| a.0.cmp(&b.0));
        pieces.dedup_by(|a, b| a.0 == b.0);
        let pieces = pieces.into_iter().map(|(_, json)| RawValue::from_string(json).expect("JCS is JSON")).collect();
        Ok(Evidence { claim, pieces })
    }
}

/// A piece's sort key (type, then canonical encoding) and its canonical JSON text.
fn canonical_piece(text: &str) -> (String, String) {
    let value: Value = serde_json::from_str(text).expect("parse_piece accepted it as JSON");
    let doc_type = value.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
    let json = String::from_utf8(crate::doc::jcs(&value)).expect("JCS is UTF-8");
    (format!("{doc_type}\0{json}"), json)
}

/// Checks that `text` is a well-formed NetBill document of a type that can be evidence.
pub fn check_piece(text: &str) -> Result<()> {
    parse_piece(text).map(|_| ())
}

/// One document of the evidence, parsed by its type tag (signatures not yet checked).
enum Piece {
    Identity(Signed<Identity>),
    Offer(Signed<Offer>),
    Note(Signed<DeliveryNote>),
    Epo(Signed<Epo>),
    Endorsed(Box<Signed<EndorsedEpo>>),
    Receipt(Signed<Receipt>),
}

/// Parses one piece strictly (unknown or duplicated fields, non-canonical values rejected).
/// Receipts are parsed without their pairing rules: a signed receipt that breaks them is
/// evidence against the server.
fn parse_piece(text: &str) -> Result<Piece> {
    #[derive(Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        doc_type: Option<String>,
    }
    let tag: Tag = serde_json::from_str(text).map_err(|e| Error::malformed(format!("not a JSON document: {e}")))?;
    let bytes = text.as_bytes();
    Ok(match tag.doc_type.as_deref().unwrap_or("(none)") {
        "identity" => Piece::Identity(Signed::parse(bytes)?),
        "netbill.offer" => Piece::Offer(Signed::parse(bytes)?),
        "netbill.delivery" => Piece::Note(Signed::parse(bytes)?),
        "netbill.epo" => Piece::Epo(Signed::parse(bytes)?),
        "netbill.endorsed-epo" => Piece::Endorsed(Box::new(Signed::parse(bytes)?)),
        "netbill.receipt" => Piece::Receipt(Signed::parse_as_evidence(bytes)?),
        other => return Err(Error::malformed(format!("a {other} document is not evidence of a NetBill purchase"))),
    })
}

/// The body of a `netbill.ruling`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ruling {
    /// The claim ruled on.
    pub claim: Claim,
    /// The purchase, when the evidence names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epo_id: Option<EpoId>,
    /// SHA-256 of the canonical evidence (claim, pieces in canonical order, and the goods: the
    /// ciphertext's root or the chunk proof's digest).
    pub evidence: Hex<32>,
    /// Every check, in the order made.
    pub findings: Vec<Finding>,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the claim is upheld.
    pub upheld: Upheld,
    /// One sentence saying why.
    pub summary: String,
}

impl Body for Ruling {
    const TYPE: &'static str = "netbill.ruling";
}

/// A ruling and, when a person must decide, the decrypted goods to show them.
pub struct Judgment {
    /// The ruling.
    pub ruling: Ruling,
    /// The goods, decrypted with the merchant-committed K, when the verdict is not decidable.
    pub goods_for_a_person: Option<Vec<u8>>,
}

/// The goods in evidence: a whole ciphertext, or one chunk of it with its path.
pub enum Presented<'a> {
    /// A whole ciphertext.
    Ciphertext(Source<'a>),
    /// One chunk and its path to the ciphertext root.
    Proof(&'a ChunkProof),
}

/// Where a whole ciphertext is read from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// A file, streamed.
    File(&'a std::path::Path),
    /// Bytes in memory.
    Bytes(&'a [u8]),
}

impl Source<'_> {
    fn open(&self) -> Result<Box<dyn std::io::Read + '_>> {
        Ok(match self {
            Source::File(path) => Box::new(std::io::BufReader::with_capacity(
                1 << 20,
                std::fs::File::open(path).map_err(|e| Error::io(&e).at(path.display()))?,
            )),
            Source::Bytes(bytes) => Box::new(*bytes),
        })
    }
}

/// What the goods presented are, for the evidence digest: the ciphertext's root (computed
/// once, by whichever step reads it first) or the proof's digest.
fn goods_digest(presented: Option<&Presented<'_>>, root: Option<Hex<32>>) -> Value {
    match presented {
        None => Value::Null,
        Some(Presented::Ciphertext(source)) => {
            let root = root
                .or_else(|| source.open().and_then(|r| goods::ciphertext_root(r, &mut |_| {})).ok().map(|(_, r)| r));
            serde_json::json!({ "ciphertext_root": root })
        }
        Some(Presented::Proof(proof)) => serde_json::json!({ "chunk_proof": Plain((*proof).clone()).digest() }),
    }
}

/// Rules on `evidence` with the goods presented (if any).
pub fn judge(evidence: &Evidence, presented: Option<&Presented<'_>>, server: Option<&Identity>) -> Judgment {
    let mut case = Case {
        claim: evidence.claim,
        findings: Vec::new(),
        goods: None,
        epo_id: None,
        server,
        terms_differ: None,
        root: None,
    };
    let texts: Vec<&str> = evidence.pieces.iter().map(|p| p.get()).collect();
    let (verdict, summary) = case.rule(&texts, presented);
    let mut canonical_pieces: Vec<(String, String)> =
        texts.iter().filter_map(|t| serde_json::from_str::<Value>(t).ok().map(|_| canonical_piece(t))).collect();
    canonical_pieces.sort();
    canonical_pieces.dedup();
    let judged = serde_json::json!({
        "claim": evidence.claim,
        "pieces": canonical_pieces.iter().map(|(_, json)| serde_json::from_str::<Value>(json).expect("JCS is JSON")).collect::<Vec<_>>(),
        "goods": goods_digest(presented, case.root),
    });
    let digest = crate::crypto::sha256(&crate::doc::jcs(&judged));
    let goods_for_a_person = if verdict == Verdict::NotDecidable { case.goods.take() } else { None };
    Judgment {
        ruling: Ruling {
            claim: evidence.claim,
            epo_id: case.epo_id,
            evidence: digest,
            findings: case.findings,
            verdict,
            upheld: upheld(evidence.claim, verdict),
            summary,
        },
        goods_for_a_person,
    }
}

fn upheld(claim: Claim, verdict: Verdict) -> Upheld {
    match (claim, verdict) {
        (_, Verdict::NotDecidable) => Upheld::Undecided,
        (Claim::AcknowledgedOtherGoods, Verdict::CustomerAtFault) => Upheld::Yes,
        (Claim::ServerStoredAnotherKey, Verdict::ServerAtFault) => Upheld::Yes,
        (c, Verdict::MerchantAtFault | Verdict::ServerAtFault) if !c.by_merchant() => Upheld::Yes,
        _ => Upheld::No,
    }
}

/// What the goods presented showed: their size and number of chunks, the first faulty chunk,
/// and the one chunk a proof shows (none for a whole ciphertext).
struct Examined {
    size: u64,
    chunks: u64,
    fault: Option<(u64, goods::Chunk)>,
    only: Option<u64>,
}

/// The documents of the evidence, sorted by role.
#[derive(Default)]
struct Pieces {
    identities: BTreeMap<KeyId, Identity>,
    offers: Vec<Signed<Offer>>,
    notes: Vec<Signed<DeliveryNote>>,
    epos: Vec<Signed<Epo>>,
    endorsed: Vec<Signed<EndorsedEpo>>,
    receipts: Vec<Signed<Receipt>>,
}

impl Pieces {
    /// Every distinct offer: presented alone or inside an endorsed EPO.
    fn all_offers(&self) -> Vec<Signed<Offer>> {
        let mut offers: Vec<Signed<Offer>> = self.offers.clone();
        offers.extend(self.endorsed.iter().map(|e| e.unverified().offer.clone()));
        offers.sort_by_key(|o| o.digest());
        offers.dedup_by_key(|o| o.digest());
        offers
    }
}

/// What a verdict-reaching step returns: the verdict and its one-sentence summary.
type Ruled = (Verdict, String);

struct Case<'a> {
    claim: Claim,
    findings: Vec<Finding>,
    goods: Option<Vec<u8>>,
    epo_id: Option<EpoId>,
    /// The NetBill server's identity as the judge knows it, if pinned.
    server: Option<&'a Identity>,
    /// How the EPO's terms differ from the offer it accepts, if they do.
    terms_differ: Option<String>,
    /// The root of the ciphertext presented, once read.
    root: Option<Hex<32>>,
}

impl Case<'_> {
    fn note(&mut self, check: &str, holds: bool, detail: impl Into<String>) -> bool {
        self.findings.push(Finding { check: check.to_string(), holds, detail: detail.into() });
        holds
    }

    fn rule(&mut self, texts: &[&str], presented: Option<&Presented<'_>>) -> Ruled {
        let pieces = match self.sort(texts) {
            Ok(p) => p,
            Err(ruled) => return ruled,
        };
        let epo = match self.the_epo(&pieces) {
            Ok(e) => e,
            Err(ruled) => return ruled,
        };
        let body = epo.unverified().clone();
        self.epo_id = Some(body.epo_id.clone());
        let parties = match self.parties(&pieces, &body) {
            Ok(p) => p,
            Err(ruled) => return ruled,
        };
        if let Err(ruled) = self.signatures(&pieces, &epo, &parties) {
            return ruled;
        }
        let paid = match self.receipts(&pieces, &epo, &parties) {
            Ok(p) => p,
            Err(ruled) => return ruled,
        };
        let Some(receipt) = paid else {
            return (Verdict::NoSale, "no paid receipt is in evidence: no money moved for this EPO".into());
        };
        self.goods(&pieces, &body, &receipt, presented)
    }

    /// Parses every piece with the parser of its type, in canonical order without duplicates;
    /// a piece that does not parse, or an identity that is not self-signed, is rejected.
    fn sort(&mut self, texts: &[&str]) -> Result<Pieces, Ruled> {
        let mut parsed: Vec<(String, Result<Piece>)> = texts
            .iter()
            .map(|text| {
                let piece = parse_piece(text);
                let key = if piece.is_ok() { canonical_piece(text).0 } else { format!("\u{10FFFF}{text}") };
                (key, piece)
            })
            .collect();
        parsed.sort_by(|a, b| a.0.cmp(&b.0));
        parsed.dedup_by(|a, b| a.0 == b.0);
        let count = parsed.len();
        let mut pieces = Pieces::default();
        for (n, (_, piece)) in parsed.into_iter().enumerate() {
            let name = format!("piece {}", n + 1);
            let checked = piece.and_then(|piece| {
                match piece {
                    Piece::Identity(doc) => {
                        let identity = Identity::from_document(&doc)?;
                        pieces.identities.insert(identity.key_id, identity);
                    }
                    Piece::Offer(d) => pieces.offers.push(d),
                    Piece::Note(d) => pieces.notes.push(d),
                    Piece::Epo(d) => pieces.epos.push(d),
                    Piece::Endorsed(d) => pieces.endorsed.push(*d),
                    Piece::Receipt(d) => pieces.receipts.push(d),
                }
                Ok(())
            });
            if let Err(e) = checked {
                self.note("pieces-parse", false, format!("{name}: {}", e.message()));
                return Err((Verdict::EvidenceRejected, format!("{name} is rejected: {}", e.message())));
            }
        }
        self.note("pieces-parse", true, format!("{count} distinct pieces parse as NetBill documents"));
        Ok(pieces)
    }

    /// The one EPO of the case: the customer's copy and the one inside the endorsement agree.
    fn the_epo(&mut self, pieces: &Pieces) -> Result<Signed<Epo>, Ruled> {
        let mut copies: Vec<Signed<Epo>> = pieces.epos.clone();
        copies.extend(pieces.endorsed.iter().map(|e| e.unverified().epo.clone()));
        copies.sort_by_key(|e| e.digest());
        copies.dedup_by_key(|e| e.digest());
        match copies.len() {
            0 => {
                self.note("epo-present", false, "no EPO, alone or inside an endorsed EPO");
                Err((Verdict::InsufficientEvidence, "the EPO is missing: nothing shows what was agreed".into()))
            }
            1 => {
                let epo = copies.remove(0);
                self.note("epo-present", true, format!("EPO {} (digest {})", epo.unverified().epo_id, epo.digest()));
                Ok(epo)
            }
            n => {
                let digests: Vec<String> = copies.iter().map(|e| e.digest().to_string()).collect();
                self.note("epo-present", false, format!("{n} different EPOs: {}", digests.join(", ")));
                Err((Verdict::EvidenceRejected, "two different EPOs are presented for one purchase".into()))
            }
        }
    }

    /// The identities of the customer, merchant and server the EPO names.
    fn parties(&mut self, pieces: &Pieces, epo: &Epo) -> Result<[Identity; 3], Ruled> {
        if let Some(server) = self.server {
            let trusted = epo.server == server.key_id;
            let detail = format!(
                "the EPO names server key {}; the judge trusts {} (key {})",
                epo.server, server.name, server.key_id
            );
            if !self.note("server-trusted", trusted, detail) {
                return Err((Verdict::EvidenceRejected, "the EPO names a server the judge does not trust".into()));
            }
        }
        let mut found = Vec::new();
        for (role, key) in [("customer", epo.customer), ("merchant", epo.merchant), ("server", epo.server)] {
            let known = if role == "server" {
                self.server.or(pieces.identities.get(&key))
            } else {
                pieces.identities.get(&key)
            };
            match known {
                Some(identity) => {
                    self.note(&format!("{role}-identity"), true, format!("{role} {} has key {key}", identity.name));
                    found.push(identity.clone());
                }
                None => {
                    self.note(&format!("{role}-identity"), false, format!("no identity for the {role}'s key {key}"));
                    let why = format!("the {role}'s identity (key {key}) is missing");
                    return Err((Verdict::InsufficientEvidence, why));
                }
            }
        }
        Ok(found.try_into().expect("three roles"))
    }

    /// Every signature verifies with the identity of its role; copies agree.
    fn signatures(
        &mut self,
        pieces: &Pieces,
        epo: &Signed<Epo>,
        [customer, merchant, _]: &[Identity; 3],
    ) -> Result<(), Ruled> {
        let body = epo.unverified();
        let forged =
            |what: &str| (Verdict::EvidenceRejected, format!("{what} is forged: its signature does not verify"));
        let signed_by = |who: &Identity| format!("signed by {} (key {})", who.name, who.key_id);
        if !self.note("epo-signature", epo.verify(customer).is_ok(), format!("the EPO, {}", signed_by(customer))) {
            return Err(forged("the EPO"));
        }
        for offer in &pieces.all_offers() {
            if !self.note(
                "offer-signature",
                offer.verify(merchant).is_ok(),
                format!("offer {}, {}", offer.digest(), signed_by(merchant)),
            ) {
                return Err(forged("the offer"));
            }
            let accepted = offer.digest() == body.offer;
            let detail = if accepted {
                format!("the EPO accepts this offer ({})", body.offer)
            } else {
                format!("the EPO accepts offer {}, not this one ({})", body.offer, offer.digest())
            };
            if !self.note("offer-accepted", accepted, detail) {
                return Err((Verdict::EvidenceRejected, "the offer presented is not the one the EPO accepts".into()));
            }
            let terms = check_matches_offer(body, offer.unverified(), offer.digest());
            let detail = match &terms {
                Ok(()) => format!("product {} at {}, as offered", body.product, body.price),
                Err(m) => m.to_string(),
            };
            if !self.note("epo-terms-match-offer", terms.is_ok(), detail.clone()) {
                self.terms_differ = Some(detail);
            }
        }
        for note in &pieces.notes {
            if !self.note(
                "delivery-note-signature",
                note.verify(merchant).is_ok(),
                format!("delivery note, {}", signed_by(merchant)),
            ) {
                return Err(forged("the delivery note"));
            }
            let stated = note.unverified();
            let same = stated.epo_id == body.epo_id
                && stated.ciphertext_root == body.ciphertext_root
                && stated.key_commitment == body.key_commitment;
            if !self.note(
                "delivery-note-checksum",
                same,
                format!(
                    "the merchant's note states ciphertext {} and key commitment {}",
                    stated.ciphertext_root, stated.key_commitment
                ),
            ) {
                return Err((Verdict::EvidenceRejected, "the delivery note is for another delivery".into()));
            }
        }
        for endorsed in &pieces.endorsed {
            if !self.note(
                "endorsement-signature",
                endorsed.verify(merchant).is_ok(),
                format!("endorsed EPO {}, {}", endorsed.digest(), signed_by(merchant)),
            ) {
                return Err(forged("the endorsed EPO"));
            }
            self.note(
                "both-signed-checksum",
                true,
                format!("customer and merchant both signed ciphertext checksum {}", body.ciphertext_root),
            );
        }
        Ok(())
    }

    /// The server's receipts: genuine, for this EPO, and consistent. Returns the paid one.
    fn receipts(
        &mut self,
        pieces: &Pieces,
        epo: &Signed<Epo>,
        [_, _, server]: &[Identity; 3],
    ) -> Result<Option<Signed<Receipt>>, Ruled> {
        let body = epo.unverified();
        let mut paid: Vec<&Signed<Receipt>> = Vec::new();
        let mut binding_refusals = Vec::new();
        let mut reasonless = None;
        for (n, receipt) in pieces.receipts.iter().enumerate() {
            let r = receipt.unverified();
            let name = format!("receipt {} ({})", n + 1, receipt.digest());
            let genuine = receipt.verify(server).is_ok();
            if !self.note(
                "receipt-signature",
                genuine,
                format!("{name}, signed by {} (key {})", server.name, server.key_id),
            ) {
                return Err((Verdict::EvidenceRejected, format!("{name} is forged: its signature does not verify")));
            }
            if !self.note(
                "receipt-epo",
                r.epo_id == body.epo_id && r.epo == epo.digest(),
                format!("{name} answers EPO {} with digest {}", r.epo_id, r.epo),
            ) {
                return Err((Verdict::EvidenceRejected, format!("{name} is for another EPO")));
            }
            match (r.result, r.reason) {
                (Outcome::Paid, _) => paid.push(receipt),
                (Outcome::Refused, Some(reason)) => {
                    let binds = reason.binds();
                    let effect =
                        if binds { "binds the EPO id" } else { "answers one request only (does not bind the EPO id)" };
                    self.note("refusal", true, format!("{name}: refused, {}, {effect}", reason.as_str()));
                    if binds {
                        binding_refusals.push(name);
                    }
                }
                (Outcome::Refused, None) => {
                    self.note("receipt-well-formed", false, format!("{name}: refused without a reason"));
                    reasonless.get_or_insert(name);
                }
            }
        }
        if let Some(name) = reasonless {
            return Err((Verdict::ServerAtFault, format!("the server signed {name}, a refusal without a reason")));
        }
        let server_fault = |what: String| Err((Verdict::ServerAtFault, what));
        if paid.len() > 1 {
            self.note("one-result", false, format!("{} different paid receipts for one EPO id", paid.len()));
            return server_fault(format!(
                "the server signed {} different payments for EPO {}",
                paid.len(),
                body.epo_id
            ));
        }
        let Some(receipt) = paid.first().copied() else {
            self.note("paid-receipt", false, "no paid receipt in evidence");
            return Ok(None);
        };
        if let Some(refusal) = binding_refusals.first() {
            self.note("one-result", false, format!("a paid receipt and a binding refusal ({refusal}) for one EPO id"));
            return server_fault(format!(
                "the server signed both a payment and a binding refusal for EPO {}",
                body.epo_id
            ));
        }
        self.note("one-result", true, "one signed result for this EPO id");
        let r = receipt.unverified();
        let committed = r.key.is_some_and(|k| key_commitment(&body.epo_id, &k) == body.key_commitment);
        let detail = format!(
            "receipt K {}, the merchant's commitment {} in the EPO he countersigned",
            r.key.map(|k| k.to_string()).unwrap_or("(none)".into()),
            body.key_commitment
        );
        if !self.note("receipt-key-is-committed", committed, detail) {
            return server_fault("the K in the server's receipt is not the K the merchant committed to".into());
        }
        let differing: Vec<&str> = [
            ("price", r.price != body.price),
            ("ciphertext", r.ciphertext_root != body.ciphertext_root),
            ("key commitment", r.key_commitment != body.key_commitment),
            ("customer", r.customer != body.customer),
            ("merchant", r.merchant != body.merchant),
        ]
        .into_iter()
        .filter_map(|(term, differs)| differs.then_some(term))
        .collect();
        if !self.note(
            "receipt-terms",
            differing.is_empty(),
            format!(
                "charged {} for ciphertext {}; the EPO says {} for {}",
                r.price, r.ciphertext_root, body.price, body.ciphertext_root
            ),
        ) {
            if r.price != body.price {
                return server_fault(format!(
                    "the server charged {} where the customer signed for {}",
                    r.price, body.price
                ));
            }
            return server_fault(format!("the server's receipt names another {} than the EPO", differing.join(", ")));
        }
        let in_time = r.server_time <= body.expires_at;
        if !self.note(
            "accepted-in-time",
            in_time,
            format!("accepted at {}, the EPO expired at {}", r.server_time, body.expires_at),
        ) {
            return server_fault(format!(
                "the server accepted the EPO at {}, after it expired at {}",
                r.server_time, body.expires_at
            ));
        }
        if pieces.all_offers().is_empty() {
            return Ok(Some(receipt.clone())); // no offer in evidence to compare the payment with
        }
        let offered = self.terms_differ.clone();
        let detail = offered.clone().unwrap_or_else(|| "the EPO paid matches the offer it accepts".into());
        if !self.note("paid-as-offered", offered.is_none(), detail) {
            return server_fault(format!(
                "the server paid an EPO that does not match its offer: {}",
                offered.unwrap_or_default()
            ));
        }
        Ok(Some(receipt.clone()))
    }

    /// The goods: the ciphertext (or the chunk presented) is the one signed for, K opens it,
    /// the goods are as promised.
    fn goods(
        &mut self,
        pieces: &Pieces,
        epo: &Epo,
        receipt: &Signed<Receipt>,
        presented: Option<&Presented<'_>>,
    ) -> Ruled {
        let key = receipt.unverified().key.expect("a consistent paid receipt carries K");
        let Some(presented) = presented else {
            if self.claim.needs_ciphertext() {
                self.note("ciphertext-present", false, "no ciphertext in evidence");
                return (
                    Verdict::InsufficientEvidence,
                    "the ciphertext is missing: the goods cannot be examined".into(),
                );
            }
            self.note("key-released", true, format!("the paid receipt releases K {key} for {}", epo.epo_id));
            return (
                Verdict::DeliveredAsAgreed,
                format!("the customer paid {} and the receipt gives her K", epo.price),
            );
        };
        let offers = pieces.all_offers();
        if offers.is_empty() && self.claim == Claim::NotWhatIOrdered {
            self.note("offer-present", false, format!("the offer the EPO accepts ({}) is not in evidence", epo.offer));
            return (
                Verdict::InsufficientEvidence,
                "the offer is missing: what the merchant promised cannot be known".into(),
            );
        }
        let promised = offers.iter().find_map(|o| o.unverified().goods);
        let examined = match presented {
            Presented::Ciphertext(source) => self.whole(source, epo, &key, promised.as_ref()),
            Presented::Proof(proof) => self.one_chunk(proof, epo, &key, promised.as_ref()),
        };
        match examined {
            Ok(examined) => self.rule_on(examined, epo, &key, promised.as_ref()),
            Err(ruled) => ruled,
        }
    }

    /// Reads a whole ciphertext: its root (else the customer is at fault) and its first faulty
    /// chunk; keeps the goods when a person must see them.
    fn whole(
        &mut self,
        source: &Source<'_>,
        epo: &Epo,
        key: &Hex<32>,
        promised: Option<&GoodsCommitment>,
    ) -> Result<Examined, Ruled> {
        let signed = epo.ciphertext_root;
        let for_a_person = promised.is_none() && self.claim == Claim::NotWhatIOrdered;
        let mut kept = Vec::new();
        let mut discarded = std::io::sink();
        let out: &mut dyn std::io::Write = if for_a_person { &mut kept } else { &mut discarded };
        let decrypted =
            source.open().and_then(|r| goods::decrypt(key, epo.epo_id.as_str(), r, promised, out, &mut |_| {}));
        let wrong = match &decrypted {
            Err(e) => Some(format!("the ciphertext presented is not a goods ciphertext: {}", e.message())),
            Ok(d) => {
                self.root = Some(d.ciphertext_root);
                (d.ciphertext_root != signed).then(|| {
                    format!("the ciphertext presented has Merkle root {}; both signed {signed}", d.ciphertext_root)
                })
            }
        };
        if let Some(why) = wrong {
            self.note("ciphertext-signed", false, why);
            return Err((
                Verdict::CustomerAtFault,
                "the ciphertext presented is not the one both parties signed for".into(),
            ));
        }
        let decrypted = decrypted.expect("checked above");
        if for_a_person {
            self.goods = Some(kept);
        }
        let size = decrypted.goods.size;
        Ok(Examined { size, chunks: goods::chunks(size), fault: decrypted.first_fault, only: None })
    }

    /// Reads one chunk's proof: its path to the signed root (else the customer is at fault),
    /// and whether it is faulty.
    fn one_chunk(
        &mut self,
        proof: &ChunkProof,
        epo: &Epo,
        key: &Hex<32>,
        promised: Option<&GoodsCommitment>,
    ) -> Result<Examined, Ruled> {
        let signed = epo.ciphertext_root;
        let header = match proof.header() {
            Ok(h) if proof.in_ciphertext(&signed).unwrap_or(false) => h,
            _ => {
                let why = format!(
                    "chunk {}'s path does not lead to the Merkle root both parties signed, {signed}",
                    proof.index
                );
                self.note("ciphertext-signed", false, why);
                return Err((
                    Verdict::CustomerAtFault,
                    "the chunk presented is not part of the ciphertext both parties signed for".into(),
                ));
            }
        };
        if promised.is_none() && self.claim == Claim::NotWhatIOrdered {
            self.note("ciphertext-present", false, "no digest of the goods was promised: one chunk cannot show them");
            return Err((
                Verdict::InsufficientEvidence,
                "a person must compare the whole goods with the offer's description: present the whole ciphertext"
                    .into(),
            ));
        }
        let chunk = proof.open(key, epo.epo_id.as_str(), promised).expect("a header checked above");
        let fault = match chunk {
            goods::Chunk::Opened { as_promised: Some(false), .. } | goods::Chunk::Sealed => Some((proof.index, chunk)),
            goods::Chunk::Opened { .. } => None,
        };
        Ok(Examined { size: header.size, chunks: header.chunks(), fault, only: Some(proof.index) })
    }

    /// The verdict on goods examined: on the first faulty chunk, in the same words whether the
    /// whole ciphertext or that chunk's proof was presented.
    fn rule_on(&mut self, examined: Examined, epo: &Epo, key: &Hex<32>, promised: Option<&GoodsCommitment>) -> Ruled {
        let (signed, chunks, size) = (epo.ciphertext_root, examined.chunks, examined.size);
        match (examined.fault, examined.only) {
            (Some((i, chunk)), _) => {
                self.note(
                    "ciphertext-signed",
                    true,
                    format!("chunk {i} of {chunks} is in the ciphertext both parties signed, {signed}"),
                );
                if chunk == goods::Chunk::Sealed {
                    self.note(
                        "key-decrypts",
                        false,
                        format!("the merchant-committed K {key} does not decrypt chunk {i}"),
                    );
                    return (
                        Verdict::MerchantAtFault,
                        "the key the merchant committed to does not decrypt the goods he delivered".into(),
                    );
                }
                let p = promised.expect("a chunk is faulty against a promise");
                self.note("key-decrypts", true, format!("the merchant-committed K {key} decrypts chunk {i}"));
                let why = format!("chunk {i} is not the chunk the offer promised ({} bytes, root {})", p.size, p.root);
                self.note("goods-as-promised", false, why);
                (Verdict::MerchantAtFault, "the goods differ from the ones the merchant's offer promised".into())
            }
            (None, Some(i)) => {
                self.note(
                    "ciphertext-signed",
                    true,
                    format!("chunk {i} of {chunks} is in the ciphertext both parties signed, {signed}"),
                );
                self.note("key-decrypts", true, format!("the merchant-committed K {key} decrypts chunk {i}"));
                match promised {
                    Some(p) => {
                        let why =
                            format!("chunk {i} is the chunk the offer promised ({} bytes, root {})", p.size, p.root);
                        self.note("goods-as-promised", true, why);
                        (
                            Verdict::DeliveredAsAgreed,
                            format!("chunk {i} is the one the offer promised: no fault is shown"),
                        )
                    }
                    None => (
                        Verdict::DeliveredAsAgreed,
                        format!("the key decrypts the goods the customer signed for, at {}", epo.price),
                    ),
                }
            }
            (None, None) => {
                self.note(
                    "ciphertext-signed",
                    true,
                    format!("the ciphertext presented is the one both parties signed, {signed}"),
                );
                self.note(
                    "key-decrypts",
                    true,
                    format!("the merchant-committed K {key} decrypts all {chunks} chunks ({size} bytes)"),
                );
                match promised {
                    Some(p) => {
                        let why =
                            format!("every chunk is the one the offer promised ({} bytes, root {})", p.size, p.root);
                        self.note("goods-as-promised", true, why);
                        (
                            Verdict::DeliveredAsAgreed,
                            format!("the goods delivered are the goods offered, for {}", epo.price),
                        )
                    }
                    None if self.claim == Claim::NotWhatIOrdered => {
                        let why = format!("the offer promised no digest; the goods ({size} bytes) go to a person");
                        self.note("goods-as-promised", false, why);
                        (
                            Verdict::NotDecidable,
                            "no digest of the goods was promised: a person must compare them with the offer's description"
                                .into(),
                        )
                    }
                    None => (
                        Verdict::DeliveredAsAgreed,
                        format!("the key decrypts the goods the customer signed for, at {}", epo.price),
                    ),
                }
            }
        }
    }
}
