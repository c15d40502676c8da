//! See `atomic_commerce::cli::cash_bank`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::cash_bank::main()
}
