//! Sealing a secret to a party's X25519 public key.
//!
//! An ephemeral-static Diffie-Hellman exchange, HKDF-SHA256 and AES-256-GCM, in the shape of
//! HPKE's base mode: the merchant seals the goods key K to the NetBill server, and the server
//! seals a recovered receipt to the customer. A context string (the document type and EPO id)
//! is bound as associated data, so a box cannot be moved to another purpose or purchase.

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
