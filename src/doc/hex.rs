//! Binary values in documents: lowercase hexadecimal strings, nothing else.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Exactly `N` bytes, written as `2N` lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hex<const N: usize>(pub [u8; N]);

/// Any number of bytes, written as lowercase hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

/// Decodes lowercase hex, rejecting uppercase digits (they would be a second encoding of the
/// same bytes, and signed documents allow one encoding only).
pub fn decode(s: &str) -> Result<Vec<u8>, String> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("hex digits must be lowercase".into());
    }
    hex::decode(s).map_err(|e| format!("invalid hex: {e}"))
}

impl<const N: usize> Hex<N> {
    /// Parses exactly `2N` lowercase hex digits (decoded in place: no copy of a secret is
    /// left behind).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("hex digits must be lowercase".into());
        }
        if s.len() != 2 * N {
            return Err(format!("expected {N} bytes ({} hex digits), found {} digits", 2 * N, s.len()));
        }
        let mut out = [0u8; N];
        hex::decode_to_slice(s, &mut out).map_err(|e| format!("invalid hex: {e}"))?;
        Ok(Hex(out))
    }
}

impl<const N: usize> fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 128];
        if 2 * N > buf.len() {
            return f.write_str(&hex::encode(self.0));
        }
        let out = &mut buf[..2 * N];
        hex::encode_to_slice(self.0, out).expect("twice the length");
        f.write_str(std::str::from_utf8(out).expect("hex is ASCII"))
    }
}

impl<const N: usize> fmt::Debug for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl<const N: usize> Serialize for Hex<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::doc::text::from_str_with(d, Hex::parse)
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = vec![0u8; 2 * self.0.len()];
        hex::encode_to_slice(&self.0, &mut out).expect("twice the length");
        s.serialize_str(std::str::from_utf8(&out).expect("hex is ASCII"))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::doc::text::from_str_with(d, |s| decode(s).map(HexBytes))
    }
}

impl<const N: usize> zeroize::Zeroize for Hex<N> {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}
