//! The digital-cash documents (docs/FORMATS.md §11): what customer, merchant and bank send
//! each other. Group elements and scalars are 32-byte canonical encodings in hex.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use serde::{Deserialize, Serialize};

use crate::cash::brands::{self, Coin, CoinSignature};
use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId};
use crate::doc::{Body, Hex, HexBytes, Signed};
use crate::error::{Error, Result};
use crate::money::Amount;

/// A point's document form.
pub fn point_hex(p: &RistrettoPoint) -> Hex<32> {
    Hex(p.compress().to_bytes())
}

/// A scalar's document form.
pub fn scalar_hex(s: &Scalar) -> Hex<32> {
    Hex(s.to_bytes())
}

/// Reads a point, refusing non-canonical encodings and the identity element.
pub fn point(h: &Hex<32>, what: &str) -> Result<RistrettoPoint> {
    brands::point(&h.0).ok_or_else(|| Error::malformed(format!("{what} is not a valid group element")))
}

/// Reads a scalar, refusing non-canonical encodings.
pub fn scalar(h: &Hex<32>, what: &str) -> Result<Scalar> {
    brands::scalar(&h.0).ok_or_else(|| Error::malformed(format!("{what} is not a canonical scalar")))
}

/// One denomination the bank issues: its value and both public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denomination {
    /// The value of one coin.
    pub value: Amount,
    /// Brands public key `H = x·G`.
    pub coin_key: Hex<32>,
    /// RSA public key (SubjectPublicKeyInfo DER) of the refund vouchers of this value.
    pub voucher_key: HexBytes,
}

/// `cash.bank`: the bank's public keys, self-signed; customers and merchants pin this file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankKeys {
    /// The bank's signing identity.
    pub bank: Identity,
    /// The denominations, in increasing value.
    pub denominations: Vec<Denomination>,
    /// How long a withdrawal session stays open, in seconds.
    pub session_seconds: u32,
}

impl Body for BankKeys {
    const TYPE: &'static str = "cash.bank";
    fn check(&self) -> std::result::Result<(), String> {
        if self.denominations.is_empty() {
            return Err("no denominations".into());
        }
        if !self.denominations.windows(2).all(|w| w[0].value < w[1].value) {
            return Err("denominations must be distinct and in increasing order".into());
        }
        if self.denominations.iter().any(|d| d.value == Amount::ZERO) {
            return Err("a denomination of zero".into());
        }
        Ok(())
    }
}

impl BankKeys {
    /// Parses a bank's key document and checks its self-signature.
    pub fn parse(bytes: &[u8]) -> Result<BankKeys> {
        BankKeys::from_document(&Signed::parse(bytes)?)
    }

    /// Checks a parsed key document's self-signature.
    pub fn from_document(doc: &Signed<BankKeys>) -> Result<BankKeys> {
        let claimed = doc.unverified().clone();
        claimed.bank.check_consistent()?;
        doc.verify(&claimed.bank)?;
        Ok(claimed)
    }

    /// The denomination of `value`.
    pub fn denomination(&self, value: Amount) -> Result<&Denomination> {
        self.denominations.iter().find(|d| d.value == value).ok_or_else(|| {
            let known: Vec<String> = self.denominations.iter().map(|d| d.value.to_string()).collect();
            Error::refused(format!(
                "bank {} issues no coin of {value} (it issues {})",
                self.bank.name,
                known.join(", ")
            ))
        })
    }

    /// The Brands public key of `value`.
    pub fn coin_key(&self, value: Amount) -> Result<RistrettoPoint> {
        point(&self.denomination(value)?.coin_key, "the bank's coin key")
    }
}

/// `cash.registration`: a customer binds her Brands identity `I = u1·G1` to her signing key.
/// The bank keeps it; a double-spending proof quotes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The bank (key id).
    pub bank: KeyId,
    /// The customer's identity document.
    pub customer: Identity,
    /// `I = u1·G1`.
    pub identity: Hex<32>,
    /// Proof of knowledge of `u1`: the commitment `R = k·G1`.
    pub proof_commitment: Hex<32>,
    /// Proof of knowledge of `u1`: the response `z = k + e·u1`.
    pub proof_response: Hex<32>,
}

impl Body for Registration {
    const TYPE: &'static str = "cash.registration";
}

impl Registration {
    /// The context the proof of knowledge is bound to: the bank's and the customer's key ids.
    pub fn proof_context(bank: KeyId, customer: KeyId) -> Vec<u8> {
        [b"atomic-commerce/cash/registration\0".as_slice(), &bank.0, &customer.0].concat()
    }

    /// A registration of `secret`'s identity by `customer` at `bank`, with its proof.
    pub fn new(bank: KeyId, customer: Identity, secret: &brands::AccountSecret) -> Registration {
        let proof = secret.prove(&Registration::proof_context(bank, customer.key_id));
        Registration {
            bank,
            customer,
            identity: point_hex(&secret.identity()),
            proof_commitment: point_hex(&proof.commitment),
            proof_response: scalar_hex(&proof.response),
        }
    }

    /// The registered identity, once its proof of knowledge checks.
    pub fn checked_identity(&self) -> Result<RistrettoPoint> {
        let identity = point(&self.identity, "the registered identity")?;
        let proof = brands::IdentityProof {
            commitment: point(&self.proof_commitment, "the proof's commitment")?,
            response: scalar(&self.proof_response, "the proof's response")?,
        };
        if !proof.verify(&identity, &Registration::proof_context(self.bank, self.customer.key_id)) {
            return Err(Error::refused("the registration does not prove knowledge of the identity's secret"));
        }
        Ok(identity)
    }
}

/// `cash.withdrawal-request`: the customer asks for one coin (signed by her account key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalRequest {
    /// The bank.
    pub bank: KeyId,
    /// A random session id chosen by the customer: retries name it again.
    pub session: Hex<16>,
    /// The coin's value.
    pub denomination: Amount,
}

impl Body for WithdrawalRequest {
    const TYPE: &'static str = "cash.withdrawal-request";
}

/// `cash.withdrawal-commitment`: the bank's first move, `a = w·G`, `b = w·(I + G2)`,
/// `z = x·(I + G2)`, open until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalCommitment {
    /// The session.
    pub session: Hex<16>,
    /// The account (key id).
    pub account: KeyId,
    /// The coin's value.
    pub denomination: Amount,
    /// `z`.
    pub z: Hex<32>,
    /// `a`.
    pub a: Hex<32>,
    /// `b`.
    pub b: Hex<32>,
    /// The session closes unanswered at this time.
    pub expires: Time,
}

impl Body for WithdrawalCommitment {
    const TYPE: &'static str = "cash.withdrawal-commitment";
}

/// `cash.withdrawal-challenge`: the customer's blinded challenge `c` (signed by her account key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalChallenge {
    /// The bank.
    pub bank: KeyId,
    /// The session.
    pub session: Hex<16>,
    /// `c`.
    pub c: Hex<32>,
}

impl Body for WithdrawalChallenge {
    const TYPE: &'static str = "cash.withdrawal-challenge";
}

/// `cash.withdrawal-response`: the bank's answer `r = c·x + w`; the account has been debited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalResponse {
    /// The session.
    pub session: Hex<16>,
    /// The challenge answered.
    pub c: Hex<32>,
    /// `r`.
    pub r: Hex<32>,
}

impl Body for WithdrawalResponse {
    const TYPE: &'static str = "cash.withdrawal-response";
}

/// A coin's document form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinDoc {
    /// The coin's value (which bank key signed it).
    pub denomination: Amount,
    /// `A`: also the coin's id.
    #[serde(rename = "A")]
    pub big_a: Hex<32>,
    /// `B`.
    #[serde(rename = "B")]
    pub big_b: Hex<32>,
    /// The owner's Ed25519 public key.
    pub owner: Hex<32>,
    /// `z'`.
    pub z: Hex<32>,
    /// `a'`.
    pub a: Hex<32>,
    /// `b'`.
    pub b: Hex<32>,
    /// `r'`.
    pub r: Hex<32>,
}

impl CoinDoc {
    /// The document form of a coin.
    pub fn of(denomination: Amount, coin: &Coin) -> CoinDoc {
        let s = &coin.signature;
        CoinDoc {
            denomination,
            big_a: point_hex(&coin.big_a),
            big_b: point_hex(&coin.big_b),
            owner: Hex(coin.owner),
            z: point_hex(&s.z),
            a: point_hex(&s.a),
            b: point_hex(&s.b),
            r: scalar_hex(&s.r),
        }
    }

    /// The coin, its encodings checked and its signature verified against `bank`.
    pub fn verify(&self, bank: &BankKeys) -> Result<Coin> {
        let key = bank.coin_key(self.denomination)?;
        let coin = Coin {
            big_a: point(&self.big_a, "the coin's A")?,
            big_b: point(&self.big_b, "the coin's B")?,
            owner: self.owner.0,
            signature: CoinSignature {
                z: point(&self.z, "the coin's z")?,
                a: point(&self.a, "the coin's a")?,
                b: point(&self.b, "the coin's b")?,
                r: scalar(&self.r, "the coin's r")?,
            },
        };
        coin.verify(&key).map_err(|_| {
            Error::refused(format!(
                "coin {} is not signed by bank {} (forged, altered, or another bank's)",
                self.big_a, bank.bank.name
            ))
        })?;
        Ok(coin)
    }
}

/// `cash.payment-request`: a merchant asks for `price` for an order, payable to his bank
/// account and depositable until `deadline`; after it, unspent coins are refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The merchant.
    pub merchant: Identity,
    /// His bank.
    pub bank: KeyId,
    /// The order id, unique per merchant.
    pub order: String,
    /// What is sold.
    pub description: String,
    /// The price.
    pub price: Amount,
    /// The deposit deadline `T_dep`.
    pub deadline: Time,
}

impl Body for PaymentRequest {
    const TYPE: &'static str = "cash.payment-request";
    fn check(&self) -> std::result::Result<(), String> {
        if self.order.is_empty() || self.order.len() > 128 {
            return Err("the order id must have 1 to 128 bytes".into());
        }
        if self.price == Amount::ZERO {
            return Err("a price of zero".into());
        }
        Ok(())
    }
}

/// Who a coin's answer pays, for which order, until when: the inputs of the challenge
/// `d = H0(A, B, payee, order, deadline)` besides the coin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    /// The payee's key id (a merchant, or the bank itself for a return).
    pub payee: KeyId,
    /// The order id.
    pub order: String,
    /// The deadline.
    pub deadline: Time,
}

impl Intent {
    /// The challenge `d` for `coin`.
    pub fn challenge(&self, coin: &Coin) -> Scalar {
        brands::payment_challenge(coin, &self.payee.0, self.order.as_bytes(), self.deadline.to_string().as_bytes())
    }
}

/// One coin spent: the coin, the intent, and the answer `(r1, r2)` to its challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spend {
    /// The coin.
    pub coin: CoinDoc,
    /// What the answer is for.
    pub intent: Intent,
    /// `r1 = d·u1·s + x1`.
    pub r1: Hex<32>,
    /// `r2 = d·s + x2`.
    pub r2: Hex<32>,
}

/// A spend whose coin and answer have been checked.
pub struct CheckedSpend {
    /// The coin.
    pub coin: Coin,
    /// The challenge.
    pub d: Scalar,
    /// The answer.
    pub r1: Scalar,
    /// The answer.
    pub r2: Scalar,
}

impl Spend {
    /// Verifies the coin under `bank` and the answer to the intent's challenge.
    pub fn check(&self, bank: &BankKeys) -> Result<CheckedSpend> {
        let coin = self.coin.verify(bank)?;
        let d = self.intent.challenge(&coin);
        let r1 = scalar(&self.r1, "r1")?;
        let r2 = scalar(&self.r2, "r2")?;
        if !brands::check_payment(&coin, &d, &r1, &r2) {
            return Err(Error::refused(format!("coin {}: the payment answer does not verify", self.coin.big_a)));
        }
        Ok(CheckedSpend { coin, d, r1, r2 })
    }
}

/// `cash.payment`: what the customer hands the merchant (anonymous: nobody signs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// The merchant's request being paid.
    pub request: Signed<PaymentRequest>,
    /// The coins, each answering the request's challenge.
    pub coins: Vec<Spend>,
}

impl Body for Payment {
    const TYPE: &'static str = "cash.payment";
    fn check(&self) -> std::result::Result<(), String> {
        if self.coins.is_empty() {
            return Err("no coins".into());
        }
        Ok(())
    }
}

/// `cash.payment-ack`: the merchant has accepted a payment (signed by him).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentAck {
    /// The order.
    pub order: String,
    /// SHA-256 of the payment document's canonical encoding.
    pub payment: Hex<32>,
    /// The coins accepted (their `A`).
    pub coins: Vec<Hex<32>>,
    /// When.
    pub at: Time,
}

impl Body for PaymentAck {
    const TYPE: &'static str = "cash.payment-ack";
}

/// `cash.deposit`: a merchant deposits spends paid to him (signed by him).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deposit {
    /// The bank.
    pub bank: KeyId,
    /// The spends.
    pub spends: Vec<Spend>,
}

impl Body for Deposit {
    const TYPE: &'static str = "cash.deposit";
    fn check(&self) -> std::result::Result<(), String> {
        if self.spends.is_empty() {
            return Err("no spends".into());
        }
        Ok(())
    }
}

/// What the bank did with one deposited or returned coin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoinOutcome {
    /// Credited now.
    Credited,
    /// Credited earlier by this very transcript (a retry): not credited again.
    AlreadyCredited,
    /// Refused: the deadline had passed, or the coin was refunded to its owner after it.
    Late,
    /// Refused: the coin was spent before with another challenge; its spender is identified.
    DoubleSpent,
}

/// One coin's line in a deposit receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinResult {
    /// The coin (`A`).
    pub coin: Hex<32>,
    /// Its value.
    pub value: Amount,
    /// The outcome.
    pub outcome: CoinOutcome,
}

/// `cash.deposit-receipt`: the bank's answer to a deposit or a return (signed by the bank).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositReceipt {
    /// The account credited (key id).
    pub account: KeyId,
    /// SHA-256 of the deposit (or return) document.
    pub deposit: Hex<32>,
    /// One line per coin, in the deposit's order.
    pub coins: Vec<CoinResult>,
    /// The total credited by this deposit (its first acceptance).
    pub credited: Amount,
    /// When the bank first answered this deposit.
    pub at: Time,
}

impl Body for DepositReceipt {
    const TYPE: &'static str = "cash.deposit-receipt";
}

/// `cash.refund-claim`: the coin's owner, after the deadline, presents the very spend she made
/// and asks for a blind voucher of the coin's value (signed by the coin's owner key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundClaim {
    /// The bank.
    pub bank: KeyId,
    /// The spend (same coin, intent and answer as given to the merchant).
    pub spend: Spend,
    /// The blinded voucher message (RFC 9474).
    pub blinded: HexBytes,
}

impl Body for RefundClaim {
    const TYPE: &'static str = "cash.refund-claim";
}

/// The state of a claimed coin at the bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status", deny_unknown_fields)]
pub enum RefundStatus {
    /// The payee deposited this very spend: the payment went through.
    Deposited {
        /// The payee's account.
        payee: KeyId,
        /// When.
        at: Time,
    },
    /// Nothing was deposited before the deadline: the blind voucher signature.
    Refunded {
        /// The blind signature on the claim's blinded message.
        blind_signature: HexBytes,
    },
    /// The deadline has not passed: the payee may still deposit. Ask again after it.
    Pending {
        /// The deadline.
        deadline: Time,
    },
}

/// `cash.refund-answer`: the bank's answer to a refund claim (signed by the bank).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundAnswer {
    /// The coin (`A`).
    pub coin: Hex<32>,
    /// SHA-256 of the claim answered.
    pub claim: Hex<32>,
    /// The coin's state.
    pub result: RefundStatus,
}

impl Body for RefundAnswer {
    const TYPE: &'static str = "cash.refund-answer";
}

/// A voucher's document form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoucherDoc {
    /// Its value.
    pub denomination: Amount,
    /// The serial number.
    pub serial: Hex<32>,
    /// The RFC 9474 message randomizer.
    pub randomizer: Hex<32>,
    /// The RSA signature.
    pub signature: HexBytes,
}

/// `cash.redemption`: a customer cashes vouchers into her account (signed by her account key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redemption {
    /// The bank.
    pub bank: KeyId,
    /// The vouchers.
    pub vouchers: Vec<VoucherDoc>,
}

impl Body for Redemption {
    const TYPE: &'static str = "cash.redemption";
    fn check(&self) -> std::result::Result<(), String> {
        if self.vouchers.is_empty() {
            return Err("no vouchers".into());
        }
        Ok(())
    }
}

/// `cash.redemption-receipt` (signed by the bank).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedemptionReceipt {
    /// The account credited.
    pub account: KeyId,
    /// The serials redeemed.
    pub serials: Vec<Hex<32>>,
    /// The total credited.
    pub credited: Amount,
}

impl Body for RedemptionReceipt {
    const TYPE: &'static str = "cash.redemption-receipt";
}

/// `cash.return`: the paper's way back for an unspent coin: the customer deposits it into her
/// own account, answering a fresh challenge (signed by her account key). If the coin had in
/// fact reached a merchant, this second answer identifies her as a double-spender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Return {
    /// The bank.
    pub bank: KeyId,
    /// The coins, each answering the challenge of a return intent (payee: the bank).
    pub spends: Vec<Spend>,
}

impl Body for Return {
    const TYPE: &'static str = "cash.return";
    fn check(&self) -> std::result::Result<(), String> {
        if self.spends.is_empty() {
            return Err("no coins".into());
        }
        Ok(())
    }
}

/// `cash.double-spend`: two answers of one coin to different challenges, and the registration
/// of the customer they identify (signed by the bank, checkable by anyone from its content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoubleSpend {
    /// The first spend the bank saw.
    pub first: Spend,
    /// The second.
    pub second: Spend,
    /// The identified customer's registration, signed by her.
    pub registration: Signed<Registration>,
    /// When the bank saw the second.
    pub at: Time,
}

impl Body for DoubleSpend {
    const TYPE: &'static str = "cash.double-spend";
}

/// `cash.double-spender`: what checking a double-spending proof establishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identified {
    /// The coin.
    pub coin: Hex<32>,
    /// The customer's name.
    pub customer: String,
    /// Her signing key id.
    pub key_id: KeyId,
    /// Her Brands identity `I`.
    pub identity: Hex<32>,
}

impl DoubleSpend {
    /// Checks the proof from its content alone: one coin signed by `bank`, two valid answers to
    /// different challenges, `u1 = Δr1/Δr2` with `u1·G1` the registered identity, and the
    /// registration signed by the customer it names.
    pub fn check(&self, bank: &BankKeys) -> Result<Identified> {
        if self.first.coin != self.second.coin {
            return Err(Error::refused("the two spends are of different coins"));
        }
        let (a, b) = (self.first.check(bank)?, self.second.check(bank)?);
        let identity = brands::identify(&a.coin, (a.d, a.r1, a.r2), (b.d, b.r1, b.r2))
            .ok_or_else(|| Error::refused("the two spends answer the same challenge: a replay, not a double spend"))?;
        let customer = &self.registration.unverified().customer;
        customer.check_consistent()?;
        let registration = self.registration.verify(customer)?;
        if registration.bank != bank.bank.key_id {
            return Err(Error::refused("the registration is with another bank"));
        }
        registration.checked_identity()?;
        if point_hex(&identity) != registration.identity {
            return Err(Error::refused("the identity the spends reveal is not the registered one"));
        }
        Ok(Identified {
            coin: self.first.coin.big_a,
            customer: registration.customer.name.clone(),
            key_id: registration.customer.key_id,
            identity: registration.identity,
        })
    }
}

impl Body for CoinDoc {
    const TYPE: &'static str = "cash.coin";
}

impl Body for Identified {
    const TYPE: &'static str = "cash.double-spender";
}
