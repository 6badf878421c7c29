//! Command-line interface: arguments parsed once into typed values, errors mapped to exit codes
//! (0 success, 2 bad input, 1 anything else). CLI types stay in this module.

use crate::compare::{self, Compared};
use crate::engine::Plan;
use crate::ensemble;
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
    after_help = "Examples:\n  migrasim run scenarios/baseline.toml\n  migrasim run scenarios/status-quo.toml --households 1000000 --replicates 10 --out /tmp/sq\n  migrasim compare scenarios/baseline.toml scenarios/status-quo.toml --replicates 10\n  migrasim validate scenarios/baseline.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a scenario and write tables, manifest, charts and report.md.
    Run(RunArgs),
    /// Run two or more scenarios with common random numbers and compare them.
    Compare(CompareArgs),
    /// Check a scenario file and print it fully resolved (after `extends`).
    Validate(ValidateArgs),
    /// Fit the free parameters on the 2020→2023 backcast; write scenarios/calibration.toml and
    /// docs/validation.md (or, with --check, verify they are current).
    Calibrate(CalibrateArgs),
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
pub struct Execution {
    /// Replicate runs with seeds derived from the scenario seed (bands in tables and charts).
    #[arg(long, value_name = "R", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub replicates: u32,
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
pub struct RunArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Output folder [default: output/<scenario name>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(flatten)]
    pub execution: Execution,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The backcast scenario.
    #[arg(default_value = "scenarios/backcast-2020.toml")]
    pub backcast: PathBuf,
    /// Simulated households per backcast run.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub households: u64,
    /// Rounds of coordinate-wise fitting.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub rounds: u32,
    /// Where to write the fitted parameters.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "scenarios/calibration.toml"
    )]
    pub calibration: PathBuf,
    /// Folder for validation.md and its chart.
    #[arg(long, value_name = "DIR", default_value = "docs")]
    pub docs: PathBuf,
    /// Refit and compare with the shipped files instead of writing; exit 1 if they differ.
    #[arg(long)]
    pub check: bool,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Scenario files (TOML); the first is the reference for differences.
    #[arg(num_args = 2.., required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Output folder [default: output/compare-<names>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(flatten)]
    pub execution: Execution,
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
        Command::Compare(args) => compare_scenarios(&args, geo),
        Command::Calibrate(args) => calibrate(&args, geo),
    }
}

fn thread_pool(execution: &Execution) -> Result<(rayon::ThreadPool, usize), CliError> {
    let threads = execution
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| CliError::Failure(format!("cannot start {threads} threads: {e}")))?;
    Ok((pool, threads))
}

fn progress_bar(execution: &Execution, total: u64) -> indicatif::ProgressBar {
    if execution.quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} years")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Runs every replicate of `plan`, advancing `bar` by one per simulated year.
fn simulate(
    geo: &Geography,
    plan: &Plan,
    seeds: &[u64],
    bar: &indicatif::ProgressBar,
) -> Vec<ensemble::RunResult> {
    let name = plan.scenario.name.clone();
    ensemble::run_replicates(geo, plan, seeds, |replicate, year| {
        bar.set_message(format!("{name} r{replicate} {year}"));
        bar.inc(1);
    })
}

fn years(plan: &Plan) -> u64 {
    (plan.scenario.run.last_year - plan.scenario.run.first_year + 1) as u64
}

fn run_scenario(args: &RunArgs, geo: &'static Geography) -> Result<(), CliError> {
    let plan = prepare(&args.scenario, &args.overrides, geo)?;
    let execution = &args.execution;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&plan.scenario.name));
    let (pool, threads) = thread_pool(execution)?;
    let started = Instant::now();
    let seeds = ensemble::replicate_seeds(plan.scenario.run.seed, execution.replicates);
    let bar = progress_bar(execution, years(&plan) * seeds.len() as u64);
    let files = pool.install(|| -> Result<Vec<PathBuf>, CliError> {
        let runs = simulate(geo, &plan, &seeds, &bar);
        bar.finish_and_clear();
        if execution.verbose {
            for run in &runs {
                eprintln!(
                    "seed {}: synthesis {:.2}s, calibration {:.2}s, cities+tables {:.2}s, household passes {:.2}s; {:.4} persons per member; {:?}",
                    run.seed,
                    run.timings.synthesis,
                    run.timings.calibration,
                    run.timings.cities_and_tables,
                    run.timings.household_passes,
                    run.persons_per_member,
                    run.synthesis
                );
            }
        }
        if !execution.quiet {
            let metrics: Vec<_> = runs.iter().map(|r| ensemble::metrics(geo, &plan, r)).collect();
            let urban = ensemble::bands(&metrics, |m| m.urbanization_rate_pct);
            let hukou = ensemble::bands(&metrics, |m| m.hukou_urbanization_rate_pct);
            let gap = ensemble::bands(&metrics, |m| m.gap_pp);
            let settled = ensemble::bands(&metrics, |m| m.settlements / 1e6);
            for i in 0..urban.len() {
                eprintln!(
                    "{}  urbanization {:.2}%  hukou {:.2}%  gap {:.2} pp  settlements {:.2}M",
                    urban[i].0, urban[i].1.mean, hukou[i].1.mean, gap[i].1.mean, settled[i].1.mean
                );
            }
        }
        let output = RunOutput {
            geo,
            plan: &plan,
            runs: &runs,
            threads,
        };
        report::write_run(&out_dir, &output).map_err(|e| CliError::Failure(e.to_string()))
    })?;
    if !execution.quiet {
        eprintln!(
            "{}: {} households × {} replicate(s) on {threads} threads in {:.1}s; wrote {} files to {}",
            plan.scenario.name,
            plan.scenario.run.households,
            seeds.len(),
            started.elapsed().as_secs_f64(),
            files.len(),
            out_dir.display()
        );
    }
    Ok(())
}

fn compare_scenarios(args: &CompareArgs, geo: &'static Geography) -> Result<(), CliError> {
    let execution = &args.execution;
    let mut plans = Vec::with_capacity(args.scenarios.len());
    for path in &args.scenarios {
        plans.push(prepare(path, &args.overrides, geo)?);
    }
    let mut names: Vec<String> = plans.iter().map(|p| p.scenario.name.clone()).collect();
    for i in 1..names.len() {
        if names[..i].contains(&names[i]) {
            names[i] = format!("{}-{}", names[i], i + 1);
            plans[i].scenario.name = names[i].clone();
        }
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(format!("compare-{}", names.join("-vs-"))));
    let (pool, threads) = thread_pool(execution)?;
    let started = Instant::now();
    // Common random numbers: every scenario uses the first scenario's replicate seeds.
    let seeds = ensemble::replicate_seeds(plans[0].scenario.run.seed, execution.replicates);
    let total: u64 = plans.iter().map(|p| years(p) * seeds.len() as u64).sum();
    let bar = progress_bar(execution, total);
    let files = pool.install(|| -> Result<Vec<PathBuf>, CliError> {
        let compared: Vec<Compared> = plans
            .into_iter()
            .map(|plan| {
                let runs = simulate(geo, &plan, &seeds, &bar);
                Compared::new(geo, plan, runs)
            })
            .collect();
        bar.finish_and_clear();
        compare::write_comparison(&out_dir, &compared, threads)
            .map_err(|e| CliError::Failure(e.to_string()))
    })?;
    if !execution.quiet {
        if let Ok(summary) = std::fs::read_to_string(out_dir.join("summary.md")) {
            eprintln!("{summary}");
        }
        eprintln!(
            "compared {} scenarios × {} replicate(s) on {threads} threads in {:.1}s; wrote {} files to {}",
            names.len(),
            seeds.len(),
            started.elapsed().as_secs_f64(),
            files.len(),
            out_dir.display()
        );
    }
    Ok(())
}

fn calibrate(args: &CalibrateArgs, geo: &'static Geography) -> Result<(), CliError> {
    let overrides = Overrides {
        households: Some(args.households),
        seed: None,
    };
    let plan = prepare(&args.backcast, &overrides, geo)?;
    let execution = Execution {
        replicates: 1,
        threads: args.threads,
        quiet: args.quiet,
        verbose: false,
    };
    let (pool, _) = thread_pool(&execution)?;
    let started = Instant::now();
    let quiet = args.quiet;
    let fit = pool.install(|| {
        crate::calibrate::fit(
            geo,
            &plan.scenario,
            args.households,
            args.rounds as usize,
            |line| {
                if !quiet {
                    eprintln!("{line}");
                }
            },
        )
    });
    let calibration = crate::calibrate::calibration_toml(&fit, args.households);
    // The chart is drawn into a scratch folder first so --check writes nothing.
    let scratch = tempfile_dir()?;
    let (validation, charts) =
        crate::calibrate::validation_report(geo, &fit, args.households, &scratch)
            .map_err(|e| CliError::Failure(e.to_string()))?;
    let validation_path = args.docs.join("validation.md");
    if args.check {
        let _ = std::fs::remove_dir_all(&scratch);
        let mut stale = Vec::new();
        for (path, text) in [
            (&args.calibration, &calibration),
            (&validation_path, &validation),
        ] {
            if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        if !stale.is_empty() {
            return Err(CliError::Failure(format!(
                "calibration is not current: {} differ from what the code produces; run `migrasim calibrate` and commit",
                stale.join(", ")
            )));
        }
        if !quiet {
            eprintln!(
                "calibration is current ({} backcast runs in {:.0}s)",
                fit.evaluations,
                started.elapsed().as_secs_f64()
            );
        }
        return Ok(());
    }
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text)
            .map_err(|e| CliError::Failure(format!("{}: {e}", path.display())))
    };
    std::fs::create_dir_all(&args.docs)
        .map_err(|e| CliError::Failure(format!("{}: {e}", args.docs.display())))?;
    write(&args.calibration, &calibration)?;
    write(&validation_path, &validation)?;
    for chart in charts {
        if let Some(name) = chart.file_name() {
            std::fs::copy(&chart, args.docs.join(name))
                .map_err(|e| CliError::Failure(format!("{}: {e}", chart.display())))?;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if !quiet {
        for (key, value) in &fit.values {
            eprintln!("{key} = {value}");
        }
        eprintln!(
            "wrote {} and {} ({} backcast runs in {:.0}s)",
            args.calibration.display(),
            validation_path.display(),
            fit.evaluations,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// A fresh scratch folder under the system temp dir.
fn tempfile_dir() -> Result<PathBuf, CliError> {
    let dir = std::env::temp_dir().join(format!("migrasim-calibrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::Failure(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}
