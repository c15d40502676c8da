//! See `atomic_commerce::cli::merchant_record`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::merchant_record::main()
}
