//! See `atomic_commerce::cli::netbill_settle`.

/// The settler allocates and frees many small JSON values on several threads at once, where
/// mimalloc's per-thread heaps outrun the system allocator (see README.md, *Performance*).
/// It is built without transparent huge pages: on a virtual machine each first touch of a
/// 2 MiB page cost milliseconds of zeroing, about a tenth of the settler's CPU in a profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    atomic_commerce::cli::netbill_settle::main()
}
