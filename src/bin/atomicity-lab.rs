//! See `atomic_commerce::cli::atomicity_lab`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::atomicity_lab::main()
}
