//! See `atomic_commerce::cli::cash_merchant`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::cash_merchant::main()
}
