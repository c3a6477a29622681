//! The `dotation` binary: see [`dotation_server::cli`].

fn main() -> std::process::ExitCode {
    dotation_server::cli::main()
}
