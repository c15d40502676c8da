//! See `atomic_commerce::cli::netbill_settle`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::netbill_settle::main()
}
