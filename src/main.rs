//! The `migrasim` binary: parse arguments, join an MPI job if started by `mpirun`, run, map
//! errors to exit codes. Nothing else.

use clap::Parser;

fn main() {
    let cli = migrasim::cli::Cli::parse();
    std::process::exit(run(cli));
}

/// Runs the command and returns the exit code. MPI, when joined, is finalized on return (the
/// session's drop), before the process exits.
fn run(cli: migrasim::cli::Cli) -> i32 {
    let _session = match migrasim::spread::launch() {
        Ok(session) => session,
        Err(failure) => {
            anstream::eprintln!("error: {}", failure.message);
            return failure.code;
        }
    };
    match migrasim::cli::run(cli) {
        Ok(()) => 0,
        Err(error) => {
            // Printed by hand so users never see a backtrace for bad input (RUST_BACKTRACE=1).
            // In an MPI job every rank knows every failure (inputs are agreed on, units of work
            // report through the gather, the rest is the same computation on every rank), so
            // rank 0 alone prints it.
            // "error:" styled as clap styles its own errors; anstream drops the colour when
            // stderr is not a terminal or NO_COLOR is set (and keeps it with CLICOLOR_FORCE).
            if migrasim::spread::is_root() {
                let style = anstyle::Style::new().bold().fg_color(Some(anstyle::AnsiColor::Red.into()));
                anstream::eprintln!("{style}error:{style:#} {error}");
            }
            error.exit_code()
        }
    }
}
