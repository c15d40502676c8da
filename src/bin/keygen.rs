//! See `atomic_commerce::cli::keygen`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::keygen::main()
}
