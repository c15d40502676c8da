//! Brands' off-line cash (Crypto '93) over ristretto255: coins are blind-signed by the bank,
//! carry the withdrawer's identity in a form nobody can read, and reveal it — with a proof
//! anyone can check — only if the same coin answers two different payment challenges.
//!
//! Notation follows ../shared/reference/cash.md §1.2 (additive: `G` the base point, `G1`, `G2`
//! nothing-up-my-sleeve generators, bank key `x` with `H = x·G`, customer identity
//! `I = u1·G1`). Every hash to a scalar is a 64-byte wide reduction mod the group order with a
//! domain tag and length-prefixed inputs.
//!
//! Assumptions and known attacks: blindness is unconditional; identity binding ("restrictive"
//! blinding) is a heuristic assumption; one-more unforgeability has no proof and falls to
//! ROS/Wagner attacks when many withdrawal sessions are open at once, so the bank must run
//! withdrawal sessions one at a time per key (see the bank).

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use crate::error::{Error, Result};

/// A nothing-up-my-sleeve generator: nobody knows its discrete logarithm to `G` or the other.
fn generator(name: &str) -> RistrettoPoint {
    RistrettoPoint::hash_from_bytes::<Sha512>(format!("atomic-commerce/cash/brands/{name}").as_bytes())
}

/// The generators `G1` (identity) and `G2`.
pub fn generators() -> (RistrettoPoint, RistrettoPoint) {
    (generator("g1"), generator("g2"))
}

/// Hashes points and bytes to a scalar under a domain tag, each input length-prefixed.
fn hash_to_scalar(tag: &str, points: &[&RistrettoPoint], extra: &[&[u8]]) -> Scalar {
    let mut h = Sha512::new();
    h.update(b"atomic-commerce/cash/brands/");
    h.update(tag.as_bytes());
    h.update([0]);
    for p in points {
        h.update(p.compress().as_bytes());
    }
    for e in extra {
        h.update((e.len() as u64).to_be_bytes());
        h.update(e);
    }
    Scalar::from_hash(h)
}

fn random_scalar() -> Scalar {
    Scalar::from_bytes_mod_order_wide(&crate::crypto::random::<64>())
}

fn random_nonzero_scalar() -> Scalar {
    loop {
        let s = random_scalar();
        if s != Scalar::ZERO {
            return s;
        }
    }
}

/// The bank's secret key for one denomination.
pub struct BankKey {
    x: Scalar,
}

impl BankKey {
    /// A fresh key.
    pub fn generate() -> BankKey {
        BankKey { x: random_nonzero_scalar() }
    }

    /// The public key `H = x·G`.
    pub fn public(&self) -> RistrettoPoint {
        self.x * G
    }

    /// `z = x·(I + G2)` for an account's identity `I`, sent with every withdrawal.
    pub fn account_tag(&self, identity: &RistrettoPoint) -> RistrettoPoint {
        self.x * (identity + generators().1)
    }

    /// Step 1 of a withdrawal: a fresh `w` (to be used once) and the commitments `a`, `b`.
    pub fn commit(&self, identity: &RistrettoPoint) -> (Scalar, RistrettoPoint, RistrettoPoint) {
        let w = random_nonzero_scalar();
        (w, w * G, w * (identity + generators().1))
    }

    /// Step 3: the response `r = c·x + w` to the customer's blinded challenge.
    pub fn respond(&self, w: &Scalar, c: &Scalar) -> Scalar {
        c * self.x + w
    }
}

/// A customer's account secret `u1`; her identity at the bank is `I = u1·G1`.
pub struct AccountSecret {
    u1: Scalar,
}

impl AccountSecret {
    /// A fresh secret.
    pub fn generate() -> AccountSecret {
        AccountSecret { u1: random_nonzero_scalar() }
    }

    /// The identity `I = u1·G1` registered at the bank.
    pub fn identity(&self) -> RistrettoPoint {
        self.u1 * generators().0
    }
}

/// The bank's signature on a coin: `(z', a', b', r')`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoinSignature {
    /// `z' = s·z`.
    pub z: RistrettoPoint,
    /// `a' = u·a + v·G`.
    pub a: RistrettoPoint,
    /// `b' = s·u·b + v·A`.
    pub b: RistrettoPoint,
    /// `r' = r·u + v`.
    pub r: Scalar,
}

/// A coin: `(A, B)` and the bank's blind signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coin {
    /// `A = s·(I + G2)`: the coin's identity-bearing part (and its serial number).
    pub big_a: RistrettoPoint,
    /// `B = x1·G1 + x2·G2`.
    pub big_b: RistrettoPoint,
    /// The signature.
    pub signature: CoinSignature,
}

/// What the customer keeps to spend a coin: `(u1·s, s, x1, x2)`.
pub struct CoinSecrets {
    u1s: Scalar,
    s: Scalar,
    x1: Scalar,
    x2: Scalar,
}

/// A withdrawal in progress on the customer's side.
pub struct Withdrawal {
    coin: Coin,
    secrets: CoinSecrets,
    u: Scalar,
    v: Scalar,
    c: Scalar,
    a: RistrettoPoint,
    b: RistrettoPoint,
    z: RistrettoPoint,
    identity: RistrettoPoint,
}

fn signature_challenge(coin: &Coin) -> Scalar {
    let s = &coin.signature;
    hash_to_scalar("signature", &[&coin.big_a, &coin.big_b, &s.z, &s.a, &s.b], &[])
}

impl Withdrawal {
    /// Step 2: blinds the bank's commitments and returns the state and the challenge `c` to send.
    pub fn start(
        account: &AccountSecret,
        z: RistrettoPoint,
        a: RistrettoPoint,
        b: RistrettoPoint,
    ) -> (Withdrawal, Scalar) {
        let (g1, g2) = generators();
        let identity = account.identity();
        let s = random_nonzero_scalar();
        let (x1, x2, u, v) = (random_scalar(), random_scalar(), random_nonzero_scalar(), random_scalar());
        let big_a = s * (identity + g2);
        let big_b = x1 * g1 + x2 * g2;
        let signature = CoinSignature { z: s * z, a: u * a + v * G, b: (s * u) * b + v * big_a, r: Scalar::ZERO };
        let coin = Coin { big_a, big_b, signature };
        let c = signature_challenge(&coin) * u.invert();
        let secrets = CoinSecrets { u1s: account.u1 * s, s, x1, x2 };
        (Withdrawal { coin, secrets, u, v, c, a, b, z, identity }, c)
    }

    /// Step 4: checks the bank's response `r` (the same `x` behind `H` and `z`) and unblinds it.
    pub fn finish(mut self, bank: &RistrettoPoint, r: &Scalar) -> Result<(Coin, CoinSecrets)> {
        let g2 = generators().1;
        let honest = r * G == self.c * bank + self.a && r * (self.identity + g2) == self.c * self.z + self.b;
        if !honest {
            return Err(Error::refused("the bank's withdrawal response does not verify"));
        }
        self.coin.signature.r = r * self.u + self.v;
        Ok((self.coin, self.secrets))
    }
}

impl Coin {
    /// Checks the bank's signature on the coin (merchant and bank).
    pub fn verify(&self, bank: &RistrettoPoint) -> Result<()> {
        if self.big_a.is_identity() {
            return Err(Error::refused("the coin's A is the identity element"));
        }
        let s = &self.signature;
        let c = signature_challenge(self);
        if s.r * G == c * bank + s.a && s.r * self.big_a == c * s.z + s.b {
            Ok(())
        } else {
            Err(Error::refused("the coin's signature is not the bank's"))
        }
    }
}

/// The payment challenge `d = H0(A, B, merchant, order, deposit deadline)`: fixed per payment
/// intent, so answering it again gives the identical response.
pub fn payment_challenge(coin: &Coin, merchant: &[u8], order: &[u8], deadline: &[u8]) -> Scalar {
    hash_to_scalar("payment", &[&coin.big_a, &coin.big_b], &[merchant, order, deadline])
}

/// The customer's answer `(r1, r2) = (d·u1·s + x1, d·s + x2)`.
pub fn respond(secrets: &CoinSecrets, d: &Scalar) -> (Scalar, Scalar) {
    (d * secrets.u1s + secrets.x1, d * secrets.s + secrets.x2)
}

/// Checks a payment answer: `r1·G1 + r2·G2 == d·A + B`.
pub fn check_payment(coin: &Coin, d: &Scalar, r1: &Scalar, r2: &Scalar) -> bool {
    let (g1, g2) = generators();
    RistrettoPoint::vartime_multiscalar_mul([*r1, *r2, -d, -Scalar::ONE], [g1, g2, coin.big_a, coin.big_b])
        .is_identity()
}

/// From two valid answers to different challenges for one coin, the spender's identity
/// `I = u1·G1` with `u1 = (r1 − r1')/(r2 − r2')`. `None` if the answers do not both verify or
/// the challenges are equal (a replay, not a double spend).
pub fn identify(
    coin: &Coin,
    first: (Scalar, Scalar, Scalar),
    second: (Scalar, Scalar, Scalar),
) -> Option<RistrettoPoint> {
    let ((d, r1, r2), (d2, r1b, r2b)) = (first, second);
    if d == d2 || !check_payment(coin, &d, &r1, &r2) || !check_payment(coin, &d2, &r1b, &r2b) || r2 == r2b {
        return None;
    }
    let u1 = (r1 - r1b) * (r2 - r2b).invert();
    Some(u1 * generators().0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn withdraw(bank: &BankKey, account: &AccountSecret) -> (Coin, CoinSecrets, Scalar, [RistrettoPoint; 2]) {
        let identity = account.identity();
        let (w, a, b) = bank.commit(&identity);
        let (state, c) = Withdrawal::start(account, bank.account_tag(&identity), a, b);
        let r = bank.respond(&w, &c);
        let (coin, secrets) = state.finish(&bank.public(), &r).unwrap();
        (coin, secrets, c, [a, b])
    }

    #[test]
    fn a_withdrawn_coin_verifies_and_pays() {
        let (bank, alice) = (BankKey::generate(), AccountSecret::generate());
        let (coin, secrets, _, _) = withdraw(&bank, &alice);
        coin.verify(&bank.public()).unwrap();
        let d = payment_challenge(&coin, b"bookshop", b"order-1", b"2026-12-01");
        let (r1, r2) = respond(&secrets, &d);
        assert!(check_payment(&coin, &d, &r1, &r2));
        assert_eq!(respond(&secrets, &d), (r1, r2), "the same challenge, the same answer");
        assert!(!check_payment(&coin, &d, &(r1 + Scalar::ONE), &r2));
        assert!(coin.verify(&BankKey::generate().public()).is_err(), "another bank's key");
        let mut forged = coin;
        forged.big_b += G;
        assert!(forged.verify(&bank.public()).is_err(), "a changed coin");
    }

    #[test]
    fn the_bank_sees_nothing_of_the_coin_it_signed() {
        let (bank, alice) = (BankKey::generate(), AccountSecret::generate());
        let (coin, _, c, [a, b]) = withdraw(&bank, &alice);
        let seen = [a, b, bank.account_tag(&alice.identity()), alice.identity()];
        let coin_points = [coin.big_a, coin.big_b, coin.signature.z, coin.signature.a, coin.signature.b];
        assert!(coin_points.iter().all(|p| !seen.contains(p)));
        assert_ne!(c, signature_challenge(&coin));
    }

    #[test]
    fn a_second_spend_reveals_the_identity_and_a_replay_does_not() {
        let (bank, alice) = (BankKey::generate(), AccountSecret::generate());
        let (coin, secrets, _, _) = withdraw(&bank, &alice);
        let d1 = payment_challenge(&coin, b"bookshop", b"order-1", b"2026-12-01");
        let d2 = payment_challenge(&coin, b"cafe", b"order-9", b"2026-12-01");
        let (a1, a2) = (respond(&secrets, &d1), respond(&secrets, &d2));
        assert_eq!(identify(&coin, (d1, a1.0, a1.1), (d2, a2.0, a2.1)), Some(alice.identity()));
        assert_eq!(identify(&coin, (d1, a1.0, a1.1), (d1, a1.0, a1.1)), None, "a replay accuses nobody");
    }
}
