//! Sealing a secret to a party's X25519 public key.
//!
//! Two shapes, both HKDF-SHA256 and AES-256-GCM with a context string (the document type and
//! EPO id) bound as associated data, so a box cannot be moved to another purpose or purchase:
//! - [`seal`]: an ephemeral-static Diffie-Hellman exchange, in the shape of HPKE's base mode,
//!   for a sender who need not be known (the server seals a recovered receipt to the customer);
//! - [`Channel`]: a static-static exchange between two known parties, computed once per pair,
//!   in the shape of HPKE's auth mode without the ephemeral key (the merchant seals each goods
//!   key K to the NetBill server: the box also shows it came from the merchant's key, and the
//!   server opens it without a scalar multiplication per purchase).

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::aead;
use crate::doc::{Hex, HexBytes};
use crate::error::{Error, Result};

/// A sealed box: the sender's ephemeral public key and the AEAD ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// Ephemeral X25519 public key.
    pub ephemeral: Hex<32>,
    /// AES-256-GCM ciphertext with its 16-byte tag.
    pub ciphertext: HexBytes,
}

fn box_key(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut info = Vec::with_capacity(64);
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(recipient);
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(b"atomic-commerce seal v1"), shared)
        .expand(&info, &mut key[..])
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

/// Seals `plaintext` to `recipient`, bound to `context`.
pub fn seal(recipient: &Hex<32>, context: &str, plaintext: &[u8]) -> Result<Sealed> {
    let ephemeral = StaticSecret::from(super::random::<32>());
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&PublicKey::from(recipient.0));
    if !shared.was_contributory() {
        return Err(Error::refused("recipient's X25519 key is a low-order point; refusing to seal to it"));
    }
    let key = box_key(shared.as_bytes(), &ephemeral_public, &recipient.0);
    // Each box key is used once (a fresh ephemeral key), so the all-zero nonce is unique.
    let ciphertext = aead::seal(&key, [0; aead::NONCE_LEN], context.as_bytes(), plaintext);
    Ok(Sealed { ephemeral: Hex(ephemeral_public), ciphertext: HexBytes(ciphertext) })
}

/// Opens a box sealed to `secret` (whose public half is `public`) under `context`.
pub fn open(secret: &StaticSecret, public: &PublicKey, context: &str, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>> {
    let shared = secret.diffie_hellman(&PublicKey::from(sealed.ephemeral.0));
    let fail = || Error::refused(format!("sealed box for {context} does not open with this key"));
    if !shared.was_contributory() {
        return Err(fail());
    }
    let key = box_key(shared.as_bytes(), &sealed.ephemeral.0, public.as_bytes());
    aead::open(&key, [0; aead::NONCE_LEN], context.as_bytes(), &sealed.ciphertext.0)
        .map(Zeroizing::new)
        .ok_or_else(fail)
}

/// A box sealed on a [`Channel`]: a random nonce and the AES-256-GCM ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelBox {
    /// The random 96-bit nonce.
    pub nonce: Hex<12>,
    /// AES-256-GCM ciphertext with its 16-byte tag.
    pub ciphertext: HexBytes,
}

/// The secret two parties' static X25519 keys share, for boxes from one (the sender) to the
/// other. Each box is keyed by HKDF of the shared secret and its context, under a fresh random
/// nonce: keys never repeat across contexts, nonces almost never within one.
pub struct Channel(Zeroizing<[u8; 32]>);

impl Channel {
    /// The channel from `sender` to `recipient` (public keys), computed with the secret key of
    /// either and the public key of the other (`peer`).
    pub fn new(secret: &StaticSecret, peer: &Hex<32>, sender: &Hex<32>, recipient: &Hex<32>) -> Result<Channel> {
        let shared = secret.diffie_hellman(&PublicKey::from(peer.0));
        if !shared.was_contributory() {
            return Err(Error::refused("the peer's X25519 key is a low-order point; refusing a channel with it"));
        }
        let mut salt = Vec::with_capacity(96);
        salt.extend_from_slice(b"atomic-commerce channel v1");
        salt.extend_from_slice(&sender.0);
        salt.extend_from_slice(&recipient.0);
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&salt), shared.as_bytes());
        Ok(Channel(Zeroizing::new(prk.into())))
    }

    fn box_key(&self, context: &str) -> Zeroizing<[u8; 32]> {
        let mut key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::from_prk(&self.0[..])
            .expect("a 32-byte PRK is valid")
            .expand(context.as_bytes(), &mut key[..])
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        key
    }

    /// Seals `plaintext` on this channel, bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> ChannelBox {
        let nonce = super::random::<{ aead::NONCE_LEN }>();
        let ciphertext = aead::seal(&self.box_key(context), nonce, context.as_bytes(), plaintext);
        ChannelBox { nonce: Hex(nonce), ciphertext: HexBytes(ciphertext) }
    }

    /// Opens a box sealed on this channel under `context`.
    pub fn open(&self, context: &str, sealed: &ChannelBox) -> Result<Zeroizing<Vec<u8>>> {
        aead::open(&self.box_key(context), sealed.nonce.0, context.as_bytes(), &sealed.ciphertext.0)
            .map(Zeroizing::new)
            .ok_or_else(|| Error::refused(format!("sealed box for {context} does not open on this channel")))
    }
}
