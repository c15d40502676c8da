//! The indicium as printed: a compact, versioned binary record (about 150 bytes with the
//! 64-byte signature), small enough for an envelope corner as real indicia are.
//!
//! Layout, big-endian, every field fixed or length-prefixed, nothing after the signature:
//!
//! ```text
//! version u8 = 1 | algorithm u8 = 1 (Ed25519) | certificate serial u32
//! | meter id (u8 length, ASCII) | sequence u32 | ascending u64 | descending u64 (micro-units)
//! | postage u32 (micro-units) | date of mailing u16 (days since 1970-01-01)
//! | origin postal code (u8 length, ASCII) | destination postal code (u8 length, ASCII)
//! | recipient digest [32] | rate category (u8 length, ASCII) | Ed25519 signature [64]
//! ```
//!
//! The record carries every field of the `postage.indicium` body, so decoding rebuilds the
//! signed document exactly; the signature is checked over that document's canonical bytes,
//! with the key id taken from the meter's certificate (found by meter id and serial).

use crate::clock::Day;
use crate::crypto::keys::KeyId;
use crate::doc::{Hex, Signed};
use crate::error::{Error, Result};
use crate::money::Amount;
use crate::postage::indicium::Indicium;

/// The record format version.
pub const VERSION: u8 = 1;
const ED25519: u8 = 1;

fn too_large(what: &str) -> Error {
    Error::refused(format!("the indicium's {what} does not fit the compact record"))
}

fn put_text(out: &mut Vec<u8>, text: &str, what: &str) -> Result<()> {
    if !text.is_ascii() || text.is_empty() {
        return Err(Error::malformed(format!("the indicium's {what} must be non-empty ASCII")));
    }
    out.push(u8::try_from(text.len()).map_err(|_| too_large(what))?);
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// Encodes a signed indicium as its compact record.
pub fn encode(indicium: &Signed<Indicium>) -> Result<Vec<u8>> {
    let i = indicium.unverified();
    if i.algorithm != "ed25519" {
        return Err(Error::malformed(format!("algorithm {:?} has no record encoding", i.algorithm)));
    }
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(&[VERSION, ED25519]);
    out.extend_from_slice(
        &u32::try_from(i.certificate_serial).map_err(|_| too_large("certificate serial"))?.to_be_bytes(),
    );
    put_text(&mut out, &i.meter_id, "meter id")?;
    out.extend_from_slice(&u32::try_from(i.sequence).map_err(|_| too_large("sequence number"))?.to_be_bytes());
    out.extend_from_slice(&i.ascending.micros().to_be_bytes());
    out.extend_from_slice(&i.descending.micros().to_be_bytes());
    out.extend_from_slice(&u32::try_from(i.postage.micros()).map_err(|_| too_large("postage"))?.to_be_bytes());
    out.extend_from_slice(&i.date.epoch_days().ok_or_else(|| too_large("date"))?.to_be_bytes());
    put_text(&mut out, &i.origin_postal_code, "origin postal code")?;
    put_text(&mut out, &i.destination_postal_code, "destination postal code")?;
    out.extend_from_slice(&i.recipient_sha256.0);
    put_text(&mut out, &i.rate_category, "rate category")?;
    out.extend_from_slice(&indicium.signature().ed25519.0);
    Ok(out)
}

/// A record read field by field; every read fails cleanly on truncated input.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(Error::malformed("the record is truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn text(&mut self, what: &str) -> Result<String> {
        let len = self.array::<1>()?[0];
        let bytes = self.take(usize::from(len))?;
        if len == 0 || !bytes.is_ascii() {
            return Err(Error::malformed(format!("the record's {what} is not non-empty ASCII")));
        }
        Ok(String::from_utf8(bytes.to_vec()).expect("ASCII is UTF-8"))
    }

    fn amount(&mut self, micros: u64, what: &str) -> Result<Amount> {
        Amount::from_micros(micros).ok_or_else(|| Error::malformed(format!("the record's {what} is out of range")))
    }
}

/// A decoded record: the indicium's body (whose meter id and serial select the certificate)
/// and the signature; [`Record::signed`] rebuilds the signed document once the certificate
/// gives the key id.
pub struct Record {
    /// The indicium's body, exactly as signed.
    pub body: Indicium,
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

impl Record {
    /// The signed indicium, signed by the key `key_id` (from the meter's certificate).
    pub fn signed(self, key_id: KeyId) -> Signed<Indicium> {
        Signed::from_parts(self.body, key_id, self.signature)
    }
}

/// Decodes a record; rejects unknown versions or algorithms, bad lengths and trailing bytes.
pub fn decode(bytes: &[u8]) -> Result<Record> {
    let mut r = Reader { bytes };
    let [version, algorithm] = r.array::<2>()?;
    if version != VERSION {
        return Err(Error::malformed(format!("record version {version} is not supported")));
    }
    if algorithm != ED25519 {
        return Err(Error::malformed(format!("record algorithm {algorithm} is not supported")));
    }
    let certificate_serial = u64::from(u32::from_be_bytes(r.array()?));
    let meter_id = r.text("meter id")?;
    let sequence = u64::from(u32::from_be_bytes(r.array()?));
    let ascending = u64::from_be_bytes(r.array()?);
    let ascending = r.amount(ascending, "ascending register")?;
    let descending = u64::from_be_bytes(r.array()?);
    let descending = r.amount(descending, "descending register")?;
    let postage = u64::from(u32::from_be_bytes(r.array()?));
    let postage = r.amount(postage, "postage")?;
    let date = Day::from_epoch_days(u16::from_be_bytes(r.array()?));
    let origin_postal_code = r.text("origin postal code")?;
    let destination_postal_code = r.text("destination postal code")?;
    let recipient_sha256 = Hex(r.array()?);
    let rate_category = r.text("rate category")?;
    let signature = r.array::<64>()?;
    if !r.bytes.is_empty() {
        return Err(Error::malformed(format!("{} bytes after the signature", r.bytes.len())));
    }
    let body = Indicium {
        algorithm: "ed25519".into(),
        meter_id,
        certificate_serial,
        sequence,
        ascending,
        descending,
        postage,
        date,
        origin_postal_code,
        destination_postal_code,
        recipient_sha256,
        rate_category,
    };
    Ok(Record { body, signature })
}
