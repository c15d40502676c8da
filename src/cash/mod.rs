//! Digital cash (the paper's DigiCash section): blinded coins that reveal a double-spender,
//! and a recovery from a failed payment that keeps both money atomicity and anonymity.
//!
//! [`brands`] is the cryptography; [`docs`] the documents the parties exchange; [`bank`],
//! [`wallet`] and [`merchant`] the three parties, each on its own SQLite file ([`store`]);
//! [`voucher`] the blind refund vouchers.

pub mod bank;
pub mod brands;
pub mod docs;
pub mod merchant;
pub mod store;
pub mod voucher;
pub mod wallet;
