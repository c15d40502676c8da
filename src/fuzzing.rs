//! Entry points for fuzzing: every parser of untrusted input, each taking arbitrary bytes.
//!
//! `fuzz/` (its own workspace, for cargo-fuzz) calls these; `tests/fuzzing.rs` runs them on the
//! committed seed corpora and on many mutations of them under the stable toolchain. None may
//! panic, whatever the input; errors are the normal answer.

use crate::cash::docs as cash;
use crate::doc::{Plain, Signed};
use crate::ledger::{self, journal, unwind};
use crate::netbill::{delivery, epo, judge, offer, receipt, recovery};
use crate::postage::{authority, indicium, meter};

/// Every document type, parsed strictly (signed, plain, identity, bank keys, evidence pieces).
pub fn documents(bytes: &[u8]) {
    let _ = Signed::<crate::crypto::keys::Identity>::parse(bytes);
    let _ = crate::crypto::keys::Identity::parse(bytes);
    let _ = Signed::<offer::Offer>::parse(bytes);
    let _ = Signed::<delivery::DeliveryNote>::parse(bytes);
    let _ = Signed::<epo::Epo>::parse(bytes);
    let _ = Signed::<epo::EndorsedEpo>::parse(bytes);
    let _ = Signed::<epo::EndorsedEpo>::parse_as_evidence(bytes);
    let _ = Signed::<receipt::Receipt>::parse(bytes);
    let _ = Signed::<journal::Entry>::parse(bytes);
    let _ = Plain::<unwind::Plan>::parse(bytes);
    let _ = Plain::<ledger::Statement>::parse(bytes);
    let _ = Plain::<ledger::AuditReport>::parse(bytes);
    let _ = Signed::<recovery::KeyRequest>::parse(bytes);
    let _ = Plain::<recovery::KeyAnswer>::parse(bytes);
    let _ = Plain::<judge::Evidence>::parse(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = judge::check_piece(text);
    }
    let _ = offer::Catalog::parse(bytes);
    let _ = Signed::<authority::CertificateRequest>::parse(bytes);
    let _ = Signed::<authority::MeterCertificate>::parse(bytes);
    let _ = Signed::<authority::Voucher>::parse(bytes);
    let _ = Signed::<indicium::Indicium>::parse(bytes);
    let _ = serde_json::from_slice::<indicium::Envelope>(bytes);
    let _ = Plain::<meter::Status>::parse(bytes);
    let _ = cash::BankKeys::parse(bytes);
    let _ = Signed::<cash::Registration>::parse(bytes).map(|r| r.unverified().checked_identity().is_ok());
    let _ = Signed::<cash::WithdrawalRequest>::parse(bytes);
    let _ = Signed::<cash::WithdrawalCommitment>::parse(bytes);
    let _ = Signed::<cash::WithdrawalChallenge>::parse(bytes);
    let _ = Signed::<cash::WithdrawalResponse>::parse(bytes);
    let _ = Signed::<cash::PaymentRequest>::parse(bytes);
    let _ = Plain::<cash::Payment>::parse(bytes);
    let _ = Signed::<cash::Deposit>::parse(bytes);
    let _ = Signed::<cash::RefundClaim>::parse(bytes);
    let _ = Signed::<cash::Redemption>::parse(bytes);
    let _ = Signed::<cash::DoubleSpend>::parse(bytes);
}

/// The compact binary record printed in an indicium's barcode.
pub fn record(bytes: &[u8]) {
    if let Ok(record) = crate::postage::record::decode(bytes) {
        let _ = crate::postage::record::encode(&record.signed(crate::crypto::keys::KeyId([0; 8])));
    }
}

/// An NDJSON stream of documents, each value parsed as an endorsed EPO.
pub fn ndjson(bytes: &[u8]) {
    for raw in crate::doc::stream(bytes).take(1000) {
        match raw {
            Ok(raw) => {
                let _ = Signed::<epo::EndorsedEpo>::parse(raw.get().as_bytes());
            }
            Err(_) => break,
        }
    }
}

/// The text forms of amounts, times, days, durations and key ids.
pub fn values(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let _ = text.parse::<crate::money::Amount>();
    let _ = text.parse::<crate::money::SignedAmount>();
    let _ = text.parse::<crate::clock::Time>();
    let _ = text.parse::<crate::clock::Day>();
    let _ = crate::clock::parse_duration(text);
    let _ = text.parse::<crate::crypto::keys::KeyId>();
    let _ = text.parse::<crate::netbill::delivery::EpoId>();
}
