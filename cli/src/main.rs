//! The `scaffolder` binary (see the `cli` library for what it does).

fn main() -> std::process::ExitCode {
    cli::main_entry()
}
