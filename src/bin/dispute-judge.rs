//! See `atomic_commerce::cli::dispute_judge`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::dispute_judge::main()
}
