//! See `atomic_commerce::cli::goods_encrypt`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::goods_encrypt::main()
}
