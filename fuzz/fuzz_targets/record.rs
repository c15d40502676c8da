//! Fuzzes `atomic_commerce::fuzzing::record`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| atomic_commerce::fuzzing::record(data));
