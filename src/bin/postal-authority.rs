//! See `atomic_commerce::cli::postal_authority`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::postal_authority::main()
}
