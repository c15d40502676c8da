//! NetBill (Cox, Tygar & Sirbu 1995): money atomicity, goods atomicity and certified
//! delivery. Each module is one step of the eight-message protocol, as pure functions over
//! typed documents; the merchant's records live in [`merchant_store`], the server's in
//! [`crate::ledger`].

pub mod batch;
pub mod delivery;
pub mod epo;
pub mod judge;
pub mod merchant_store;
pub mod offer;
pub mod receipt;
pub mod recovery;
pub mod settle;
