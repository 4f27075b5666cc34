//! The `stoplist` binary: parses the command line and hands over to [`stoplist::cli`].

fn main() -> std::process::ExitCode {
    stoplist::cli::main()
}
