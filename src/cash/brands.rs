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
#[derive(zeroize::ZeroizeOnDrop)]
pub struct BankKey {
    x: Scalar,
}

impl BankKey {
    /// A fresh key.
    pub fn generate() -> BankKey {
        BankKey { x: random_nonzero_scalar() }
    }

    /// The key from its 32-byte canonical encoding.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<BankKey> {
        let x = scalar(bytes).filter(|x| *x != Scalar::ZERO).ok_or_else(|| Error::malformed("invalid bank key"))?;
        Ok(BankKey { x })
    }

    /// The 32-byte encoding (secret).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.x.to_bytes())
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
#[derive(zeroize::ZeroizeOnDrop)]
pub struct AccountSecret {
    u1: Scalar,
}

impl AccountSecret {
    /// A fresh secret.
    pub fn generate() -> AccountSecret {
        AccountSecret { u1: random_nonzero_scalar() }
    }

    /// The secret from its 32-byte canonical encoding.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<AccountSecret> {
        let u1 =
            scalar(bytes).filter(|x| *x != Scalar::ZERO).ok_or_else(|| Error::malformed("invalid account secret"))?;
        Ok(AccountSecret { u1 })
    }

    /// The 32-byte encoding (secret).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.u1.to_bytes())
    }

    /// A proof that she knows `u1`, bound to `context` (the bank and her signing key).
    pub fn prove(&self, context: &[u8]) -> IdentityProof {
        let k = random_nonzero_scalar();
        let commitment = k * generators().0;
        let e = hash_to_scalar("identity-proof", &[&self.identity(), &commitment], &[context]);
        IdentityProof { commitment, response: k + e * self.u1 }
    }

    /// The identity `I = u1·G1` registered at the bank.
    pub fn identity(&self) -> RistrettoPoint {
        self.u1 * generators().0
    }
}

/// A non-interactive Schnorr proof of knowledge of `u1` with `I = u1·G1` (Fiat–Shamir, bound
/// to a context): without it a customer could register an `I` whose discrete logarithm she does
/// not know (say `I = k·G2 − G2`), and a second spend of her coins would reveal nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityProof {
    /// The commitment `R = k·G1`.
    pub commitment: RistrettoPoint,
    /// The response `z = k + e·u1`, `e = H(I, R, context)`.
    pub response: Scalar,
}

impl IdentityProof {
    /// Checks the proof for `identity` in `context`; the identity element is refused.
    pub fn verify(&self, identity: &RistrettoPoint, context: &[u8]) -> bool {
        let e = hash_to_scalar("identity-proof", &[identity, &self.commitment], &[context]);
        !identity.is_identity() && self.response * generators().0 == self.commitment + e * identity
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

/// A coin: `(A, B)`, the owner's Ed25519 public key, and the bank's blind signature on all three.
///
/// The owner key is our addition to Brands' scheme (his signature may cover a message): it is
/// chosen by the withdrawer, hidden from the bank by the blinding, and lets only her, not a
/// merchant who saw the coin, claim its refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coin {
    /// `A = s·(I + G2)`: the coin's identity-bearing part (and its serial number).
    pub big_a: RistrettoPoint,
    /// `B = x1·G1 + x2·G2`.
    pub big_b: RistrettoPoint,
    /// The owner's Ed25519 public key.
    pub owner: [u8; 32],
    /// The signature.
    pub signature: CoinSignature,
}

/// What the customer keeps to spend a coin: `(u1·s, s, x1, x2)`.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct CoinSecrets {
    u1s: Scalar,
    s: Scalar,
    x1: Scalar,
    x2: Scalar,
}

impl CoinSecrets {
    /// The 128-byte encoding (secret).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new([self.u1s, self.s, self.x1, self.x2].iter().flat_map(|x| x.to_bytes()).collect())
    }

    /// The secrets from their 128-byte encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<CoinSecrets> {
        let [u1s, s, x1, x2] = scalars::<4>(bytes).ok_or_else(|| Error::malformed("invalid coin secrets"))?;
        Ok(CoinSecrets { u1s, s, x1, x2 })
    }
}

/// A withdrawal in progress on the customer's side: everything needed to finish it, which she
/// stores before sending the challenge so that a lost response can be fetched again.
#[derive(zeroize::ZeroizeOnDrop)]
pub struct Withdrawal {
    #[zeroize(skip)]
    coin: Coin,
    secrets: CoinSecrets,
    u: Scalar,
    v: Scalar,
    c: Scalar,
    #[zeroize(skip)]
    bank: [RistrettoPoint; 3],
    #[zeroize(skip)]
    identity: RistrettoPoint,
}

fn signature_challenge(coin: &Coin) -> Scalar {
    let s = &coin.signature;
    hash_to_scalar("signature", &[&coin.big_a, &coin.big_b, &s.z, &s.a, &s.b], &[&coin.owner])
}

/// A scalar from its canonical 32-byte encoding.
pub fn scalar(bytes: &[u8; 32]) -> Option<Scalar> {
    Scalar::from_canonical_bytes(*bytes).into()
}

fn scalars<const N: usize>(bytes: &[u8]) -> Option<[Scalar; N]> {
    if bytes.len() != 32 * N {
        return None;
    }
    let mut out = [Scalar::ZERO; N];
    for (o, chunk) in out.iter_mut().zip(bytes.chunks_exact(32)) {
        *o = scalar(chunk.try_into().expect("32-byte chunks"))?;
    }
    Some(out)
}

impl Withdrawal {
    /// Step 2: blinds the bank's commitments `(z, a, b)` for a coin owned by the Ed25519 key
    /// `owner`, and returns the state and the challenge `c` to send.
    pub fn start(account: &AccountSecret, [z, a, b]: [RistrettoPoint; 3], owner: [u8; 32]) -> (Withdrawal, Scalar) {
        let (g1, g2) = generators();
        let identity = account.identity();
        let s = random_nonzero_scalar();
        let (x1, x2, u, v) = (random_scalar(), random_scalar(), random_nonzero_scalar(), random_scalar());
        let big_a = s * (identity + g2);
        let big_b = x1 * g1 + x2 * g2;
        let signature = CoinSignature { z: s * z, a: u * a + v * G, b: (s * u) * b + v * big_a, r: Scalar::ZERO };
        let coin = Coin { big_a, big_b, owner, signature };
        let c = signature_challenge(&coin) * u.invert();
        let secrets = CoinSecrets { u1s: account.u1 * s, s, x1, x2 };
        (Withdrawal { coin, secrets, u, v, c, bank: [z, a, b], identity }, c)
    }

    /// The challenge `c` this withdrawal sends (the same on every retry).
    pub fn challenge(&self) -> Scalar {
        self.c
    }

    /// The state as bytes, to be stored (secret) until the bank answers.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(32 * 16));
        let c = &self.coin;
        for p in [c.big_a, c.big_b, c.signature.z, c.signature.a, c.signature.b, self.identity] {
            out.extend_from_slice(p.compress().as_bytes());
        }
        for p in self.bank {
            out.extend_from_slice(p.compress().as_bytes());
        }
        out.extend_from_slice(&c.owner);
        out.extend_from_slice(&self.secrets.to_bytes());
        for x in [self.u, self.v, self.c] {
            out.extend_from_slice(&x.to_bytes());
        }
        out
    }

    /// A stored state.
    pub fn from_bytes(bytes: &[u8]) -> Result<Withdrawal> {
        let bad = || Error::malformed("invalid stored withdrawal");
        if bytes.len() != 32 * 17 {
            return Err(bad());
        }
        let mut points = [G; 9];
        for (p, chunk) in points.iter_mut().zip(bytes.chunks_exact(32)) {
            *p = point(chunk).ok_or_else(bad)?;
        }
        let owner: [u8; 32] = bytes[32 * 9..32 * 10].try_into().expect("32 bytes");
        let secrets = CoinSecrets::from_bytes(&bytes[32 * 10..32 * 14])?;
        let [u, v, c] = scalars::<3>(&bytes[32 * 14..]).ok_or_else(bad)?;
        let [big_a, big_b, z, a, b, identity, bz, ba, bb] = points;
        let signature = CoinSignature { z, a, b, r: Scalar::ZERO };
        Ok(Withdrawal { coin: Coin { big_a, big_b, owner, signature }, secrets, u, v, c, bank: [bz, ba, bb], identity })
    }

    /// Step 4: checks the bank's response `r` (the same `x` behind `H` and `z`) and unblinds it.
    pub fn finish(mut self, bank: &RistrettoPoint, r: &Scalar) -> Result<(Coin, CoinSecrets)> {
        let g2 = generators().1;
        let [z, a, b] = self.bank;
        let honest = r * G == self.c * bank + a && r * (self.identity + g2) == self.c * z + b;
        if !honest {
            return Err(Error::refused("the bank's withdrawal response does not verify"));
        }
        self.coin.signature.r = r * self.u + self.v;
        Ok((self.coin, self.secrets.clone()))
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

/// A point from its canonical 32-byte encoding; the identity element is refused.
pub fn point(bytes: &[u8]) -> Option<RistrettoPoint> {
    let p = curve25519_dalek::ristretto::CompressedRistretto::from_slice(bytes).ok()?.decompress()?;
    (!p.is_identity()).then_some(p)
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
        let (state, c) = Withdrawal::start(account, [bank.account_tag(&identity), a, b], [7; 32]);
        let state = Withdrawal::from_bytes(&state.to_bytes()).unwrap();
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
    fn only_who_knows_u1_proves_her_identity() {
        let alice = AccountSecret::generate();
        let proof = alice.prove(b"bank/alice");
        assert!(proof.verify(&alice.identity(), b"bank/alice"));
        assert!(!proof.verify(&alice.identity(), b"bank/bob"), "bound to its context");
        assert!(!proof.verify(&AccountSecret::generate().identity(), b"bank/alice"), "bound to its identity");
        let (_, g2) = generators();
        let unknown = Scalar::from(5u64) * g2 - g2; // I + G2 = 5·G2: log_G1 I unknown
        let forged = IdentityProof { commitment: proof.commitment, response: proof.response };
        assert!(!forged.verify(&unknown, b"bank/alice"));
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
