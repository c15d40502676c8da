//! See `atomic_commerce::cli::key_fetch`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::key_fetch::main()
}
