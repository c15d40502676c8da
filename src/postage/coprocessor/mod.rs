//! The secure coprocessor: the part of a postage meter that holds the signing key and the
//! key that seals the registers, and answers only "sign this" and "authenticate this".
//!
//! Two implementations sit behind one trait, chosen when the meter is created: an emulated
//! device (keys in a 0600 file in the meter's directory) and a real PKCS#11 token through
//! `cryptoki` (keys generated on the token, sensitive and non-extractable). Either way the
//! registers live in the meter's own sealed, crash-safe state ([`crate::postage::meter`]):
//! SoftHSM loses data objects when a process is killed mid-update, so the token keeps keys only.
//!
//! Honest limits: the emulated device is software in the same process (FIPS 140 level 1 at
//! best): root can read its key file and restore an old state directory. A PKCS#11 software
//! token such as SoftHSM2 is no different in kind; a hardware token keeps the keys inside.

pub mod emulated;
pub mod pkcs11;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What a secure coprocessor does for the meter.
pub trait Coprocessor {
    /// The device's Ed25519 public key.
    fn public_key(&self) -> Result<[u8; 32]>;
    /// Signs `message` with the device's Ed25519 key, inside the device.
    fn sign(&self, message: &[u8]) -> Result<[u8; 64]>;
    /// HMAC-SHA256 of `data` under the device's sealing key, which never leaves the device.
    fn seal_tag(&self, data: &[u8]) -> Result<[u8; 32]>;
    /// Tamper response: destroys the device's keys. Nothing can be signed or unsealed after.
    fn zeroize(&mut self) -> Result<()>;
}

/// Which coprocessor a meter uses, as recorded in its directory (`device.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DeviceChoice {
    /// The emulated device: keys in `device.key` in the meter's directory.
    Emulated,
    /// A PKCS#11 token, addressed by an RFC 7512 URI (`pkcs11:token=…;object=…`).
    Pkcs11 {
        /// The URI.
        uri: String,
    },
}

impl std::str::FromStr for DeviceChoice {
    type Err = crate::Error;

    /// `emulated`, or a `pkcs11:` URI.
    fn from_str(s: &str) -> Result<DeviceChoice> {
        if s == "emulated" {
            Ok(DeviceChoice::Emulated)
        } else if s.starts_with("pkcs11:") {
            pkcs11::Pkcs11Uri::parse(s)?;
            Ok(DeviceChoice::Pkcs11 { uri: s.to_string() })
        } else {
            Err(crate::Error::usage(format!("unknown coprocessor {s:?}: use `emulated` or a pkcs11: URI")))
        }
    }
}
