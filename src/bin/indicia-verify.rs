//! See `atomic_commerce::cli::indicia_verify`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::indicia_verify::main()
}
