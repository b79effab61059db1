//! `scim-sync`: see the library's documentation and `docs/SYNC.md`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(scim_sync::cli::main(&words, &mut std::io::stdout()))
}
