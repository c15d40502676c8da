//! Documents: the type-tagged, versioned JSON every tool reads and writes.
//!
//! A document is `{"type": T, "version": 1, "body": {...}, "signature": {...}}`. Parsing is
//! total and strict: wrong type or version, unknown or duplicate fields, and any
//! non-canonical encoding of a value (an uppercase hex digit, `"0.10"` for `"0.1"`, an
//! explicit `null`) are rejected, so every document has exactly one encoding and a signature
//! that verifies here verifies in any other implementation of docs/FORMATS.md.
//!
//! A signature is Ed25519 over `"atomic-commerce:" T ":v1" 0x00 JCS(document minus
//! "signature")` (RFC 8785), so reformatting with `jq .` never breaks it and changing any
//! field always does. [`Signed`] is a parsed document whose signature has not been checked;
//! [`Verified`] is what [`Signed::verify`] returns, and the only way to read a body as trusted.

pub mod hex;
pub(crate) mod text;

use std::io::{Read, Write};
use std::ops::Deref;

use ed25519_dalek::Signer;
use ed25519_dalek::ed25519::signature::MultipartSigner;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::crypto::merkle::{self, Leaf, Tree};
use crate::error::{Error, Result};
pub use hex::{Hex, HexBytes};

/// The version every document of this release carries.
pub const VERSION: u32 = 1;

/// The longest document (or NDJSON line) a tool reads: 64 MiB.
pub const MAX_DOCUMENT: u64 = 64 << 20;

/// The body of one document type.
pub trait Body: Serialize + DeserializeOwned + Clone {
    /// The type tag, such as `netbill.epo`.
    const TYPE: &'static str;

    /// Rules across fields that the types alone do not express; a body breaking them is
    /// malformed.
    fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    /// The body's canonical encoding when it can be assembled from parts already encoded (the
    /// documents nested in it, each encoded once); `None`, the default, encodes the whole body.
    /// It MUST equal [`jcs`] of the body (checked in debug builds).
    fn assembled(&self) -> Option<Vec<u8>> {
        None
    }
}

/// A body's canonical encoding written member by member, for [`Body::assembled`], without
/// building a JSON tree: the caller gives the members in RFC 8785 order (byte order, for ASCII
/// keys), and serde_json writes each value, escaping strings as RFC 8785 prescribes.
pub struct Members {
    out: Vec<u8>,
    first: bool,
    /// False once an integer beyond 2^53 was written: RFC 8785 writes those as doubles, so
    /// then the body is encoded by [`jcs`] instead.
    exact: bool,
}

impl Members {
    /// An object, `{` written.
    pub fn new(capacity: usize) -> Members {
        let mut out = Vec::with_capacity(capacity);
        out.push(b'{');
        Members { out, first: true, exact: true }
    }

    fn key(&mut self, key: &str) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A member whose value serde_json writes as one JSON string (text, hex, an amount, a
    /// time, an identifier or a unit enum).
    pub fn string(mut self, key: &str, value: &impl Serialize) -> Members {
        self.key(key);
        serde_json::to_writer(&mut self.out, value).expect("a Vec takes any write");
        self
    }

    /// A member whose value is a string when present, and that is absent otherwise.
    pub fn optional(self, key: &str, value: Option<&impl Serialize>) -> Members {
        match value {
            Some(value) => self.string(key, value),
            None => self,
        }
    }

    /// A non-negative integer member.
    pub fn integer(mut self, key: &str, value: u64) -> Members {
        self.key(key);
        self.exact &= value <= 1 << 53;
        write!(self.out, "{value}").expect("a Vec takes any write");
        self
    }

    /// A member whose value is an object, written by `members`.
    pub fn object(mut self, key: &str, members: impl FnOnce(Members) -> Members) -> Members {
        self.key(key);
        self.out.push(b'{');
        let inner = members(Members { out: std::mem::take(&mut self.out), first: true, exact: self.exact });
        Members { out: inner.out, first: false, exact: inner.exact }.close()
    }

    fn close(mut self) -> Members {
        self.out.push(b'}');
        self
    }

    /// The encoding, `}` written; `None` when it is not the canonical one ([`Members::integer`]).
    pub fn end(self) -> Option<Vec<u8>> {
        let done = self.close();
        done.exact.then_some(done.out)
    }
}

/// The canonical encoding of `body`: assembled from its parts when it can be, else encoded.
fn body_jcs<B: Body>(body: &B) -> Vec<u8> {
    let encoded = body.assembled().unwrap_or_else(|| jcs(body));
    debug_assert_eq!(String::from_utf8_lossy(&encoded), String::from_utf8_lossy(&jcs(body)));
    encoded
}

/// The signature block: who signed (key id) and the Ed25519 signature, and, for a document
/// signed in a batch, where it sits in the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    /// Key id of the signing key (see [`KeyId`]).
    pub key_id: KeyId,
    /// The 64-byte Ed25519 signature: over the document's message, or over its batch's.
    pub ed25519: Hex<64>,
    /// Present when the signature covers a batch of documents ([`Signed::sign_batch`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Batch>,
}

/// Where a document signed in a batch sits: one Ed25519 signature covers the root of the
/// RFC 6962 Merkle tree (SHA-256) whose leaves are the batch's documents' messages, and this
/// is the document's inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The document's leaf index, from 0.
    pub index: u32,
    /// The number of documents in the batch.
    pub size: u32,
    /// The tree's root.
    pub root: Hex<32>,
    /// The audit path: sibling hashes from the leaf up.
    pub path: Vec<Hex<32>>,
}

impl SignatureBlock {
    /// The block's canonical encoding, written directly, as [`jcs`] would but without a JSON
    /// tree: its members in order, strings of hex digits (which need no escape) and integers
    /// below 2^32.
    fn write_canonical(&self, out: &mut Vec<u8>) {
        let written = (|| {
            out.write_all(b"{")?;
            if let Some(Batch { index, size, root, path }) = &self.batch {
                write!(out, r#""batch":{{"index":{index},"path":["#)?;
                for (i, hash) in path.iter().enumerate() {
                    write!(out, r#"{}"{hash}""#, if i == 0 { "" } else { "," })?;
                }
                write!(out, r#"],"root":"{root}","size":{size}}},"#)?;
            }
            write!(out, r#""ed25519":"{}","key_id":"{}"}}"#, self.ed25519, self.key_id)
        })();
        written.expect("a Vec takes any write");
    }
}

/// The wire form shared by all documents.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<B> {
    #[serde(rename = "type")]
    doc_type: String,
    version: u32,
    body: B,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<SignatureBlock>,
}

/// A document without a signature (secret-key files, sealed answers).
#[derive(Debug, Clone)]
pub struct Plain<B>(pub B);

/// A parsed document carrying a signature that has not been checked yet.
#[derive(Debug, Clone)]
pub struct Signed<B> {
    body: B,
    signature: SignatureBlock,
    /// The body's canonical encoding, computed once (documents are immutable once parsed or
    /// signed): the signature and the digest are computed over it.
    canonical: std::sync::OnceLock<Vec<u8>>,
    /// The digest, computed once.
    digest: std::sync::OnceLock<Hex<32>>,
}

impl<B: PartialEq> PartialEq for Signed<B> {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body && self.signature == other.signature
    }
}

impl<B: Eq> Eq for Signed<B> {}

/// Proof that a document's signature was checked against a known identity; it derefs to
/// the body. Only [`Signed::verify`] makes one.
#[derive(Debug)]
pub struct Verified<'a, B> {
    body: &'a B,
}

impl<B> Deref for Verified<'_, B> {
    type Target = B;
    fn deref(&self) -> &B {
        self.body
    }
}

/// The bytes an Ed25519 signature covers for a document of type `doc_type` whose unsigned
/// canonical (JCS) encoding is `jcs`.
pub fn signed_message(doc_type: &str, jcs: &[u8]) -> Vec<u8> {
    [&message_label(doc_type), jcs].concat()
}

/// What a signed message starts with: the domain-separation label of `doc_type`.
fn message_label(doc_type: &str) -> Vec<u8> {
    format!("atomic-commerce:{doc_type}:v{VERSION}\0").into_bytes()
}

/// The canonical (RFC 8785) encoding of `value`.
///
/// serde_json writes a `Value` with its object keys in byte order, compactly, with the string
/// escapes RFC 8785 prescribes; that is the canonical form whenever no number needs the
/// ECMAScript double formatting (every number an integer of magnitude at most 2^53) and no key
/// holds a character at or above U+E000 (below it, UTF-8 byte order and the UTF-16 order RFC
/// 8785 sorts by agree). Documents are such values; any other goes through
/// serde_json_canonicalizer, the reference this fast path is tested against.
pub fn jcs(value: &impl Serialize) -> Vec<u8> {
    let tree = serde_json::to_value(value).expect("documents serialize to JSON");
    if byte_order_is_canonical(&tree) {
        serde_json::to_vec(&tree).expect("JSON values serialize")
    } else {
        serde_json_canonicalizer::to_vec(value).expect("documents serialize to JSON")
    }
}

fn byte_order_is_canonical(value: &Value) -> bool {
    const EXACT: u64 = 1 << 53;
    match value {
        Value::Number(n) => {
            n.as_u64().is_some_and(|n| n <= EXACT) || n.as_i64().is_some_and(|n| n.unsigned_abs() <= EXACT)
        }
        Value::Array(items) => items.iter().all(byte_order_is_canonical),
        Value::Object(map) => map.iter().all(|(k, v)| k.chars().all(|c| c < '\u{E000}') && byte_order_is_canonical(v)),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}

/// The canonical encoding of a document whose body's canonical encoding is `body`, in pieces,
/// the body borrowed, to hash or sign a large document without copying it: `{"body":`, the
/// body, and `rest` ([`wire_rest`]: `,"signature":…,"type":…,"version":…}`, keys in order).
fn wire_pieces<'a>(body: &'a [u8], rest: &'a [u8]) -> [&'a [u8]; 3] {
    [b"{\"body\":", body, rest]
}

/// What follows the body in a document's canonical encoding: the signature block if any, the
/// type and the version.
fn wire_rest(doc_type: &str, signature: Option<&SignatureBlock>) -> Vec<u8> {
    let mut out = Vec::with_capacity(200);
    if let Some(signature) = signature {
        out.extend_from_slice(b",\"signature\":");
        signature.write_canonical(&mut out);
    }
    out.extend_from_slice(b",\"type\":");
    serde_json::to_writer(&mut out, doc_type).expect("a string serializes");
    write!(out, ",\"version\":{VERSION}}}").expect("a Vec takes any write");
    out
}

/// Calls `take` with the bytes a signature covers on a document of type `doc_type` whose body's
/// canonical encoding is `body` (see [`signed_message`]), in pieces, none of them copied: the
/// label and the unsigned document's canonical encoding ([`wire_pieces`]).
fn with_message<T>(doc_type: &str, body: &[u8], take: impl FnOnce(&[&[u8]]) -> T) -> T {
    let (label, rest) = (message_label(doc_type), wire_rest(doc_type, None));
    let [open, body, rest] = wire_pieces(body, &rest);
    take(&[&label, open, body, rest])
}

/// What a signature over a batch starts with: the label of a type no document has
/// (`signature-batch`, see [`message_label`]), so the message of a batch is never a document's.
const BATCH_LABEL: &[u8] = b"atomic-commerce:signature-batch:v1\0";

/// The bytes a batch's signature covers: [`BATCH_LABEL`], the root and the batch's size
/// (8 bytes, big-endian).
fn batch_message(root: &Hex<32>, size: u32) -> [u8; BATCH_LABEL.len() + 40] {
    let mut message = [0; BATCH_LABEL.len() + 40];
    message[..BATCH_LABEL.len()].copy_from_slice(BATCH_LABEL);
    message[BATCH_LABEL.len()..][..32].copy_from_slice(&root.0);
    message[BATCH_LABEL.len() + 32..].copy_from_slice(&u64::from(size).to_be_bytes());
    message
}

/// A document's leaf in a batch: the SHA-256 of its message, the bytes a signature of it
/// alone would cover.
fn message_leaf(doc_type: &str, body: &[u8]) -> Leaf {
    with_message(doc_type, body, |pieces| sha256_of(pieces).0)
}

/// SHA-256 of bytes given in pieces (a document's canonical encoding, or its message).
fn sha256_of(pieces: &[&[u8]]) -> Hex<32> {
    let mut hash = Sha256::new();
    for piece in pieces {
        hash.update(piece);
    }
    Hex(hash.finalize().into())
}

impl<B: Body> Signed<B> {
    /// Signs `body` with `keys`.
    pub fn sign(body: B, keys: &PartyKeys) -> Signed<B> {
        let canonical = body_jcs(&body);
        // The message in its pieces: a journal entry's is a megabyte, and is not copied.
        let signature = with_message(B::TYPE, &canonical, |m| keys.signing_key().try_multipart_sign(m));
        let ed25519 = Hex(signature.expect("signing in process does not fail").to_bytes());
        Signed::encoded_as(body, SignatureBlock { key_id: keys.key_id(), ed25519, batch: None }, canonical)
    }

    /// Signs `bodies` at once with `keys`: one Ed25519 signature over the root of the Merkle
    /// tree of their messages (the bytes each would be signed over alone), and each document
    /// carries its inclusion proof, so it verifies on its own as a document signed alone does.
    /// A batch of one is signed alone.
    pub fn sign_batch(bodies: Vec<B>, keys: &PartyKeys) -> Vec<Signed<B>> {
        if bodies.len() < 2 {
            return bodies.into_iter().map(|body| Signed::sign(body, keys)).collect();
        }
        Signed::sign_tree(bodies, keys)
    }

    /// Signs `body` with `keys` as a batch of one: the signature covers the SHA-256 of its
    /// message, one pass over it (with the CPU's SHA extensions where it has them), where
    /// signing it alone would hash it twice with SHA-512. For documents of a megabyte (a
    /// group's journal entry).
    pub fn sign_hashed(body: B, keys: &PartyKeys) -> Signed<B> {
        Signed::sign_tree(vec![body], keys).pop().expect("a batch of one signs one document")
    }

    /// Signs `bodies` (at least one) under the root of the Merkle tree of their messages.
    fn sign_tree(bodies: Vec<B>, keys: &PartyKeys) -> Vec<Signed<B>> {
        Signed::tree(bodies, keys.key_id(), |root, size| {
            Hex(keys.signing_key().sign(&batch_message(root, size)).to_bytes())
        })
    }

    /// The documents of a batch that `key_id` signed with `ed25519`, from their bodies in
    /// order (as a journal entry stores receipts): the tree, each document's proof, and the
    /// signature, as [`Signed::sign_batch`] made them; a batch of one was signed alone. Nothing
    /// is checked until [`Signed::verify`].
    pub fn from_batch(bodies: Vec<B>, key_id: KeyId, ed25519: Hex<64>) -> Vec<Signed<B>> {
        if let [_] = bodies[..] {
            return bodies.into_iter().map(|body| Signed::from_parts(body, key_id, ed25519.0)).collect();
        }
        Signed::tree(bodies, key_id, |_, _| ed25519)
    }

    /// `bodies` (at least one) under the root of the Merkle tree of their messages, with the
    /// signature `sign` gives for the root and the size.
    fn tree(bodies: Vec<B>, key_id: KeyId, sign: impl FnOnce(&Hex<32>, u32) -> Hex<64>) -> Vec<Signed<B>> {
        let size = u32::try_from(bodies.len()).expect("a batch of fewer than 2^32 documents");
        let canonical: Vec<Vec<u8>> = bodies.iter().map(body_jcs).collect();
        let tree = Tree::new(&canonical.iter().map(|c| message_leaf(B::TYPE, c)).collect::<Vec<_>>());
        let root = tree.root();
        let ed25519 = sign(&root, size);
        bodies
            .into_iter()
            .zip(canonical)
            .zip(0..)
            .map(|((body, canonical), index)| {
                let batch = Batch { index, size, root, path: tree.path(u64::from(index)) };
                let signature = SignatureBlock { key_id, ed25519, batch: Some(batch) };
                Signed::encoded_as(body, signature, canonical)
            })
            .collect()
    }

    /// Signs `body` with a key held elsewhere (a secure coprocessor), named `key_id`, whose
    /// Ed25519 signature over a message `sign` returns.
    pub fn sign_with(body: B, key_id: KeyId, sign: impl FnOnce(&[u8]) -> Result<[u8; 64]>) -> Result<Signed<B>> {
        let canonical = body_jcs(&body);
        let ed25519 = Hex(with_message(B::TYPE, &canonical, |m| sign(&m.concat()))?);
        Ok(Signed::encoded_as(body, SignatureBlock { key_id, ed25519, batch: None }, canonical))
    }

    /// A document just signed over `canonical`, its body's encoding.
    fn encoded_as(body: B, signature: SignatureBlock, canonical: Vec<u8>) -> Signed<B> {
        let signed = Signed::new(body, signature);
        signed.canonical.set(canonical).expect("a new document has no encoding yet");
        signed
    }

    fn new(body: B, signature: SignatureBlock) -> Signed<B> {
        Signed { body, signature, canonical: std::sync::OnceLock::new(), digest: std::sync::OnceLock::new() }
    }

    /// The body's canonical encoding (encoded once, then kept).
    pub fn canonical(&self) -> &[u8] {
        self.canonical.get_or_init(|| body_jcs(&self.body))
    }

    /// A signed document from its body and a signature made elsewhere (as a compact binary
    /// record carries them); nothing is checked until [`Signed::verify`].
    pub fn from_parts(body: B, key_id: KeyId, ed25519: [u8; 64]) -> Signed<B> {
        Signed::new(body, SignatureBlock { key_id, ed25519: Hex(ed25519), batch: None })
    }

    /// The bytes the Ed25519 signature covers, for verifiers that check many signatures at
    /// once: the document's message (see [`signed_message`]), or, for a document signed in a
    /// batch, the batch's message once the document is shown to be in the batch (`None` if it
    /// is not).
    pub fn signed_bytes(&self) -> Option<Vec<u8>> {
        let Some(batch) = &self.signature.batch else {
            return Some(with_message(B::TYPE, self.canonical(), |m| m.concat()));
        };
        let leaf = message_leaf(B::TYPE, self.canonical());
        merkle::verify(&batch.root, batch.size.into(), &leaf, batch.index.into(), &batch.path)
            .then(|| batch_message(&batch.root, batch.size).to_vec())
    }

    /// The signature block.
    pub fn signature(&self) -> &SignatureBlock {
        &self.signature
    }

    /// The body, not yet trusted: use it only to decide which key to verify with.
    pub fn unverified(&self) -> &B {
        &self.body
    }

    /// Checks that `identity` signed this document: first that the key ids match (a precise
    /// "signed by another key" error), then the Ed25519 signature (strict verification).
    pub fn verify(&self, identity: &Identity) -> Result<Verified<'_, B>> {
        self.verify_with(identity.key_id, &identity.verifying_key()?, &identity.name)
    }

    /// Like [`Signed::verify`], for a key known otherwise than by an identity document (a
    /// meter's certified key): `key_id` and `key` belong to `who`.
    pub fn verify_with(&self, key_id: KeyId, key: &VerifyingKey, who: &str) -> Result<Verified<'_, B>> {
        if self.signature.key_id != key_id {
            return Err(Error::refused(format!(
                "{} is signed by key {}, not by {who} (key {key_id})",
                B::TYPE,
                self.signature.key_id,
            )));
        }
        let signature = Signature::from_bytes(&self.signature.ed25519.0);
        let signed = self
            .signed_bytes()
            .ok_or_else(|| Error::refused(format!("{} is not in the batch its signature by {who} covers", B::TYPE)))?;
        key.verify_strict(&signed, &signature)
            .map_err(|_| Error::refused(format!("{} signature by {who} does not verify", B::TYPE)))?;
        Ok(Verified { body: &self.body })
    }

    /// Appends the whole document's canonical encoding, signature included (JCS, §1.6 of
    /// docs/FORMATS.md), to `out`: what its digest hashes, and what a document containing it
    /// holds.
    pub fn write_encoded(&self, out: &mut Vec<u8>) {
        for piece in wire_pieces(self.canonical(), &wire_rest(B::TYPE, Some(&self.signature))) {
            out.extend_from_slice(piece);
        }
    }

    /// SHA-256 of the whole document's canonical encoding, signature included: the
    /// document's identity when another document refers to it.
    pub fn digest(&self) -> Hex<32> {
        *self.digest.get_or_init(|| {
            let rest = wire_rest(B::TYPE, Some(&self.signature));
            sha256_of(&wire_pieces(self.canonical(), &rest))
        })
    }

    /// Parses a signed document of type `B` (see the module docs for what is rejected).
    pub fn parse(bytes: &[u8]) -> Result<Signed<B>> {
        if let Some(signed) = Self::parse_line(bytes) {
            return Ok(signed);
        }
        let wire: Wire<B> = parse_wire(bytes)?;
        Self::from_wire(wire).map_err(Error::malformed)
    }

    /// The document, when `bytes` are exactly its line form (as the tools print NDJSON): then
    /// the typed document re-encoded is the input, byte for byte, so it is in canonical form
    /// without comparing JSON values. Anything else (`None`) goes through [`parse_wire`].
    fn parse_line(bytes: &[u8]) -> Option<Signed<B>> {
        let signed = Self::from_wire(serde_json::from_slice::<Wire<B>>(bytes).ok()?).ok()?;
        let line = signed.to_json_line();
        (line.as_bytes().strip_suffix(b"\n") == Some(bytes.trim_ascii())).then_some(signed)
    }

    /// Parses like [`Signed::parse`] but without the body's cross-field rules
    /// ([`Body::check`]), for a judge who must examine a validly signed document that breaks
    /// them: such a document is evidence against its signer, not noise.
    pub fn parse_as_evidence(bytes: &[u8]) -> Result<Signed<B>> {
        let wire: Wire<B> = parse_wire(bytes)?;
        check_header::<B>(&wire.doc_type, wire.version).map_err(Error::malformed)?;
        let signature = wire.signature.ok_or_else(|| Error::malformed(format!("{} has no signature", B::TYPE)))?;
        Ok(Signed::new(wire.body, signature))
    }

    /// Pretty JSON with a final newline, as tools print it.
    pub fn to_json_pretty(&self) -> String {
        pretty(&self.wire())
    }

    /// One line of JSON with a final newline, for NDJSON streams.
    pub fn to_json_line(&self) -> String {
        line(B::TYPE, self.canonical(), Some(&self.signature))
    }

    fn wire(&self) -> Wire<&B> {
        Wire {
            doc_type: B::TYPE.to_string(),
            version: VERSION,
            body: &self.body,
            signature: Some(self.signature.clone()),
        }
    }

    fn from_wire(wire: Wire<B>) -> std::result::Result<Signed<B>, String> {
        check_header::<B>(&wire.doc_type, wire.version)?;
        wire.body.check().map_err(|e| format!("invalid {}: {e}", B::TYPE))?;
        let signature = wire.signature.ok_or_else(|| format!("{} has no signature", B::TYPE))?;
        Ok(Signed::new(wire.body, signature))
    }
}

impl<B: Body> Plain<B> {
    /// Parses an unsigned document of type `B`.
    pub fn parse(bytes: &[u8]) -> Result<B> {
        let wire: Wire<B> = parse_wire(bytes)?;
        check_header::<B>(&wire.doc_type, wire.version).map_err(Error::malformed)?;
        wire.body.check().map_err(|e| Error::malformed(format!("invalid {}: {e}", B::TYPE)))?;
        if wire.signature.is_some() {
            return Err(Error::malformed(format!("{} is not a signed document", B::TYPE)));
        }
        Ok(wire.body)
    }

    /// SHA-256 of the document's canonical encoding (JCS): its identity when another document
    /// refers to it.
    pub fn digest(&self) -> Hex<32> {
        sha256_of(&wire_pieces(&body_jcs(&self.0), &wire_rest(B::TYPE, None)))
    }

    /// Pretty JSON with a final newline.
    pub fn to_json_pretty(&self) -> String {
        pretty(&Wire { doc_type: B::TYPE.to_string(), version: VERSION, body: &self.0, signature: None })
    }

    /// One line of JSON with a final newline, for NDJSON streams and logs.
    pub fn to_json_line(&self) -> String {
        line(B::TYPE, &body_jcs(&self.0), None)
    }
}

fn check_header<B: Body>(doc_type: &str, version: u32) -> std::result::Result<(), String> {
    if doc_type != B::TYPE {
        return Err(format!("wrong document type: expected {}, found {doc_type}", B::TYPE));
    }
    if version != VERSION {
        return Err(format!("unsupported {} version {version} (this release reads version {VERSION})", B::TYPE));
    }
    Ok(())
}

/// A document's type tag, if the bytes are a JSON object that has one (to choose a parser).
pub fn type_of(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Header {
        #[serde(rename = "type")]
        doc_type: String,
    }
    serde_json::from_slice::<Header>(bytes).ok().map(|h| h.doc_type)
}

/// Strict parse: the JSON value and its type tag first (for a precise error), then the typed
/// document (unknown and duplicate fields rejected), then the canonical-form check.
fn parse_wire<B: Body>(bytes: &[u8]) -> Result<Wire<B>> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::malformed(format!("not UTF-8 text: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // a byte-order mark some editors write
    let as_read: Value = serde_json::from_str(text).map_err(|e| Error::malformed(describe_json_error(&e)))?;
    match as_read.get("type") {
        Some(Value::String(t)) if t == B::TYPE => {}
        Some(Value::String(t)) => {
            return Err(Error::malformed(format!("wrong document type: expected {}, found {t}", B::TYPE)));
        }
        _ => return Err(Error::malformed(format!("not a document: no \"type\" field (expected {})", B::TYPE))),
    }
    let wire: Wire<B> =
        serde_json::from_str(text).map_err(|e| Error::malformed(format!("invalid {}: {e}", B::TYPE)))?;
    let canonical = serde_json::to_value(&wire).expect("documents serialize to JSON");
    if as_read != canonical {
        return Err(Error::malformed(format!(
            "{} is not in canonical form (e.g. an explicit null, an uppercase hex digit, or an amount like 0.10 for 0.1): {}",
            B::TYPE,
            first_difference(&as_read, &canonical, String::new())
        )));
    }
    Ok(wire)
}

/// The JSON path of the first place where two values differ, for the canonical-form error.
fn first_difference(a: &Value, b: &Value, path: String) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) if v == w => {}
                    Some(w) => return first_difference(v, w, format!("{path}.{k}")),
                    None => return format!("field {path}.{k} must be omitted"),
                }
            }
            format!("at {path}")
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find(|(_, (v, w))| v != w)
            .map(|(i, (v, w))| first_difference(v, w, format!("{path}[{i}]")))
            .unwrap_or_else(|| format!("at {path}")),
        _ => format!("field {path} is {a}, canonical form is {b}"),
    }
}

fn describe_json_error(e: &serde_json::Error) -> String {
    if e.is_eof() { format!("truncated JSON: {e}") } else { format!("not valid JSON: {e}") }
}

fn pretty(value: &impl Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("documents serialize to JSON");
    s.push('\n');
    s
}

/// The line form: the envelope's members in order, the body (`body`, its canonical encoding)
/// and the signature block in canonical form, and a newline. A signed document's line costs
/// no serialization: its body was encoded once, to be signed or verified.
fn line(doc_type: &str, body: &[u8], signature: Option<&SignatureBlock>) -> String {
    let mut out = Vec::with_capacity(body.len() + 200);
    out.extend_from_slice(b"{\"type\":");
    serde_json::to_writer(&mut out, doc_type).expect("a string serializes");
    write!(out, ",\"version\":{VERSION},\"body\":").expect("a Vec takes any write");
    out.extend_from_slice(body);
    if let Some(signature) = signature {
        out.extend_from_slice(b",\"signature\":");
        signature.write_canonical(&mut out);
    }
    out.extend_from_slice(b"}\n");
    String::from_utf8(out).expect("JSON is UTF-8")
}

impl<B: Body> Serialize for Signed<B> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.wire().serialize(s)
    }
}

impl<'de, B: Body> Deserialize<'de> for Signed<B> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let wire = Wire::<B>::deserialize(d)?;
        Signed::from_wire(wire).map_err(serde::de::Error::custom)
    }
}

/// Reads a stream of documents (NDJSON, or any whitespace-separated JSON values) one at a
/// time, yielding each value's raw text so that it can be parsed strictly. A value longer than
/// [`MAX_DOCUMENT`] ends the stream with an error, so memory stays bounded whatever comes in.
/// Each value is returned as soon as its last byte has been read.
pub fn stream<R: Read>(reader: R) -> impl Iterator<Item = Result<Box<serde_json::value::RawValue>>> {
    Values { reader, buf: Vec::new(), pos: 0, frame: Frame::default(), eof: false, done: false }
}

/// The values of a stream: each framed by one pass over its bytes ([`Frame`]), then parsed
/// from the buffer (serde_json's slice parser is several times faster than its reader one).
struct Values<R> {
    reader: R,
    buf: Vec<u8>,
    /// Where the value being framed starts in `buf`.
    pos: usize,
    frame: Frame,
    eof: bool,
    done: bool,
}

/// Where a JSON value ends, found by one pass over its bytes however they arrive: the end of
/// its outermost object, array or string, or the byte after a bare scalar. It only frames;
/// the value is checked by the parser.
#[derive(Default)]
struct Frame {
    /// How many of the value's bytes were scanned.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    scalar: bool,
}

impl Frame {
    /// The value's length, once `bytes` (the value's bytes so far) hold all of it.
    fn end(&mut self, bytes: &[u8]) -> Option<usize> {
        while let Some(&b) = bytes.get(self.scanned) {
            self.scanned += 1;
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => {
                        self.in_string = false;
                        if self.depth == 0 {
                            return Some(self.scanned);
                        }
                    }
                    // The rest of a string up to its next quote or backslash says nothing.
                    _ => match memchr::memchr2(b'"', b'\\', &bytes[self.scanned..]) {
                        Some(plain) => self.scanned += plain,
                        None => self.scanned = bytes.len(),
                    },
                }
            } else if self.scalar {
                if b.is_ascii_whitespace() || b"{}[]\",:".contains(&b) {
                    return Some(self.scanned - 1);
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth = self.depth.saturating_sub(1);
                        if self.depth == 0 {
                            return Some(self.scanned);
                        }
                    }
                    _ if self.depth == 0 => self.scalar = true,
                    _ => {}
                }
            }
        }
        None
    }
}

impl<R: Read> Values<R> {
    /// One read (what a pipe holds now, so a slow producer's values are answered as they
    /// come), keeping the unread part of the buffer.
    fn refill(&mut self) -> std::io::Result<()> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let len = self.buf.len();
        self.buf.resize(len + (64 << 10), 0);
        let read = loop {
            match self.reader.read(&mut self.buf[len..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        self.buf.truncate(len + *read.as_ref().unwrap_or(&0));
        self.eof = read? == 0;
        Ok(())
    }

    fn next_value(&mut self) -> Option<Result<Box<serde_json::value::RawValue>>> {
        loop {
            if self.frame.scanned == 0 {
                let blank = self.buf[self.pos..].iter().take_while(|b| b.is_ascii_whitespace()).count();
                self.pos += blank;
            }
            let rest = &self.buf[self.pos..];
            let end = match self.frame.end(rest) {
                Some(end) => Some(end),
                None if self.eof && rest.is_empty() => return None,
                None if self.eof => Some(rest.len()),
                None if rest.len() as u64 > MAX_DOCUMENT => {
                    let why = format!("a line longer than {} MiB: not a document", MAX_DOCUMENT >> 20);
                    return Some(Err(Error::malformed(why)));
                }
                None => None,
            };
            if let Some(end) = end {
                let value = serde_json::from_slice::<Box<serde_json::value::RawValue>>(&rest[..end]);
                self.pos += end;
                self.frame = Frame::default();
                return Some(value.map_err(|e| Error::malformed(describe_json_error(&e))));
            }
            if let Err(e) = self.refill() {
                return Some(Err(Error::io(&e)));
            }
        }
    }
}

impl<R: Read> Iterator for Values<R> {
    type Item = Result<Box<serde_json::value::RawValue>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_value();
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Batch, Body, Members, Signed, jcs, stream};
    use crate::crypto::keys::PartyKeys;
    use crate::crypto::merkle;
    use crate::money::Amount;

    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Note {
        text: String,
        price: Amount,
    }

    impl Body for Note {
        const TYPE: &'static str = "test.note";
    }

    /// A document's own line parses as itself (the fast path); the same line with a value in
    /// a non-canonical form, which the typed parse alone would accept, is refused.
    #[test]
    fn a_line_parses_as_itself_and_a_non_canonical_value_is_refused() {
        let keys = PartyKeys::generate("tester").unwrap();
        let note = Signed::sign(Note { text: "caf\u{e9} \"x\"".into(), price: "0.1".parse().unwrap() }, &keys);
        let line = note.to_json_line();
        let parsed = Signed::<Note>::parse(line.as_bytes()).unwrap();
        assert_eq!(parsed, note);
        assert!(parsed.verify_with(keys.key_id(), &keys.signing_key().verifying_key(), "tester").is_ok());
        let padded = line.replace("\"0.1\"", "\"0.10\"");
        assert_ne!(padded, line);
        let e = Signed::<Note>::parse(padded.as_bytes()).unwrap_err();
        assert!(e.message().contains("not in canonical form"), "{}", e.message());
    }

    /// A reader that hands out its chunks one read at a time and fails the test if read
    /// beyond them (a producer that waits for an answer before it writes more).
    struct Scripted(std::collections::VecDeque<&'static [u8]>, bool);

    impl std::io::Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.pop_front() {
                Some(chunk) => {
                    buf[..chunk.len()].copy_from_slice(chunk);
                    Ok(chunk.len())
                }
                None if self.1 => Ok(0),
                None => panic!("read past what the producer has written"),
            }
        }
    }

    fn values(chunks: &[&'static [u8]], ends: bool, n: usize) -> Vec<String> {
        stream(Scripted(chunks.iter().copied().collect(), ends))
            .take(n)
            .map(|v| v.map_or_else(|e| format!("error: {}", e.message()), |v| v.get().to_string()))
            .collect()
    }

    #[test]
    fn a_stream_yields_each_value_once_its_last_byte_is_read() {
        // Split anywhere, across strings with escaped quotes and braces, without blank between.
        let got = values(&[b"{\"a\": \"}\\\"{\"", b", \"b\": [1,", b" {}]}{}", b"\n  [\n\"x\"\n]"], false, 3);
        assert_eq!(got, [r#"{"a": "}\"{", "b": [1, {}]}"#, "{}", "[\n\"x\"\n]"]);
        // A string split in its plain run, or right after a backslash, goes on in the next read.
        let got = values(&[b"{\"k\":\"ab", b"c}\\", b"\"]\"}", b"\"x\\\\\" 1"], true, 3);
        assert_eq!(got, [r#"{"k":"abc}\"]"}"#, r#""x\\""#, "1"]);
        // A bare number ends at the blank after it, or at the end of the stream.
        assert_eq!(values(&[b"12", b"3 4"], true, 3), ["123", "4"]);
        assert_eq!(
            values(&[b"{\"a\":"], true, 2),
            ["error: truncated JSON: EOF while parsing a value at line 1 column 5"]
        );
        assert_eq!(values(&[b"{\"a\" 1}"], true, 2), ["error: not valid JSON: expected `:` at line 1 column 6"]);
        assert!(values(&[b"  \n "], true, 1).is_empty());
    }

    /// A signature block, written directly, is in the reference canonical form, alone or
    /// with a batch's inclusion proof.
    #[test]
    fn a_signature_block_is_written_canonically() {
        let keys = PartyKeys::generate("tester").unwrap();
        let alone = Signed::sign(Note { text: String::new(), price: Amount::ZERO }, &keys);
        let batched = Signed::sign_batch(notes(3), &keys);
        for block in [alone.signature(), batched[2].signature()] {
            let mut canonical = Vec::new();
            block.write_canonical(&mut canonical);
            assert_eq!(canonical, serde_json_canonicalizer::to_vec(block).unwrap());
        }
    }

    fn notes(n: usize) -> Vec<Note> {
        (0..n).map(|i| Note { text: format!("note {i}"), price: Amount::ZERO }).collect()
    }

    /// Each document of a batch verifies on its own and parses back from its line as itself;
    /// a batch of one is signed alone.
    #[test]
    fn documents_signed_in_a_batch_verify_each_on_its_own() {
        let keys = PartyKeys::generate("tester").unwrap();
        let identity = keys.identity();
        for size in [2, 3, 16, 17] {
            let batch = Signed::sign_batch(notes(size), &keys);
            for (i, note) in batch.iter().enumerate() {
                let proof = note.signature().batch.as_ref().expect("signed in a batch");
                assert_eq!((proof.index as usize, proof.size as usize), (i, size));
                assert_eq!(proof.path.len(), merkle::path_len(size as u64, i as u64));
                assert_eq!(note.verify(&identity).unwrap().text, format!("note {i}"));
                assert_eq!(Signed::<Note>::parse(note.to_json_line().as_bytes()).unwrap(), *note);
            }
        }
        assert!(Signed::sign_batch(notes(1), &keys)[0].signature().batch.is_none());
    }

    /// A document signed hashed is a batch of one: an empty path, and a signature that covers
    /// its body (another body under it is refused).
    #[test]
    fn a_document_signed_hashed_is_a_batch_of_one() {
        let keys = PartyKeys::generate("tester").unwrap();
        let identity = keys.identity();
        let [note, other] = notes(2).try_into().unwrap();
        let signed = Signed::sign_hashed(note.clone(), &keys);
        let proof = signed.signature().batch.as_ref().expect("signed as a batch");
        assert_eq!((proof.index, proof.size, proof.path.len()), (0, 1, 0));
        assert_eq!(signed.verify(&identity).unwrap().text, note.text);
        assert_eq!(Signed::<Note>::parse(signed.to_json_line().as_bytes()).unwrap(), signed);
        let forged = Signed::new(other, signed.signature().clone());
        let e = forged.verify(&identity).unwrap_err();
        assert_eq!(e.message(), "test.note is not in the batch its signature by tester covers");
    }

    /// A document is refused when its proof does not place it in the batch the signature
    /// covers: another body, another index, a changed path or root, or another batch's proof.
    #[test]
    fn a_document_outside_its_signed_batch_is_refused() {
        let keys = PartyKeys::generate("tester").unwrap();
        let identity = keys.identity();
        let batch = Signed::sign_batch(notes(5), &keys);
        let other = Signed::sign_batch(notes(5).into_iter().rev().collect(), &keys);
        let with = |body: Note, change: &dyn Fn(&mut Batch)| {
            let mut signature = batch[1].signature().clone();
            change(signature.batch.as_mut().unwrap());
            Signed::new(body, signature)
        };
        let note = || batch[1].unverified().clone();
        let outside = "test.note is not in the batch its signature by tester covers";
        let unsigned = "test.note signature by tester does not verify";
        let forged = [
            (with(batch[2].unverified().clone(), &|_| {}), outside),
            (with(note(), &|b| b.index = 2), outside),
            (with(note(), &|b| b.path[0].0[0] ^= 1), outside),
            (
                with(note(), &|b| {
                    b.path.pop();
                }),
                outside,
            ),
            (with(note(), &|b| b.root.0[31] ^= 1), outside),
            (with(note(), &|b| *b = other[0].signature().batch.clone().unwrap()), outside),
            // The note's place in the other batch (it holds the same notes, reversed): a proof
            // that holds, but of a root this signature does not cover.
            (with(note(), &|b| *b = other[3].signature().batch.clone().unwrap()), unsigned),
            // The same path fits a batch of 6, but the signature covers the batch's size.
            (with(note(), &|b| b.size = 6), unsigned),
        ];
        for (doc, why) in forged {
            assert_eq!(doc.verify(&identity).unwrap_err().message(), why);
        }
        // A proof that holds, under the signature of another batch.
        let mut signature = batch[3].signature().clone();
        signature.ed25519 = other[3].signature().ed25519;
        let e = Signed::new(batch[3].unverified().clone(), signature).verify(&identity).unwrap_err();
        assert_eq!(e.message(), unsigned);
    }

    /// The fast path writes what the reference canonicalizer writes, on values chosen to
    /// stress escapes, key order and numbers; values it cannot write exactly go to the reference.
    #[test]
    fn the_canonical_encoding_is_the_reference_one() {
        let values = [
            json!({"b": 1, "a": [true, null, "x"], "c": {"z": "\u{0}\u{1f}\u{7f}\"\\/\n\t\r\u{8}\u{c}", "y": -3}}),
            json!({"é": 1, "e": 2, "\u{e000}": 3, "\u{1f600}": 4, "\u{ffff}": 5, "z": "\u{1f600}\u{2028}"}),
            json!({"big": 9_007_199_254_740_993u64, "small": -9_007_199_254_740_993i64, "max": u64::MAX}),
            json!({"exact": 9_007_199_254_740_992u64, "float": 0.1, "e": 1e21, "neg": -0.0}),
            json!([{"b": {"d": 1, "c": 2}, "a": []}, {}, [[]]]),
        ];
        for v in values {
            let reference = serde_json_canonicalizer::to_vec(&v).unwrap();
            assert_eq!(String::from_utf8(jcs(&v)).unwrap(), String::from_utf8(reference).unwrap(), "{v}");
        }
    }

    /// An object written member by member is the reference encoding: escapes, a nested
    /// object, an absent optional member; and an integer RFC 8785 writes as a double is left
    /// to the reference (`None`).
    #[test]
    fn members_are_written_as_the_reference_writes_them() {
        let text = "\u{0}\u{1f}\u{7f}\"\\/\n\u{e000}\u{1f600}\u{2028}";
        for size in [0, 1 << 53] {
            let written = Members::new(0)
                .string("a", &text)
                .object("b", |m| m.string("c", &Amount::from_micros(5).unwrap()).integer("d", size))
                .optional("e", None::<&String>)
                .optional("f", Some(&"x".to_string()))
                .end()
                .unwrap();
            let reference = json!({"a": text, "b": {"c": "0.000005", "d": size}, "f": "x"});
            assert_eq!(String::from_utf8(written).unwrap(), String::from_utf8(jcs(&reference)).unwrap());
        }
        assert_eq!(Members::new(0).integer("n", (1 << 53) + 1).end(), None);
    }
}
