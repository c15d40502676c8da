//! The emulated coprocessor: an Ed25519 key and a sealing key in `device.key` (mode 0600).
//! Zeroization overwrites the file with zeros, syncs it, and removes it.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Coprocessor;
use crate::doc::{Body, Hex, Plain};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::fsio;

/// The body of the emulated device's key file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceKeys {
    ed25519_seed: Hex<32>,
    seal_key: Hex<32>,
}

impl Drop for DeviceKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.ed25519_seed);
        zeroize::Zeroize::zeroize(&mut self.seal_key);
    }
}

impl Body for DeviceKeys {
    const TYPE: &'static str = "postage.emulated-device-key";
}

/// An emulated secure coprocessor.
pub struct Emulated {
    path: PathBuf,
    signing: Option<SigningKey>,
    seal_key: Zeroizing<[u8; 32]>,
}

const KEY_FILE: &str = "device.key";

impl Emulated {
    /// Creates a device with fresh keys in `dir`.
    pub fn create(dir: &Path) -> Result<Emulated> {
        let keys = DeviceKeys { ed25519_seed: Hex(crate::crypto::random()), seal_key: Hex(crate::crypto::random()) };
        let path = dir.join(KEY_FILE);
        fsio::write_secret(&path, Zeroizing::new(Plain(keys.clone()).to_json_pretty()).as_bytes())?;
        Ok(Emulated::from_keys(path, &keys))
    }

    /// Opens the device in `dir`.
    pub fn open(dir: &Path) -> Result<Emulated> {
        let path = dir.join(KEY_FILE);
        let bytes = fsio::read_secret(&path)?;
        let keys = Plain::<DeviceKeys>::parse(&bytes).at(path.display())?;
        Ok(Emulated::from_keys(path, &keys))
    }

    fn from_keys(path: PathBuf, keys: &DeviceKeys) -> Emulated {
        Emulated {
            path,
            signing: Some(SigningKey::from_bytes(&keys.ed25519_seed.0)),
            seal_key: Zeroizing::new(keys.seal_key.0),
        }
    }

    fn signing(&self) -> Result<&SigningKey> {
        self.signing.as_ref().ok_or_else(|| Error::refused("the device's keys were zeroized"))
    }
}

impl Coprocessor for Emulated {
    fn public_key(&self) -> Result<[u8; 32]> {
        Ok(self.signing()?.verifying_key().to_bytes())
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64]> {
        Ok(self.signing()?.sign(message).to_bytes())
    }

    fn seal_tag(&self, data: &[u8]) -> Result<[u8; 32]> {
        self.signing()?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&*self.seal_key).expect("any key length");
        mac.update(data);
        Ok(mac.finalize().into_bytes().into())
    }

    fn zeroize(&mut self) -> Result<()> {
        self.signing = None;
        zeroize::Zeroize::zeroize(&mut *self.seal_key);
        let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("zeroizing: {e}")).at(self.path.display());
        if let Ok(len) = std::fs::metadata(&self.path).map(|m| m.len()) {
            let mut file = std::fs::OpenOptions::new().write(true).open(&self.path).map_err(io)?;
            file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)]).map_err(io)?;
            file.sync_all().map_err(io)?;
            std::fs::remove_file(&self.path).map_err(io)?;
        }
        Ok(())
    }
}
