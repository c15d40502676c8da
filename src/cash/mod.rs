//! Digital cash (the paper's DigiCash section): blinded coins that reveal a double-spender.
//! Only the cryptographic core is here so far; the bank, the wallet and the recovery protocol
//! that keeps both money atomicity and anonymity are the rest of issue 6.

pub mod brands;
