//! See `atomic_commerce::cli::merchant_offer`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::merchant_offer::main()
}
