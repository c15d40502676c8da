//! See `atomic_commerce::cli::cash_spend`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::cash_spend::main()
}
