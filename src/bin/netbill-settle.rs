//! See `atomic_commerce::cli::netbill_settle`.

/// The settler allocates and frees many small JSON values on several threads at once, where
/// mimalloc's per-thread heaps outrun the system allocator (see README.md, *Performance*).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    atomic_commerce::cli::netbill_settle::main()
}
