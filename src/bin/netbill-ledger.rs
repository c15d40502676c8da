//! See `atomic_commerce::cli::netbill_ledger`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::netbill_ledger::main()
}
