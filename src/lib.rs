//! atomic-commerce: the protocols of J. D. Tygar's "Atomicity in Electronic Commerce"
//! (NetBill, cryptographic postage indicia, digital cash) as a library of pure protocol
//! steps over typed documents, and the thin command-line tools built on it.
//!
//! See docs/ARCHITECTURE.md for the map and docs/FORMATS.md for every document.

pub mod cash;
pub mod cli;
pub mod clock;
pub mod crypto;
pub mod doc;
pub mod error;
pub mod fsio;
pub mod fuzzing;
pub mod lab;
pub mod ledger;
pub mod money;
pub mod netbill;
pub mod postage;

pub use error::{Error, ErrorKind, Result};
