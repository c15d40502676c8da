//! See `atomic_commerce::cli::goods_decrypt`.
fn main() -> std::process::ExitCode {
    atomic_commerce::cli::goods_decrypt::main()
}
