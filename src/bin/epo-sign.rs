//! See `atomic_commerce::cli::epo_sign`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::epo_sign::main()
}
