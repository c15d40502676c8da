//! See `atomic_commerce::cli::indicia_render`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::indicia_render::main()
}
