//! See `atomic_commerce::cli::cash_withdraw`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::cash_withdraw::main()
}
