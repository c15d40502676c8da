//! Refund vouchers: RSA blind signatures (RFC 9474, RSABSSA-SHA384-PSS-Randomized, through the
//! `blind-rsa-signatures` crate), one key per denomination.
//!
//! A refund must not tell the bank which coin it came from when it is cashed, or the refund
//! would undo the coin's anonymity. So the bank answers a refund claim by blind-signing a
//! message it cannot see, `"atomic-commerce/cash/voucher/v1" ‖ denomination ‖ serial`, and
//! later credits whoever presents a valid signature on a serial not yet redeemed.

use blind_rsa_signatures::{
    BlindMessage, BlindSignature, BlindingResult, DefaultRng, KeyPairSha384PSSRandomized as KeyPair, MessageRandomizer,
    PublicKeySha384PSSRandomized as PublicKey, Secret, SecretKeySha384PSSRandomized as SecretKey, Signature,
};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::money::Amount;

/// Modulus size of voucher keys.
pub const KEY_BITS: usize = 2048;

/// The bank's voucher key for one denomination.
pub struct VoucherKey(SecretKey);

/// The public half, which everyone uses to verify vouchers.
pub struct VoucherPublic(PublicKey);

/// The message a voucher of `denomination` with `serial` signs.
fn message(denomination: Amount, serial: &[u8; 32]) -> Vec<u8> {
    let mut m = b"atomic-commerce/cash/voucher/v1\0".to_vec();
    m.extend_from_slice(&denomination.micros().to_be_bytes());
    m.extend_from_slice(serial);
    m
}

fn refused(what: &str) -> impl Fn(blind_rsa_signatures::Error) -> Error + '_ {
    move |e| Error::refused(format!("{what}: {e}"))
}

impl VoucherKey {
    /// A fresh key.
    pub fn generate() -> Result<VoucherKey> {
        let pair = KeyPair::generate(&mut DefaultRng, KEY_BITS).map_err(refused("voucher key generation"))?;
        Ok(VoucherKey(pair.sk))
    }

    /// The key from its PKCS#1 DER encoding.
    pub fn from_der(der: &[u8]) -> Result<VoucherKey> {
        SecretKey::from_der(der).map(VoucherKey).map_err(|e| Error::malformed(format!("invalid voucher key: {e}")))
    }

    /// The PKCS#1 DER encoding (secret).
    pub fn to_der(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_der().expect("an RSA key encodes"))
    }

    /// The public key.
    pub fn public(&self) -> VoucherPublic {
        VoucherPublic(self.0.public_key().expect("an RSA key has a public half"))
    }

    /// Signs a blinded message (the bank never sees what it signs).
    pub fn blind_sign(&self, blinded: &[u8]) -> Result<Vec<u8>> {
        Ok(self.0.blind_sign(blinded).map_err(refused("the blinded voucher request"))?.0)
    }
}

impl VoucherPublic {
    /// The key from its SubjectPublicKeyInfo DER encoding.
    pub fn from_spki(der: &[u8]) -> Result<VoucherPublic> {
        PublicKey::from_spki(der).map(VoucherPublic).map_err(|e| Error::malformed(format!("invalid voucher key: {e}")))
    }

    /// The SubjectPublicKeyInfo DER encoding.
    pub fn to_spki(&self) -> Vec<u8> {
        self.0.to_spki().expect("an RSA public key encodes")
    }

    /// Blinds a fresh voucher request for `denomination`: what to send, and what to keep.
    pub fn request(&self, denomination: Amount) -> Result<(Vec<u8>, PendingVoucher)> {
        let serial = crate::crypto::random::<32>();
        let blinding =
            self.0.blind(&mut DefaultRng, message(denomination, &serial)).map_err(refused("blinding a voucher"))?;
        let randomizer = blinding.msg_randomizer.expect("the randomized variant").0;
        let pending = PendingVoucher {
            denomination,
            serial,
            randomizer,
            secret: Zeroizing::new(blinding.secret.0.clone()),
            blinded: blinding.blind_message.0.clone(),
        };
        Ok((blinding.blind_message.0, pending))
    }

    /// Checks a voucher.
    pub fn verify(&self, voucher: &Voucher) -> Result<()> {
        self.0
            .verify(
                &Signature(voucher.signature.clone()),
                Some(MessageRandomizer(voucher.randomizer)),
                message(voucher.denomination, &voucher.serial),
            )
            .map_err(|_| Error::refused(format!("voucher {} is not signed by the bank", hex::encode(voucher.serial))))
    }
}

/// A voucher request the customer has sent and keeps until the bank's blind signature comes.
pub struct PendingVoucher {
    /// The voucher's value.
    pub denomination: Amount,
    /// The random serial number.
    pub serial: [u8; 32],
    /// RFC 9474 message randomizer.
    pub randomizer: [u8; 32],
    /// The blinding secret.
    pub secret: Zeroizing<Vec<u8>>,
    /// The blinded message sent to the bank.
    pub blinded: Vec<u8>,
}

impl PendingVoucher {
    /// Unblinds the bank's blind signature into a voucher, checking it.
    pub fn finish(&self, key: &VoucherPublic, blind_signature: &[u8]) -> Result<Voucher> {
        let blinding = BlindingResult {
            blind_message: BlindMessage(self.blinded.clone()),
            secret: Secret(self.secret.to_vec()),
            msg_randomizer: Some(MessageRandomizer(self.randomizer)),
        };
        let signature = key
            .0
            .finalize(&BlindSignature(blind_signature.to_vec()), &blinding, message(self.denomination, &self.serial))
            .map_err(|_| Error::refused("the bank's voucher signature does not verify"))?;
        Ok(Voucher {
            denomination: self.denomination,
            serial: self.serial,
            randomizer: self.randomizer,
            signature: signature.0,
        })
    }
}

/// A signed voucher: worth its denomination at the bank, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    /// The voucher's value.
    pub denomination: Amount,
    /// The serial number (what the bank records as redeemed).
    pub serial: [u8; 32],
    /// RFC 9474 message randomizer.
    pub randomizer: [u8; 32],
    /// The RSA signature.
    pub signature: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blind_voucher_verifies_and_the_bank_never_saw_it() {
        let key = VoucherKey::generate().unwrap();
        let public = VoucherPublic::from_spki(&key.public().to_spki()).unwrap();
        let one = Amount::from_micros(1_000_000).unwrap();
        let (blinded, pending) = public.request(one).unwrap();
        let voucher = pending.finish(&public, &key.blind_sign(&blinded).unwrap()).unwrap();
        public.verify(&voucher).unwrap();
        assert!(!blinded.windows(32).any(|w| w == voucher.serial), "the serial is hidden from the signer");
        assert_ne!(blinded, voucher.signature);
        let mut other = voucher.clone();
        other.denomination = Amount::from_micros(2_000_000).unwrap();
        assert!(public.verify(&other).is_err(), "a voucher is worth only its own denomination");
        let key2 = VoucherKey::from_der(&key.to_der()).unwrap();
        assert_eq!(key2.public().to_spki(), key.public().to_spki());
    }
}
