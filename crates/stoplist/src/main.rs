//! The `stoplist` binary: parses the command line and hands over to [`stoplist::cli`].

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    stoplist::cli::main()
}
