//! Cryptographic postage indicia (Tygar, "Cryptographic postage indicia"): a secure
//! coprocessor holds the postage registers' key and signs the envelope data; the postal
//! authority certifies meters and sells refills.

pub mod authority;
pub mod barcode;
pub mod coprocessor;
pub mod indicium;
pub mod meter;
pub mod record;
pub mod station;
