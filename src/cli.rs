//! Command-line interface: arguments parsed once into typed values, errors mapped to exit codes
//! (0 success, 2 bad input, 1 anything else). CLI types stay in this module.

use crate::engine::{Plan, Simulation};
use crate::geo::Geography;
use crate::household::Household;
use crate::report::{self, RunOutput};
use crate::scenario::{self, MAX_HOUSEHOLDS, ScenarioError};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(
    name = "migrasim",
    version,
    about = "Agent-based simulator of China's rural-to-urban migration under the 2024–2029 new-urbanization action plan",
    after_help = "Examples:\n  migrasim run scenarios/baseline.toml\n  migrasim run scenarios/status-quo.toml --households 1000000 --threads 2 --out /tmp/sq\n  migrasim validate scenarios/baseline.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a scenario and write tables, manifest and charts.
    Run(RunArgs),
    /// Check a scenario file and print it fully resolved (after `extends`).
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct Overrides {
    /// Simulated households (overrides `run.households`).
    #[arg(long, value_name = "N")]
    pub households: Option<u64>,
    /// Random seed (overrides `run.seed`).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Output folder [default: output/<scenario name>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print phase timings and synthesis details.
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    #[command(flatten)]
    pub overrides: Overrides,
}

/// What went wrong, and whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad scenario or arguments: exit code 2.
    #[error("{0}")]
    Input(String),
    /// Anything else (I/O, charts): exit code 1.
    #[error("{0}")]
    Failure(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Input(_) => 2,
            CliError::Failure(_) => 1,
        }
    }
}

impl From<ScenarioError> for CliError {
    fn from(e: ScenarioError) -> Self {
        CliError::Input(e.to_string())
    }
}

/// Loads, applies command-line overrides and resolves the scenario against the geography.
fn prepare(path: &Path, overrides: &Overrides, geo: &Geography) -> Result<Plan, CliError> {
    let mut loaded = scenario::load(path)?;
    if let Some(households) = overrides.households {
        if !(1000..=MAX_HOUSEHOLDS).contains(&households) {
            return Err(CliError::Input(format!(
                "--households {households} is out of range; allowed: 1000 ..= {MAX_HOUSEHOLDS}"
            )));
        }
        loaded.scenario.run.households = households;
    }
    if let Some(seed) = overrides.seed {
        loaded.scenario.run.seed = seed;
    }
    check_memory(loaded.scenario.run.households, path)?;
    Ok(Plan::new(&loaded, geo)?)
}

/// Refuses a run whose households would not fit in the memory this machine has free.
fn check_memory(households: u64, path: &Path) -> Result<(), CliError> {
    // Households plus a copy during synthesis, and slack for tables and tallies.
    let needed =
        households.saturating_mul(2 * std::mem::size_of::<Household>() as u64) + 512 * 1024 * 1024;
    if let Some(available) = available_memory()
        && needed > available
    {
        return Err(CliError::Input(format!(
            "{}: `run.households` = {households} needs about {} MiB but only {} MiB are available; allowed: at most {} households here",
            path.display(),
            needed >> 20,
            available >> 20,
            available.saturating_sub(512 * 1024 * 1024)
                / (2 * std::mem::size_of::<Household>() as u64)
        )));
    }
    Ok(())
}

fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let geo = Geography::embedded();
    match cli.command {
        Command::Validate(args) => {
            let plan = prepare(&args.scenario, &args.overrides, geo)?;
            print!("{}", plan.scenario.to_toml());
            let counts = crate::scenario::Regime::ALL
                .map(|r| plan.regimes.iter().filter(|x| **x == r).count());
            eprintln!(
                "{}: valid; {} households, years {}–{}, regimes open/relaxed/points = {}/{}/{}, hash {}",
                args.scenario.display(),
                plan.scenario.run.households,
                plan.scenario.run.first_year,
                plan.scenario.run.last_year,
                counts[0],
                counts[1],
                counts[2],
                &plan.scenario.hash()[..12]
            );
            Ok(())
        }
        Command::Run(args) => run_scenario(&args, geo),
    }
}

fn run_scenario(args: &RunArgs, geo: &'static Geography) -> Result<(), CliError> {
    let plan = prepare(&args.scenario, &args.overrides, geo)?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&plan.scenario.name));
    let threads = args
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| CliError::Failure(format!("cannot start {threads} threads: {e}")))?;

    let started = Instant::now();
    let years = (plan.scenario.run.last_year - plan.scenario.run.first_year + 1) as u64;
    let progress = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(years);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} years")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message("synthesis");
        bar
    };
    let name = plan.scenario.name.clone();
    let households = plan.scenario.run.households;
    let files = pool.install(|| -> Result<Vec<PathBuf>, CliError> {
        let mut sim = Simulation::new(geo, plan);
        progress.set_message("simulating");
        sim.run(|year| {
            progress.set_message(year.to_string());
            progress.inc(1);
        });
        progress.finish_and_clear();
        let output = RunOutput::from_simulation(&sim, threads);
        let files = report::write_run(&out_dir, &output)
            .map_err(|e| CliError::Failure(e.to_string()))?;
        if args.verbose {
            eprintln!(
                "synthesis {:.2}s, calibration {:.2}s, cities+tables {:.2}s, household passes {:.2}s; {:.4} persons per member; {:?}",
                sim.timings.synthesis,
                sim.timings.calibration,
                sim.timings.cities_and_tables,
                sim.timings.household_passes,
                sim.persons_per_member,
                sim.synthesis
            );
        }
        if !args.quiet {
            for record in &sim.records {
                let row = report::national_row(record, sim.persons_per_member);
                eprintln!(
                    "{}  urbanization {:.2}%  hukou {:.2}%  gap {:.2} pp  settlements {:.2}M",
                    row.year,
                    row.urbanization_rate_pct,
                    row.hukou_urbanization_rate_pct,
                    row.gap_pp,
                    row.settlements / 1e6
                );
            }
        }
        Ok(files)
    })?;
    if !args.quiet {
        eprintln!(
            "{name}: {households} households on {threads} threads in {:.1}s; wrote {} files to {}",
            started.elapsed().as_secs_f64(),
            files.len(),
            out_dir.display()
        );
    }
    Ok(())
}
