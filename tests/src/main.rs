//! The program under test: exactly `scaffolder`, built as part of this package.

fn main() -> std::process::ExitCode {
    cli::main_entry()
}
