//! See `atomic_commerce::cli::meter`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::meter::main()
}
