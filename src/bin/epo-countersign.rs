//! See `atomic_commerce::cli::epo_countersign`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::epo_countersign::main()
}
