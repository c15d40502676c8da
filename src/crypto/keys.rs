//! A party's keys and public identity.
//!
//! Each party has an Ed25519 key for signing and an X25519 key for receiving sealed
//! secrets. The secret-key file holds both (mode 0600, never overwritten); the identity
//! document publishes the public halves with the party's name and key id, and is signed by
//! the key it names, so a copy damaged or edited in transit is rejected.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};
use zeroize::Zeroizing;

use super::seal::{Channel, Sealed};
use crate::doc::{Body, Hex, Plain, Signed};
use crate::error::{Error, Result};

/// A key's short name: the first 8 bytes of SHA-256("atomic-commerce key id" 0x00 ‖ Ed25519
/// public key), as 16 hex digits. Every signature names its key id, so a document signed by
/// the wrong key is reported as such before any signature check.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The key id of an Ed25519 public key.
    pub fn of(ed25519_public: &[u8; 32]) -> KeyId {
        let digest = Sha256::new_with_prefix(b"atomic-commerce key id\0").chain_update(ed25519_public).finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&crate::doc::Hex(self.0), f)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for KeyId {
    type Err = Error;
    fn from_str(s: &str) -> Result<KeyId> {
        Hex::<8>::parse(s).map(|h| KeyId(h.0)).map_err(|e| Error::malformed(format!("invalid key id {s:?}: {e}")))
    }
}

/// Checks a party name: 1–64 characters from `A-Z a-z 0-9 . _ -`, starting with a letter or
/// digit (names become account names and file names).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::malformed(format!(
            "invalid party name {name:?}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )))
    }
}

/// The body of an `identity` document: a party's public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The party's name.
    pub name: String,
    /// Key id of `ed25519`.
    pub key_id: KeyId,
    /// Ed25519 public key (signatures).
    pub ed25519: Hex<32>,
    /// X25519 public key (sealed secrets).
    pub x25519: Hex<32>,
}

impl Body for Identity {
    const TYPE: &'static str = "identity";
}

impl Identity {
    /// The Ed25519 verifying key, rejecting weak (small-order) keys.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        let key = VerifyingKey::from_bytes(&self.ed25519.0)
            .map_err(|_| Error::malformed(format!("identity {}: invalid Ed25519 public key", self.name)))?;
        if key.is_weak() {
            return Err(Error::malformed(format!("identity {}: weak Ed25519 public key", self.name)));
        }
        Ok(key)
    }

    /// Parses an identity document and checks that it is consistent and self-signed.
    pub fn parse(bytes: &[u8]) -> Result<Identity> {
        Identity::from_document(&Signed::parse(bytes)?)
    }

    /// Checks that a parsed identity document is consistent and self-signed.
    pub fn from_document(doc: &Signed<Identity>) -> Result<Identity> {
        let claimed = doc.unverified().clone();
        claimed.check_consistent()?;
        doc.verify(&claimed)?;
        Ok(claimed)
    }

    /// Checks an identity quoted inside another document: a valid name, and a key id that
    /// is its Ed25519 key's.
    pub fn check_consistent(&self) -> Result<()> {
        check_name(&self.name)?;
        if KeyId::of(&self.ed25519.0) != self.key_id {
            return Err(Error::malformed(format!("identity {}: key id does not match its Ed25519 key", self.name)));
        }
        Ok(())
    }
}

/// A party's secret keys. Both halves are zeroized when dropped.
pub struct PartyKeys {
    name: String,
    signing: SigningKey,
    sealing: StaticSecret,
    /// The public half of `sealing`, kept (deriving it costs a scalar multiplication).
    sealing_public: X25519Public,
}

/// The body of a `secret-key` file.
#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct SecretKeyFile {
    name: String,
    ed25519_seed: Hex<32>,
    x25519_secret: Hex<32>,
}

impl Drop for SecretKeyFile {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.ed25519_seed.0.zeroize();
        self.x25519_secret.0.zeroize();
    }
}

impl Body for SecretKeyFile {
    const TYPE: &'static str = "secret-key";
}

impl PartyKeys {
    /// Fresh keys for `name` from the operating system's random generator.
    pub fn generate(name: &str) -> Result<PartyKeys> {
        check_name(name)?;
        let seed = Zeroizing::new(super::random::<32>());
        let sealing = Zeroizing::new(super::random::<32>());
        Ok(PartyKeys::new(name.to_string(), SigningKey::from_bytes(&seed), StaticSecret::from(*sealing)))
    }

    fn new(name: String, signing: SigningKey, sealing: StaticSecret) -> PartyKeys {
        let sealing_public = X25519Public::from(&sealing);
        PartyKeys { name, signing, sealing, sealing_public }
    }

    /// The key id of the signing key.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(self.signing.verifying_key().as_bytes())
    }

    /// The Ed25519 signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Opens a box sealed to these keys under `context`.
    pub fn open_sealed(&self, context: &str, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>> {
        super::seal::open(&self.sealing, &self.sealing_public, context, sealed)
    }

    /// The authenticated channel from these keys to the party whose X25519 key is `recipient`.
    pub fn channel_to(&self, recipient: &Hex<32>) -> Result<Channel> {
        Channel::new(&self.sealing, recipient, &Hex(self.sealing_public.to_bytes()), recipient)
    }

    /// The authenticated channel to these keys from the party whose X25519 key is `sender`.
    pub fn channel_from(&self, sender: &Hex<32>) -> Result<Channel> {
        Channel::new(&self.sealing, sender, sender, &Hex(self.sealing_public.to_bytes()))
    }

    /// The public identity (unsigned body).
    pub fn identity(&self) -> Identity {
        Identity {
            name: self.name.clone(),
            key_id: self.key_id(),
            ed25519: Hex(self.signing.verifying_key().to_bytes()),
            x25519: Hex(self.sealing_public.to_bytes()),
        }
    }

    /// The self-signed identity document.
    pub fn identity_document(&self) -> Signed<Identity> {
        Signed::sign(self.identity(), self)
    }

    /// The secret-key file's contents (to be written with mode 0600).
    pub fn to_file(&self) -> Zeroizing<String> {
        let body = SecretKeyFile {
            name: self.name.clone(),
            ed25519_seed: Hex(self.signing.to_bytes()),
            x25519_secret: Hex(self.sealing.to_bytes()),
        };
        Zeroizing::new(Plain(body).to_json_pretty())
    }

    /// Parses a secret-key file.
    pub fn parse(bytes: &[u8]) -> Result<PartyKeys> {
        let body = Plain::<SecretKeyFile>::parse(bytes)?;
        check_name(&body.name)?;
        Ok(PartyKeys::new(
            body.name.clone(),
            SigningKey::from_bytes(&body.ed25519_seed.0),
            StaticSecret::from(body.x25519_secret.0),
        ))
    }
}

impl fmt::Debug for PartyKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartyKeys({}, {})", self.name, self.key_id())
    }
}
