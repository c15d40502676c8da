//! The indicium: the envelope data the meter signs (the paper: sender and receiver address,
//! date sent, sequence number), with the registers, so a sorting station can check it.

use serde::{Deserialize, Serialize};

use crate::clock::Day;
use crate::doc::{Body, Hex};
use crate::error::{Error, Result};
use crate::money::Amount;

/// What the mailer asks the meter to print (plain JSON, written by people).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The sender (return address), if given: not in the indicium, which names the meter's
    /// licensed origin instead, but kept in the meter's log with the piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The recipient's address, as written on the envelope (lines separated by newlines).
    pub recipient: String,
    /// The destination postal code.
    pub destination_postal_code: String,
    /// The postage to print.
    pub postage: Amount,
    /// The date of mailing.
    pub date: Day,
    /// The rate category, e.g. `letter`.
    pub rate_category: String,
}

/// The body of a `postage.indicium`, signed inside the meter's coprocessor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicium {
    /// Signature algorithm (`ed25519`).
    pub algorithm: String,
    /// The meter.
    pub meter_id: String,
    /// Serial number of the meter's certificate.
    pub certificate_serial: u64,
    /// The piece's sequence number (the meter's piece count after printing it).
    pub sequence: u64,
    /// Ascending register after this piece: postage used since the meter entered service.
    pub ascending: Amount,
    /// Descending register after this piece: postage still available.
    pub descending: Amount,
    /// Postage of this piece.
    pub postage: Amount,
    /// Date of mailing.
    pub date: Day,
    /// Origin postal code (the meter's licensed location).
    pub origin_postal_code: String,
    /// Destination postal code.
    pub destination_postal_code: String,
    /// SHA-256 of the normalized recipient address (see [`address_digest`]).
    pub recipient_sha256: Hex<32>,
    /// Rate category.
    pub rate_category: String,
}

impl Body for Indicium {
    const TYPE: &'static str = "postage.indicium";
}

/// An address in the form compared at sorting: Unicode compatibility-composed (NFKC, so an
/// accent typed or scanned as a separate mark compares alike), letters upper-cased (all
/// scripts: `"Musée"` and `"MUSÉE"` alike), every character that is not a letter or digit
/// turned into a space, runs of spaces collapsed, trimmed. `"12 Main St.,\n Pittsburgh"` and
/// `"12 MAIN ST PITTSBURGH"` normalize alike.
pub fn normalize_address(address: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mapped: String =
        address.nfkc().flat_map(char::to_uppercase).map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SHA-256 of `"atomic-commerce address v1" 0x00 ‖ normalize_address(address)`.
pub fn address_digest(address: &str) -> Hex<32> {
    normalized_digest(&normalize_address(address))
}

/// [`address_digest`] of an address already in normal form.
fn normalized_digest(normalized: &str) -> Hex<32> {
    let mut bytes = b"atomic-commerce address v1\0".to_vec();
    bytes.extend_from_slice(normalized.as_bytes());
    crate::crypto::sha256(&bytes)
}

/// Whether the address read at sorting is the one `indicium` was printed for: its digest
/// matches, the sorter's reading in normal form, or that reading less a trailing postal code
/// equal to the indicium's destination (sorters read the postal code with the address; the
/// envelope's recipient text may leave it out).
pub fn address_matches(read: &str, indicium: &Indicium) -> bool {
    let read = normalize_address(read);
    let code = normalize_address(&indicium.destination_postal_code);
    let without_code = read.strip_suffix(&code).filter(|rest| rest.ends_with(' ')).map(str::trim_end);
    [Some(read.as_str()), without_code].into_iter().flatten().any(|a| normalized_digest(a) == indicium.recipient_sha256)
}

/// Checks a postal code: 1–16 ASCII letters, digits, spaces or hyphens, starting with a
/// letter or digit.
pub fn check_postal_code(code: &str) -> Result<()> {
    let ok = code.len() <= 16
        && code.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b" -".contains(&b));
    if ok { Ok(()) } else { Err(Error::malformed(format!("invalid postal code {code:?}"))) }
}

impl Envelope {
    /// Parses and checks an envelope description.
    pub fn parse(bytes: &[u8]) -> Result<Envelope> {
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| Error::malformed(format!("invalid envelope: {e}")))?;
        check_postal_code(&envelope.destination_postal_code)?;
        if normalize_address(&envelope.recipient).is_empty() {
            return Err(Error::malformed("the envelope has no recipient address"));
        }
        if envelope.sender.as_deref().is_some_and(|s| normalize_address(s).is_empty()) {
            return Err(Error::malformed("the envelope's sender is empty (leave it out instead)"));
        }
        if envelope.postage == Amount::ZERO {
            return Err(Error::malformed("the postage must be greater than zero"));
        }
        let category = &envelope.rate_category;
        if category.is_empty()
            || category.len() > 32
            || !category.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(Error::malformed("the rate category must be 1-32 ASCII letters, digits, '-' or '_'"));
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalize_alike() {
        assert_eq!(normalize_address("12 Main St.,\n  Pittsburgh, PA"), "12 MAIN ST PITTSBURGH PA");
        assert_eq!(address_digest("12 main st pittsburgh pa"), address_digest("12 Main St.,\nPittsburgh, PA"));
        assert_ne!(address_digest("12 Main St"), address_digest("13 Main St"));
    }

    #[test]
    fn every_script_is_upper_cased_and_accents_compare_composed() {
        assert_eq!(normalize_address("Musée du Louvre\nParis"), "MUSÉE DU LOUVRE PARIS");
        assert_eq!(address_digest("MUSÉE DU LOUVRE, PARIS"), address_digest("muse\u{301}e du louvre paris"));
        assert_eq!(normalize_address("Straße 5, Köln"), "STRASSE 5 KÖLN");
    }
}
