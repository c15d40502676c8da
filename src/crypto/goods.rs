//! Encrypting the goods under a fresh key K (NetBill step 4).
//!
//! The ciphertext file is `"ACGOODS1"` ‖ 12-byte random nonce ‖ AES-256-GCM(K, nonce,
//! aad = EPO id, goods). K is 256 random bits used for one delivery only. Because GCM is
//! authenticated, "K does not decrypt these goods" is a mechanical fact a judge can check.

use zeroize::Zeroizing;

use super::aead::{self, NONCE_LEN, TAG_LEN};

use crate::doc::Hex;
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"ACGOODS1";

/// A goods key K (zeroized on drop).
pub type GoodsKey = Zeroizing<Hex<32>>;

/// A fresh random goods key.
pub fn fresh_key() -> GoodsKey {
    Zeroizing::new(Hex(super::random::<32>()))
}

/// Encrypts `goods` under `key`, bound to `epo_id`.
pub fn encrypt(key: &Hex<32>, epo_id: &str, goods: &[u8]) -> Vec<u8> {
    let nonce = super::random::<NONCE_LEN>();
    let sealed = aead::seal(&key.0, nonce, epo_id.as_bytes(), goods);
    [&MAGIC[..], &nonce, &sealed].concat()
}

/// Decrypts a goods ciphertext; fails if `key` is not the key it was made with, the EPO id
/// differs, or any byte was changed.
pub fn decrypt(key: &Hex<32>, epo_id: &str, ciphertext: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.len() < MAGIC.len() + NONCE_LEN + TAG_LEN || &ciphertext[..MAGIC.len()] != MAGIC {
        return Err(Error::malformed("not an atomic-commerce goods ciphertext (bad header or too short)"));
    }
    let (nonce, sealed) = ciphertext[MAGIC.len()..].split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
    aead::open(&key.0, nonce, epo_id.as_bytes(), sealed)
        .ok_or_else(|| Error::refused(format!("key K does not decrypt the goods of {epo_id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let key = fresh_key();
        let ct = encrypt(&key, "epo-1", b"the goods");
        assert_eq!(decrypt(&key, "epo-1", &ct).unwrap(), b"the goods");
        assert!(decrypt(&fresh_key(), "epo-1", &ct).is_err(), "another key");
        assert!(decrypt(&key, "epo-2", &ct).is_err(), "another EPO");
        let mut flipped = ct.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(decrypt(&key, "epo-1", &flipped).is_err(), "tampered");
        assert!(decrypt(&key, "epo-1", &ct[..20]).is_err(), "truncated");
    }
}
