//! Cryptography, composed from audited crates: party keys and identities (Ed25519, X25519),
//! sealing to a public key (X25519 + HKDF-SHA256 + AES-256-GCM), goods encryption in chunks
//! (AES-256-GCM, [`aead`]) with Merkle commitments ([`merkle`]), and checksums (SHA-256).

pub mod aead;
pub mod goods;
pub mod keys;
pub mod merkle;
pub mod seal;

use sha2::{Digest, Sha256};

use crate::doc::Hex;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hex<32> {
    Hex(Sha256::digest(bytes).into())
}

/// A fresh random value from the operating system's generator.
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out[..]);
    out
}
