//! The `migrasim` binary: parse arguments, run, map errors to exit codes. Nothing else.

use clap::Parser;

fn main() {
    let cli = migrasim::cli::Cli::parse();
    if let Err(error) = migrasim::cli::run(cli) {
        // Printed by hand so users never see a backtrace for bad input (RUST_BACKTRACE=1).
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
}
