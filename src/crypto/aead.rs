//! AES-256-GCM through ring, whose assembly reaches the processor's AES and carry-less
//! multiply instructions (AES-NI/VAES, PCLMULQDQ/VPCLMULQDQ): about 3.5 GB/s on the machines
//! we measured, where the portable RustCrypto implementation runs near 1 GB/s. Goods can be
//! large and a judge decrypts them, so this is where the toolkit spends its time.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Length of a nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the authentication tag appended to a ciphertext.
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key, expanded once for many messages.
pub struct Key(LessSafeKey);

impl Key {
    /// The key of these 32 bytes.
    pub fn new(bytes: &[u8; 32]) -> Key {
        Key(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes is an AES-256 key")))
    }

    /// Encrypts `buffer` in place and appends the tag. A (key, nonce) pair must never repeat.
    pub fn seal_in_place(&self, nonce: [u8; NONCE_LEN], aad: &[u8], buffer: &mut Vec<u8>) {
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buffer)
            .expect("AES-GCM seals any message below 64 GiB");
    }

    /// Decrypts ciphertext ‖ tag in place and returns the plaintext; `None` if the key, nonce
    /// or associated data are wrong or any byte was changed.
    pub fn open_in_place<'b>(&self, nonce: [u8; NONCE_LEN], aad: &[u8], buffer: &'b mut [u8]) -> Option<&'b mut [u8]> {
        self.0.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buffer).ok()
    }
}

/// Encrypts `plaintext` and returns ciphertext ‖ tag. A (key, nonce) pair must never repeat.
pub fn seal(key_bytes: &[u8; 32], nonce: [u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    Key::new(key_bytes).seal_in_place(nonce, aad, &mut out);
    out
}

/// Decrypts ciphertext ‖ tag; `None` if the key, nonce or associated data are wrong or any
/// byte was changed.
pub fn open(key_bytes: &[u8; 32], nonce: [u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let mut buffer = sealed.to_vec();
    let len = Key::new(key_bytes).open_in_place(nonce, aad, &mut buffer)?.len();
    buffer.truncate(len);
    Some(buffer)
}
