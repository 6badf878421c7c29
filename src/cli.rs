//! Command-line interface: arguments parsed once into typed values, errors mapped to exit codes
//! (0 success, 2 bad input, 1 anything else). CLI types stay in this module.

use crate::calibrate::posterior;
use crate::compare::{self, Compared};
use crate::engine::Plan;
use crate::ensemble;
use crate::geo::Geography;
use crate::household::Household;
use crate::output::{self, OutputError, Staging};
use crate::report::{self, RunOutput};
use crate::results;
use crate::scenario::{self, MAX_HOUSEHOLDS, ScenarioError};
use crate::spread;
use clap::{Args, Parser, Subcommand};
use std::fmt::Write as _;
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
    /// Resolution of the PNG charts in dots per inch (charts are 12 × 7.5 inches, maps
    /// 12 × 9); 300 for print. The SVGs beside them are vector graphics at any size.
    #[arg(long, global = true, default_value_t = 100, value_parser = clap::value_parser!(u32).range(50..=600))]
    pub dpi: u32,
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
    /// Measure what each plan measure does (baseline against the baseline without it, common
    /// random numbers); write docs/levers.md (or, with --check, verify it is current).
    Levers(LeversArgs),
    /// Which assumptions and which plan measures move the outcomes most: Morris screening of
    /// every uncertain parameter and measure, Sobol indices of the leading ones, tornado charts.
    Sensitivity(SensitivityArgs),
    /// Goal seeking: the smallest change of the given levers that reaches the targets with the
    /// stated probability over the posterior's parameter sets, or how close the levers get.
    Solve(SolveArgs),
    /// Print a shell completion script, e.g. `migrasim completions bash >
    /// ~/.local/share/bash-completion/completions/migrasim`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `migrasim man > migrasim.1; man ./migrasim.1`.
    Man,
}

#[derive(Debug, Args)]
pub struct SolveArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// A target, COLUMN@YEAR>=VALUE or COLUMN[PLACE]@YEAR<=VALUE (a province or unit column);
    /// repeatable: all must hold at once.
    #[arg(long, value_name = "TARGET", required = true)]
    pub target: Vec<String>,
    /// A lever, KEY or KEY=END: a numeric scenario key moved from its value toward END [default:
    /// the upper end of its allowed range]; repeatable: the levers move together.
    #[arg(long, value_name = "KEY[=END]", required = true)]
    pub lever: Vec<String>,
    /// The chance the targets must be met with, over the runs.
    #[arg(long, value_name = "P", default_value_t = 0.8)]
    pub probability: f64,
    /// The posterior ensemble the chance is taken over.
    #[arg(long, value_name = "FILE", default_value = "scenarios/posterior.csv")]
    pub posterior: PathBuf,
    /// Parameter sets of the posterior per point (the first K).
    #[arg(long, value_name = "K", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub members: u32,
    /// Take the chance over replicate seeds only, at the scenario's own parameters.
    #[arg(long)]
    pub draws_only: bool,
    /// Replicate seeds per parameter set.
    #[arg(long, value_name = "R", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub replicates: u32,
    /// Simulated households per run [default: 1,000,000].
    #[arg(long, value_name = "N")]
    pub households: Option<u64>,
    /// Output folder [default: output/solve-<scenario name>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an earlier migrasim output at `--out` (never a folder holding other files).
    #[arg(long)]
    pub force: bool,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SensitivityArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// An outcome, COLUMN@YEAR of national.csv (repeatable) [default: the urbanization rate,
    /// the hukou rate and the gap in the last year].
    #[arg(long, value_name = "COLUMN@YEAR")]
    pub outcome: Vec<String>,
    /// Morris trajectories (each costs one run per factor, plus one).
    #[arg(long, value_name = "R", default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub trajectories: u32,
    /// Base samples of the Sobol estimate (each costs leading + 2 runs); 0 skips it.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub sobol_samples: u32,
    /// Factors of the Sobol estimate: the leading ones of the Morris screening.
    #[arg(long, value_name = "M", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub leading: u32,
    /// The scenario a measure is set back to when it is off.
    #[arg(long, value_name = "FILE", default_value = "scenarios/status-quo.toml")]
    pub status_quo: PathBuf,
    /// The posterior ensemble whose 5–95% ranges the parameters span.
    #[arg(long, value_name = "FILE", default_value = "scenarios/posterior.csv")]
    pub posterior: PathBuf,
    /// Let the parameters span their prior ranges instead (what the evidence allows before the
    /// backcast narrows it).
    #[arg(long)]
    pub prior_ranges: bool,
    /// Simulated households per run [default: 1,000,000].
    #[arg(long, value_name = "N")]
    pub households: Option<u64>,
    /// Output folder [default: output/sensitivity-<scenario name>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an earlier migrasim output at `--out` (never a folder holding other files).
    #[arg(long)]
    pub force: bool,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct LeversArgs {
    /// The scenario whose measures are measured.
    #[arg(default_value = "scenarios/baseline.toml")]
    pub baseline: PathBuf,
    /// The scenario a measure is set back to.
    #[arg(long, value_name = "FILE", default_value = "scenarios/status-quo.toml")]
    pub status_quo: PathBuf,
    /// Simulated households per run.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub households: u64,
    /// Replicates per measure (the same seeds with and without it).
    #[arg(long, value_name = "R", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub replicates: u32,
    /// Folder for levers.md.
    #[arg(long, value_name = "DIR", default_value = "docs")]
    pub docs: PathBuf,
    /// Measure and compare with the shipped file instead of writing; exit 1 if it differs.
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
pub struct Overrides {
    /// Simulated households (overrides `run.households`).
    #[arg(long, value_name = "N")]
    pub households: Option<u64>,
    /// Random seed (overrides `run.seed`), 0 ..= 2^63 − 1 (what a scenario file can hold).
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    pub seed: Option<u64>,
    /// Set any scenario key over the file and its `extends` chain, e.g. `--set
    /// settlement.willingness.procedure_ease=0.5` or `--set 'jobs.growth_pct={2024=1.0,2027=2.0}'`
    /// (repeatable; recorded in the manifest and a comparison's input differences).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
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
    #[arg(long, short, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print phase timings and synthesis details.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Parameter uncertainty: run every parameter set of a posterior ensemble.
#[derive(Debug, Args)]
pub struct PosteriorArgs {
    /// Run every parameter set of a posterior ensemble (the shipped scenarios/posterior.csv, or
    /// FILE) with the replicate seeds, for bands over parameters and draws. Give it after the
    /// scenario files.
    #[arg(
        long,
        value_name = "FILE",
        num_args = 0..=1,
        default_missing_value = "scenarios/posterior.csv"
    )]
    pub posterior: Option<PathBuf>,
    /// Use only the first K parameter sets of the posterior (they are equally weighted and in no
    /// particular order, so the first K are a random subsample).
    #[arg(long, value_name = "K", requires = "posterior", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub members: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Output folder [default: output/<scenario name>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an earlier migrasim output at `--out` (never a folder holding other files).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub posterior: PosteriorArgs,
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
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub rounds: u32,
    /// Where to write the fitted parameters.
    #[arg(long, value_name = "FILE", default_value = "scenarios/calibration.toml")]
    pub calibration: PathBuf,
    /// Folder for validation.md and its chart.
    #[arg(long, value_name = "DIR", default_value = "docs")]
    pub docs: PathBuf,
    /// Refit and compare with the shipped files instead of writing; exit 1 if they differ.
    /// With --ensemble, a reduced check: the calibrated point and three members of the shipped
    /// posterior are re-run and must reproduce their recorded distances.
    #[arg(long)]
    pub check: bool,
    /// Instead of the point fit, find N parameter sets consistent with the backcast (ABC-SMC
    /// around the calibrated point) and write them to --posterior and docs/validation.md.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(4..=100_000))]
    pub ensemble: Option<u32>,
    /// With --ensemble: accept parameter sets within X times the stated target tolerances. Above
    /// 1 only for a quick trial on few households, whose sampling noise alone exceeds them (the
    /// file's search line records the tolerances reached).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub tolerance: f64,
    /// Where `--ensemble` writes the posterior ensemble.
    #[arg(long, value_name = "FILE", default_value = "scenarios/posterior.csv")]
    pub posterior: PathBuf,
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
    /// Replace an earlier migrasim output at `--out` (never a folder holding other files).
    #[arg(long)]
    pub force: bool,
    /// Add a section for one province's prefectures (English or Chinese name, or 2-digit
    /// code): a table of differences, gainers and losers, and a zoomed map. Repeatable.
    #[arg(long, value_name = "PROVINCE")]
    pub focus: Vec<String>,
    #[command(flatten)]
    pub posterior: PosteriorArgs,
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

impl From<OutputError> for CliError {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::Refused(m) => CliError::Input(m),
            OutputError::Io(m) => CliError::Failure(m),
        }
    }
}

impl From<ScenarioError> for CliError {
    fn from(e: ScenarioError) -> Self {
        CliError::Input(e.to_string())
    }
}

/// A resolved scenario and the files it was read from.
struct Prepared {
    plan: Plan,
    /// The `extends` chain, from the named file to its root.
    inputs: Vec<PathBuf>,
    /// `--set` settings as given (`KEY=VALUE`).
    settings: Vec<String>,
}

/// Loads, applies command-line overrides and resolves the scenario against the geography.
fn prepare(path: &Path, overrides: &Overrides, geo: &Geography) -> Result<Prepared, CliError> {
    let sets = overrides.set.iter().map(|text| scenario::Setting::parse(text)).collect::<Result<Vec<_>, _>>()?;
    let mut loaded = scenario::load_with(path, &sets)?;
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
    let inputs = loaded.chain.iter().map(|f| f.path.clone()).collect();
    Ok(Prepared { plan: Plan::new(&loaded, geo)?, inputs, settings: sets.into_iter().map(|s| s.text).collect() })
}

/// Memory a run needs, from measurements of the release binary (docs/performance.md): the
/// household array (18 bytes each, the only per-household allocation; the peak resident size
/// grows by 15.4 bytes per household from 5M to 20M households), the year records kept for the
/// tables (about 100 KB per simulated year and replicate), and a fixed part (code, geography,
/// choice tables, tallies; 40 MiB resident at 1M households). Address space adds thread stacks
/// and glibc's per-thread malloc arenas (64 MiB reserved each), which RLIMIT_AS counts.
struct MemoryNeed {
    resident: u64,
    address_space: u64,
}

fn memory_need(households: u64, threads: usize, simulated_years: u64) -> MemoryNeed {
    const MIB: u64 = 1024 * 1024;
    let heap = households
        .saturating_mul(std::mem::size_of::<Household>() as u64)
        .saturating_add(simulated_years.saturating_mul(100 * 1024))
        .saturating_add(64 * MIB);
    let threads = threads as u64;
    MemoryNeed {
        // Ten per cent on top: allocator rounding and the tables written at the end.
        resident: heap.saturating_add(heap / 10).saturating_add(threads * 8 * MIB),
        address_space: heap.saturating_add(heap / 10).saturating_add(64 * MIB).saturating_add(threads * 72 * MIB),
    }
}

/// The memory this process may use: the tightest of RLIMIT_AS, RLIMIT_DATA, the cgroup's
/// `memory.max` (less what the group already uses) and the system's available memory.
/// Returns (limit in bytes, what sets it, whether it limits address space rather than
/// resident memory).
fn memory_limits() -> Vec<(u64, &'static str, bool)> {
    let mut limits = Vec::new();
    for (resource, name) in [
        (libc::RLIMIT_AS, "the address-space limit (ulimit -v)"),
        (libc::RLIMIT_DATA, "the data-segment limit (ulimit -d)"),
    ] {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one rlimit struct, which `limit` is.
        if unsafe { libc::getrlimit(resource, &mut limit) } == 0 && limit.rlim_cur != libc::RLIM_INFINITY {
            limits.push((limit.rlim_cur, name, true));
        }
    }
    // Ranks of an MPI job on the same machine share its memory: each may use its part.
    let sharing = spread::ranks_on_node() as u64;
    let shared = |what: &'static str, shared_what: &'static str| {
        if sharing > 1 { shared_what } else { what }
    };
    if let Some(free) = cgroup_memory_free() {
        limits.push((
            free / sharing,
            shared(
                "the control group's memory.max",
                "this rank's share of the control group's memory.max (ranks on this machine share it)",
            ),
            false,
        ));
    }
    if let Some(available) = available_memory() {
        limits.push((
            available / sharing,
            shared(
                "the memory available on this machine",
                "this rank's share of the memory available on this machine (ranks on it share it)",
            ),
            false,
        ));
    }
    limits
}

/// Free room under the cgroup v2 `memory.max` (or v1 `memory.limit_in_bytes`) of this process.
fn cgroup_memory_free() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    // v2: a single line "0::/path".
    if let Some(path) = membership.lines().find_map(|l| l.strip_prefix("0::")) {
        let dir = format!("/sys/fs/cgroup{}", path.trim_end_matches('/'));
        if let Some(max) = read(&format!("{dir}/memory.max")) {
            let used = read(&format!("{dir}/memory.current")).unwrap_or(0);
            return Some(max.saturating_sub(used));
        }
        return None;
    }
    let max = read("/sys/fs/cgroup/memory/memory.limit_in_bytes")?;
    // v1 reports "no limit" as a huge number.
    if max >= 1 << 60 {
        return None;
    }
    let used = read("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0);
    Some(max.saturating_sub(used))
}

/// Refuses, before allocating anything, a run that would not fit in the memory this process
/// may use.
fn check_memory(households: u64, threads: usize, simulated_years: u64, path: &Path) -> Result<(), CliError> {
    let need = memory_need(households, threads, simulated_years);
    for (limit, what, address_space) in memory_limits() {
        let needed = if address_space { need.address_space } else { need.resident };
        if needed > limit {
            // The largest household count that fits under this limit.
            let mut fits = 0u64;
            let (mut lo, mut hi) = (0u64, households);
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                let m = memory_need(mid, threads, simulated_years);
                if (if address_space { m.address_space } else { m.resident }) <= limit {
                    lo = mid;
                    fits = mid;
                } else {
                    hi = mid - 1;
                }
            }
            return Err(CliError::Input(format!(
                "{}: `run.households` = {households} needs about {} MiB on {threads} thread(s), but {what} allows {} MiB; allowed: at most {fits} households here (or fewer threads or replicates)",
                path.display(),
                needed >> 20,
                limit >> 20,
            )));
        }
    }
    Ok(())
}

fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// All cores, shared out among the ranks of an MPI job that run on this machine.
fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / spread::ranks_on_node()).max(1)
}

fn threads_of(execution: &Execution) -> usize {
    execution.threads.map_or_else(default_threads, usize::from)
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    crate::charts::set_png_dpi(cli.dpi);
    let result = dispatch(cli);
    match result {
        // A rank whose inputs failed tells the others, which are waiting to agree: every rank
        // then ends with the combined message (printed once, by rank 0).
        Err(error) if spread::size() > 1 && !spread::agreed() => {
            Err(agreed::<()>(Err(error)).expect_err("a failed status fails the agreement"))
        }
        result => result,
    }
}

/// Whether `command` spreads its work over the ranks of an MPI job; the others run as one
/// process.
fn spreads(command: &Command) -> bool {
    match command {
        Command::Run(_) | Command::Compare(_) | Command::Sensitivity(_) | Command::Solve(_) => true,
        Command::Calibrate(args) => args.ensemble.is_some() && !args.check,
        Command::Validate(_) | Command::Levers(_) | Command::Completions { .. } | Command::Man => false,
    }
}

fn dispatch(cli: Cli) -> Result<(), CliError> {
    let geo = Geography::embedded();
    spread::set_quiet(match &cli.command {
        Command::Run(a) => a.execution.quiet,
        Command::Compare(a) => a.execution.quiet,
        Command::Calibrate(a) => a.quiet,
        Command::Sensitivity(a) => a.quiet,
        Command::Solve(a) => a.quiet,
        Command::Validate(_) | Command::Levers(_) | Command::Completions { .. } | Command::Man => false,
    });
    if spread::size() > 1 && !spreads(&cli.command) {
        return Err(CliError::Input(format!(
            "this command runs as one process, not as {} MPI ranks; allowed under mpirun: run, compare, calibrate --ensemble (without --check), sensitivity, solve",
            spread::size()
        )));
    }
    match cli.command {
        Command::Validate(args) => {
            let plan = prepare(&args.scenario, &args.overrides, geo)?.plan;
            check_memory(plan.scenario.run.households, default_threads(), years(&plan) + 1, &args.scenario)?;
            print!("{}", plan.scenario.to_toml());
            let first_year_regimes = plan.regimes_in(plan.scenario.run.first_year);
            let counts = crate::scenario::Regime::ALL.map(|r| first_year_regimes.iter().filter(|x| **x == r).count());
            eprintln!(
                "{}: valid; {} households, years {}–{}, regimes open/relaxed/points in the first year = {}/{}/{}, hash {}",
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
        Command::Levers(args) => levers(&args, geo),
        Command::Sensitivity(args) => sensitivity(&args, geo),
        Command::Solve(args) => solve(&args, geo),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "migrasim", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            use clap::CommandFactory as _;
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map_err(|e| CliError::Failure(format!("cannot write the manual page: {e}")))
        }
    }
}

fn solve(args: &SolveArgs, geo: &'static Geography) -> Result<(), CliError> {
    let overrides = Overrides { households: Some(args.households.unwrap_or(1_000_000)), seed: None, set: Vec::new() };
    let Prepared { plan, inputs, .. } = prepare(&args.scenario, &overrides, geo)?;
    let scenario = &plan.scenario;
    let run = &scenario.run;
    if !(args.probability > 0.0 && args.probability <= 1.0) {
        return Err(CliError::Input(format!(
            "--probability {} is out of range; allowed: above 0, at most 1",
            args.probability
        )));
    }
    let targets: Vec<crate::solve::Target> = args
        .target
        .iter()
        .map(|t| {
            crate::solve::Target::parse(t, geo, run.first_year, run.last_year)
                .map_err(|e| CliError::Input(format!("--target {t}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let levers: Vec<crate::solve::Lever> = args
        .lever
        .iter()
        .map(|l| crate::solve::Lever::parse(l, scenario).map_err(|e| CliError::Input(format!("--lever {l}: {e}"))))
        .collect::<Result<_, _>>()?;
    let ensemble = if args.draws_only {
        None
    } else {
        load_posterior(&PosteriorArgs { posterior: Some(args.posterior.clone()), members: Some(args.members) })?
    };
    let execution = Execution { replicates: args.replicates, threads: args.threads, quiet: args.quiet, verbose: false };
    check_memory(run.households, threads_of(&execution), years(&plan) + 1, &args.scenario)?;
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("output").join(format!("solve-{}", scenario.name)));
    let (pool, threads) = thread_pool(&execution)?;
    let staging = begin_output(&output::Request {
        path: &out_dir,
        explicit: args.out.is_some(),
        force: args.force,
        inputs: &inputs,
    })?;
    let seeds = ensemble::replicate_seeds(run.seed, args.replicates);
    let started = Instant::now();
    let quiet = args.quiet;
    let solution = pool
        .install(|| {
            crate::solve::solve(geo, scenario, levers, targets, args.probability, ensemble.as_ref(), &seeds, |p| {
                if !quiet && spread::is_root() {
                    eprintln!("solve: {:.1}% of the way: chance {:.0}%", 100.0 * p.t, 100.0 * p.probability);
                }
            })
        })
        .map_err(CliError::Failure)?;
    // Rank 0 writes; the other ranks are done.
    let Some(staging) = staging else {
        return Ok(());
    };
    let report = write_solve(staging.path(), scenario, &solution, ensemble.as_ref(), &seeds, threads, started)?;
    let files = print_and_commit(staging, &report, args.quiet)?;
    if !args.quiet {
        eprintln!(
            "{}: {} points × {} runs in {:.0}s; wrote {} files to {}",
            scenario.name,
            solution.points.len(),
            solution.runs_per_point,
            started.elapsed().as_secs_f64(),
            files.len(),
            out_dir.display()
        );
    }
    Ok(())
}

/// Prints `report` (unless `quiet`), puts the staged output in place and reports any warning of
/// the swap; returns the files written.
fn print_and_commit(staging: Staging, report: &str, quiet: bool) -> Result<Vec<PathBuf>, CliError> {
    if !quiet {
        print!("{report}");
    }
    let (files, warnings) = staging.commit()?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    Ok(files)
}

/// Writes `text` to `name` in the output folder `dir`.
fn write_text(dir: &Path, name: &str, text: &str) -> Result<(), CliError> {
    crate::report::write_file(dir, name, text).map(|_| ()).map_err(|e| CliError::Failure(e.to_string()))
}

/// Writes the codebook, `report.html` (titled `title`) and `manifest.json` of a `solve` or
/// `sensitivity` output, after its own files.
fn write_closing_files(dir: &Path, title: &str, report: &str, manifest: &serde_json::Value) -> Result<(), CliError> {
    crate::report::write_codebook(dir).map_err(|e| CliError::Failure(e.to_string()))?;
    crate::report::write_html(dir, title, report, &[], &[]).map_err(|e| CliError::Failure(e.to_string()))?;
    write_text(dir, "manifest.json", &(serde_json::to_string_pretty(manifest).unwrap_or_default() + "\n"))
}

/// Writes what `solve` found into `dir`: `solve.csv`, `report.md` (returned), `solved.toml`, the
/// chance chart, the codebook, `report.html` and the manifest.
fn write_solve(
    dir: &Path,
    scenario: &scenario::Scenario,
    solution: &crate::solve::Solution,
    ensemble: Option<&posterior::Posterior>,
    seeds: &[u64],
    threads: usize,
    started: Instant,
) -> Result<String, CliError> {
    let run = &scenario.run;
    write_text(dir, "solve.csv", &crate::solve::solve_csv(solution))?;
    let mut report = crate::solve::solve_md(solution, &scenario.name, run.households);
    if let Some(t) = solution.answer {
        write_solved_scenario(dir, &mut report, scenario, solution, t, ensemble, seeds)?;
    }
    write_text(dir, "report.md", &report)?;
    render_probability_chart(dir, scenario, solution, ensemble, seeds)?;
    let manifest = serde_json::json!({
        "migrasim_version": env!("CARGO_PKG_VERSION"),
        "scenario": scenario.name,
        "scenario_hash": scenario.hash(),
        "households": run.households,
        "seeds": seeds,
        "parameter_sets": ensemble.as_ref().map_or(1, |e| e.members.len()),
        "probability": solution.required,
        "answer_share_of_the_way": solution.answer,
        "threads": threads,
        "ranks": spread::size(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    write_closing_files(dir, &format!("migrasim solve: {}", scenario.name), &report, &manifest)?;
    Ok(report)
}

/// `solved.toml`: the scenario with the levers at the answer `t`, fully resolved, so the answer
/// can be checked by running it; `report` says how.
fn write_solved_scenario(
    dir: &Path,
    report: &mut String,
    scenario: &scenario::Scenario,
    solution: &crate::solve::Solution,
    t: f64,
    ensemble: Option<&posterior::Posterior>,
    seeds: &[u64],
) -> Result<(), CliError> {
    let mut solved = crate::solve::moved(scenario, &solution.levers, t).map_err(CliError::Failure)?;
    solved.name = format!("{}-solved", scenario.name);
    let members = ensemble.as_ref().map_or(0, |e| e.members.len());
    write_text(
        dir,
        "solved.toml",
        &format!(
            "# {} with the levers at the answer of `migrasim solve` (resolved: every key).\n{}",
            scenario.name,
            solved.to_toml()
        ),
    )?;
    let _ = writeln!(
        report,
        "\nThe solved scenario is `solved.toml`; check the answer by running it over the same runs: `migrasim run solved.toml{}{}`.",
        if members > 0 { format!(" --posterior --members {members}") } else { String::new() },
        if seeds.len() > 1 { format!(" --replicates {}", seeds.len()) } else { String::new() }
    );
    Ok(())
}

/// The chance of reaching the targets along the first lever (`charts/probability.*`).
fn render_probability_chart(
    dir: &Path,
    scenario: &scenario::Scenario,
    solution: &crate::solve::Solution,
    ensemble: Option<&posterior::Posterior>,
    seeds: &[u64],
) -> Result<(), CliError> {
    let first = &solution.levers[0];
    let points: Vec<(f64, f64)> =
        solution.points.iter().map(|p| (first.start + p.t * (first.end - first.start), p.probability)).collect();
    let title = format!(
        "Chance of reaching {} — {}",
        solution.targets.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" and "),
        scenario.name
    );
    let x_label = if solution.levers.len() > 1 {
        format!(
            "{} (with {} more lever(s) moved in step; solve.csv has their values)",
            first.key,
            solution.levers.len() - 1
        )
    } else {
        first.key.clone()
    };
    crate::charts::render(
        &dir.join("charts"),
        "probability",
        &crate::charts::CurveChart {
            title: &title,
            x_label: &x_label,
            points: &points,
            required: solution.required,
            answer: solution.answer.map(|t| first.start + t * (first.end - first.start)),
            source_note: &format!(
                "migrasim solve: {} runs per point ({} parameter set(s) × {} seed(s))",
                solution.runs_per_point,
                ensemble.as_ref().map_or(1, |e| e.members.len()),
                seeds.len()
            ),
        },
    )
    .map_err(|e| CliError::Failure(e.to_string()))?;
    Ok(())
}

fn sensitivity(args: &SensitivityArgs, geo: &'static Geography) -> Result<(), CliError> {
    let overrides = Overrides { households: Some(args.households.unwrap_or(1_000_000)), seed: None, set: Vec::new() };
    let Prepared { plan, mut inputs, .. } = prepare(&args.scenario, &overrides, geo)?;
    let status_quo = prepare(&args.status_quo, &overrides, geo)?;
    inputs.extend(status_quo.inputs);
    let run = &plan.scenario.run;
    let outcomes = sensitivity_outcomes(args, run)?;
    let ensemble = if args.prior_ranges {
        None
    } else {
        load_posterior(&PosteriorArgs { posterior: Some(args.posterior.clone()), members: None })?
    };
    let factors = crate::sensitivity::factors(&plan.scenario, ensemble.as_ref()).len();
    let settings = sensitivity_settings(args, ensemble.is_some(), factors, run.seed);
    let execution = Execution { replicates: 1, threads: args.threads, quiet: args.quiet, verbose: false };
    check_memory(run.households, threads_of(&execution), years(&plan) + 1, &args.scenario)?;
    let out_dir =
        args.out.clone().unwrap_or_else(|| PathBuf::from("output").join(format!("sensitivity-{}", plan.scenario.name)));
    let (pool, threads) = thread_pool(&execution)?;
    let staging = begin_output(&output::Request {
        path: &out_dir,
        explicit: args.out.is_some(),
        force: args.force,
        inputs: &inputs,
    })?;
    let total = 1 + settings.trajectories * (factors + 1) + settings.sobol_samples * (settings.leading + 2);
    let bar = progress_bar(&execution, total as u64);
    let started = Instant::now();
    let analysis = pool
        .install(|| {
            crate::sensitivity::analyse(
                geo,
                &plan.scenario,
                &status_quo.plan.scenario,
                ensemble.as_ref(),
                &outcomes,
                &settings,
                |_| bar.inc(1),
            )
        })
        .map_err(CliError::Failure)?;
    bar.finish_and_clear();
    // Rank 0 writes; the other ranks are done.
    let Some(staging) = staging else {
        return Ok(());
    };
    let report = write_sensitivity(staging.path(), &plan, &analysis, &settings, ensemble.as_ref(), threads, started)?;
    let files = print_and_commit(staging, &report, args.quiet)?;
    if !args.quiet {
        eprintln!(
            "{}: {} runs on {} in {:.0}s; wrote {} files to {}",
            plan.scenario.name,
            analysis.runs,
            workers(threads),
            started.elapsed().as_secs_f64(),
            files.len(),
            out_dir.display()
        );
    }
    Ok(())
}

/// The outcomes `--outcome` names, or without it the urbanization and hukou rates and their gap
/// in the last year.
fn sensitivity_outcomes(
    args: &SensitivityArgs,
    run: &scenario::Run,
) -> Result<Vec<crate::sensitivity::Outcome>, CliError> {
    if args.outcome.is_empty() {
        return Ok(["urbanization_rate_pct", "hukou_urbanization_rate_pct", "gap_pp"]
            .iter()
            .map(|c| crate::sensitivity::Outcome { column: (*c).to_string(), year: run.last_year })
            .collect());
    }
    args.outcome
        .iter()
        .map(|o| {
            crate::sensitivity::Outcome::parse(o, run.first_year, run.last_year)
                .map_err(|e| CliError::Input(format!("--outcome {o}: {e}")))
        })
        .collect()
}

/// The design of the analysis; `posterior_ranges` says whether the parameters span the
/// posterior's range (`--posterior`) or their priors.
fn sensitivity_settings(
    args: &SensitivityArgs,
    posterior_ranges: bool,
    factors: usize,
    seed: u64,
) -> crate::sensitivity::Settings {
    crate::sensitivity::Settings {
        ranges: if posterior_ranges {
            format!("the 5–95% range of the posterior ensemble `{}`", args.posterior.display())
        } else {
            "their prior ranges".to_string()
        },
        trajectories: args.trajectories as usize,
        sobol_samples: args.sobol_samples as usize,
        leading: (args.leading as usize).min(factors),
        seed,
    }
}

/// Writes the sensitivity analysis into `dir`: `sensitivity.csv`, `report.md` (returned), a tornado
/// chart per outcome, the codebook, `report.html` and the manifest.
fn write_sensitivity(
    dir: &Path,
    plan: &Plan,
    analysis: &crate::sensitivity::Sensitivity,
    settings: &crate::sensitivity::Settings,
    ensemble: Option<&posterior::Posterior>,
    threads: usize,
    started: Instant,
) -> Result<String, CliError> {
    let run = &plan.scenario.run;
    write_text(dir, "sensitivity.csv", &crate::sensitivity::sensitivity_csv(analysis))?;
    let report = crate::sensitivity::sensitivity_md(analysis, &plan.scenario.name, settings, run.households);
    write_text(dir, "report.md", &report)?;
    for o in 0..analysis.outcomes.len() {
        render_tornado(dir, &plan.scenario.name, analysis, o, ensemble.is_some())?;
    }
    let manifest = serde_json::json!({
        "migrasim_version": env!("CARGO_PKG_VERSION"),
        "scenario": plan.scenario.name,
        "scenario_hash": plan.scenario.hash(),
        "households": run.households,
        "seed": run.seed,
        "trajectories": settings.trajectories,
        "sobol_samples": settings.sobol_samples,
        "leading": settings.leading,
        "runs": analysis.runs,
        "threads": threads,
        "ranks": spread::size(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    write_closing_files(dir, &format!("migrasim sensitivity: {}", plan.scenario.name), &report, &manifest)?;
    Ok(report)
}

/// The tornado chart of outcome `o` (`charts/tornado-<o>.*`): every factor's μ* with σ.
fn render_tornado(
    dir: &Path,
    scenario_name: &str,
    analysis: &crate::sensitivity::Sensitivity,
    o: usize,
    posterior_ranges: bool,
) -> Result<(), CliError> {
    let outcome = &analysis.outcomes[o];
    let bars: Vec<crate::charts::TornadoBar> = analysis
        .factors
        .iter()
        .zip(&analysis.morris[o])
        .map(|(f, m)| crate::charts::TornadoBar {
            // The chart font has no CJK glyphs: drop a parenthesised Chinese name.
            label: match f.name.split_once(" (") {
                Some((head, tail)) if !tail.is_ascii() => head.to_string(),
                _ => f.name.clone(),
            },
            value: m.mu_star,
            spread: m.sigma,
            kind: match f.kind {
                crate::sensitivity::FactorKind::Parameter(_) => 0,
                crate::sensitivity::FactorKind::Measure(_) => 1,
            },
        })
        .collect();
    let title = format!("What moves {} in {}: Morris μ* — {}", outcome.column, outcome.year, scenario_name);
    let x_label = format!(
        "Change over a factor's full range, mean absolute ({})",
        if outcome.column.ends_with("_pct") || outcome.column.ends_with("_pp") {
            "percentage points"
        } else {
            "persons"
        }
    );
    crate::charts::render(
        &dir.join("charts"),
        &format!("tornado-{o}"),
        &crate::charts::TornadoChart {
            title: &title,
            x_label: &x_label,
            bars: &bars,
            kinds: &[
                if posterior_ranges {
                    "uncertain parameter (posterior 5–95%)"
                } else {
                    "uncertain parameter (prior range)"
                },
                "plan measure (on / status quo)",
            ],
            spread_label: "σ (interactions)",
            source_note: "migrasim sensitivity: Morris elementary effects, common random numbers",
        },
    )
    .map_err(|e| CliError::Failure(e.to_string()))?;
    Ok(())
}

fn levers(args: &LeversArgs, geo: &'static Geography) -> Result<(), CliError> {
    let overrides = Overrides { households: Some(args.households), seed: None, set: Vec::new() };
    let baseline = prepare(&args.baseline, &overrides, geo)?.plan;
    let status_quo = prepare(&args.status_quo, &overrides, geo)?.plan;
    check_memory(
        args.households,
        args.threads.map_or_else(default_threads, usize::from),
        years(&baseline) + 1,
        &args.baseline,
    )?;
    let path = args.docs.join("levers.md");
    if !args.check {
        output::check_generated_file(&path, crate::levers::LEVERS_HEADER)?;
    }
    let execution = Execution { replicates: args.replicates, threads: args.threads, quiet: args.quiet, verbose: false };
    let (pool, _) = thread_pool(&execution)?;
    let seeds = crate::ensemble::replicate_seeds(baseline.scenario.run.seed, args.replicates);
    let quiet = args.quiet;
    let (measured, attraction) = pool
        .install(|| {
            let measured = crate::levers::measure(geo, &baseline, &status_quo.scenario, &seeds, |name| {
                if !quiet {
                    eprintln!("measuring: {name}");
                }
            })?;
            if !quiet {
                eprintln!("measuring: the services measure's attraction channel alone");
            }
            let attraction = crate::levers::services_attraction_only(geo, &baseline, &status_quo.scenario, &seeds)?;
            Ok((measured, attraction))
        })
        .map_err(CliError::Failure)?;
    let text =
        crate::levers::levers_md(&measured, &attraction, args.households, &seeds, baseline.scenario.run.last_year);
    if args.check {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            return Err(CliError::Failure(format!(
                "{} is not current: it differs from what the code produces; run `migrasim levers` and commit",
                path.display()
            )));
        }
        if !quiet {
            eprintln!("{} is current", path.display());
        }
        return Ok(());
    }
    output::write_generated_file(&path, text.as_bytes())?;
    if !quiet {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Every rank's input checks must pass before any rank works: `status` is this rank's; the
/// result is this rank's value when every rank passed, else the combined failure. With one
/// process it is `status`.
fn agreed<T>(status: Result<T, CliError>) -> Result<T, CliError> {
    let (value, mine) = match status {
        Ok(v) => (Some(v), Ok(())),
        Err(e) => (None, Err(spread::Failure { code: e.exit_code(), message: e.to_string() })),
    };
    match spread::agree(mine) {
        Ok(()) => Ok(value.expect("a rank that passed has its value")),
        Err(f) if f.code == 2 => Err(CliError::Input(f.message)),
        Err(f) => Err(CliError::Failure(f.message)),
    }
}

/// Claims the output folder (rank 0 alone writes; `None` on the other ranks) as the last input
/// check, and agrees with every rank that the inputs passed before any work starts.
fn begin_output(request: &output::Request) -> Result<Option<Staging>, CliError> {
    agreed(if spread::is_root() { Staging::begin(request).map(Some).map_err(CliError::from) } else { Ok(None) })
}

/// "2 threads", or "3 ranks × 1 thread(s)" in an MPI job, for the closing line of a command.
fn workers(threads: usize) -> String {
    match spread::size() {
        1 => format!("{threads} threads"),
        k => format!("{k} ranks × {threads} thread(s)"),
    }
}

fn thread_pool(execution: &Execution) -> Result<(rayon::ThreadPool, usize), CliError> {
    let threads = threads_of(execution);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| CliError::Failure(format!("cannot start {threads} threads: {e}")))?;
    Ok((pool, threads))
}

fn progress_bar(execution: &Execution, total: u64) -> indicatif::ProgressBar {
    // Under MPI each rank names the units it starts instead (`spread`).
    if execution.quiet || spread::size() > 1 {
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

/// The posterior ensemble `--posterior` names, cut to `--members`; `None` without the flag.
fn load_posterior(args: &PosteriorArgs) -> Result<Option<posterior::Posterior>, CliError> {
    let Some(path) = &args.posterior else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Input(format!(
            "--posterior {}: {e}; allowed: a posterior table written by `migrasim calibrate --ensemble` (scenarios/posterior.csv)",
            path.display()
        ))
    })?;
    let mut ensemble = posterior::read_posterior(&text)
        .map_err(|e| CliError::Input(format!("--posterior {}: {e}", path.display())))?;
    if let Some(k) = args.members {
        let available = ensemble.members.len();
        if k as usize > available {
            return Err(CliError::Input(format!(
                "--members {k}: {} holds {available} parameter sets; allowed: 1–{available}",
                path.display()
            )));
        }
        ensemble.members.truncate(k as usize);
    }
    Ok(Some(ensemble))
}

/// What one scenario simulates: its plan, or one plan per parameter set of `ensemble` (set on the
/// keys the scenario leaves at their calibrated values), each with its label for progress.
fn member_plans(
    geo: &Geography,
    plan: &Plan,
    ensemble: Option<&posterior::Posterior>,
) -> Result<Vec<(Plan, String)>, CliError> {
    let name = &plan.scenario.name;
    let Some(ensemble) = ensemble else {
        return Ok(vec![(plan.clone(), name.clone())]);
    };
    (0..ensemble.members.len())
        .map(|m| {
            let mut scenario = plan.scenario.clone();
            posterior::apply(&mut scenario, ensemble, m);
            let member_plan = Plan::from_scenario(scenario, geo)
                .map_err(|e| CliError::Input(format!("parameter set {m} of the posterior: {e}")))?;
            Ok((member_plan, format!("{name} set {m}")))
        })
        .collect()
}

/// Runs every plan with every seed, unit `p × seeds + r`, spread over the ranks of an MPI job
/// (one process: one after another, each run parallel). Rank 0 receives the runs in unit order
/// (`Some`); the other ranks `None`. `bar` advances by one per simulated year.
fn simulate(
    geo: &Geography,
    plans: &[(Plan, String)],
    seeds: &[u64],
    bar: &indicatif::ProgressBar,
) -> Result<Option<Vec<ensemble::RunResult>>, CliError> {
    let per_plan = seeds.len();
    spread::map_to_root(
        plans.len() * per_plan,
        spread::Local::Serial,
        |u| format!("{} replicate {}", plans[u / per_plan].1, u % per_plan),
        |u| {
            let (plan, label) = &plans[u / per_plan];
            let replicate = u % per_plan;
            Ok(ensemble::run_one(geo, plan, seeds[replicate], |year| {
                bar.set_message(format!("{label} r{replicate} {year}"));
                bar.inc(1);
            }))
        },
    )
    .map_err(CliError::Failure)
}

fn years(plan: &Plan) -> u64 {
    (plan.scenario.run.last_year - plan.scenario.run.first_year + 1) as u64
}

fn run_scenario(args: &RunArgs, geo: &'static Geography) -> Result<(), CliError> {
    let Prepared { plan, inputs, settings } = prepare(&args.scenario, &args.overrides, geo)?;
    let execution = &args.execution;
    let ensemble = load_posterior(&args.posterior)?;
    let members = ensemble.as_ref().map_or(1, |e| e.members.len());
    check_memory(
        plan.scenario.run.households,
        threads_of(execution),
        (years(&plan) + 1) * u64::from(execution.replicates) * members as u64,
        &args.scenario,
    )?;
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("output").join(&plan.scenario.name));
    let plans = member_plans(geo, &plan, ensemble.as_ref())?;
    // Checked and claimed before any work: a refused path costs nothing.
    let (pool, threads) = thread_pool(execution)?;
    let staging = begin_output(&output::Request {
        path: &out_dir,
        explicit: args.out.is_some(),
        force: args.force,
        inputs: &inputs,
    })?;
    let started = Instant::now();
    let seeds = ensemble::replicate_seeds(plan.scenario.run.seed, execution.replicates);
    let bar = progress_bar(execution, years(&plan) * (seeds.len() * members) as u64);
    let runs = pool.install(|| simulate(geo, &plans, &seeds, &bar))?;
    bar.finish_and_clear();
    // Rank 0 writes; the other ranks are done once their runs are gathered.
    let (Some(runs), Some(staging)) = (runs, staging) else {
        return Ok(());
    };
    pool.install(|| -> Result<(), CliError> {
        if execution.verbose {
            print_run_details(&runs);
        }
        if !execution.quiet {
            print!("{}", key_figures(geo, &plan, &runs));
        }
        let output =
            RunOutput { geo, plan: &plan, runs: &runs, members, threads, ranks: spread::size(), settings: &settings };
        report::write_run(staging.path(), &output).map_err(|e| CliError::Failure(e.to_string()))?;
        Ok(())
    })?;
    let (files, warnings) = staging.commit()?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    if !execution.quiet {
        eprintln!(
            "{}: {} households × {} replicate(s) on {} in {:.1}s; wrote {} files to {}",
            plan.scenario.name,
            plan.scenario.run.households,
            seeds.len(),
            workers(threads),
            started.elapsed().as_secs_f64(),
            files.len(),
            out_dir.display()
        );
    }
    Ok(())
}

/// `run --verbose`: each run's timings and what its synthesis found.
fn print_run_details(runs: &[ensemble::RunResult]) {
    for run in runs {
        eprintln!(
            "seed {}: synthesis {:.2}s, calibration {:.2}s, cities+tables {:.2}s, household passes {:.2}s; {:.4} persons per member; synthesis: urban logit shift {:+.4}, rural-hukou share of cross-county migrants {:.1}% (other province {:.1}%, same province {:.1}%), in-situ rural-hukou share of local urban residents {:.1}%",
            run.seed,
            run.timings.synthesis,
            run.timings.calibration,
            run.timings.cities_and_tables,
            run.timings.household_passes,
            run.persons_per_member,
            run.synthesis.urban_logit_shift,
            100.0 * run.synthesis.rural_origin_share_cross_county,
            100.0 * run.synthesis.rural_origin_share_other_province,
            100.0 * run.synthesis.rural_origin_share_same_province,
            100.0 * run.synthesis.in_situ_rural_hukou_share,
        );
    }
}

/// The results a run prints on stdout: one row per simulated year (replicate means).
fn key_figures(geo: &Geography, plan: &Plan, runs: &[ensemble::RunResult]) -> String {
    use std::fmt::Write as _;
    let metrics: Vec<_> = runs.iter().map(|r| results::metrics(geo, plan, r)).collect();
    let urban = results::bands(&metrics, |m| m.urbanization_rate_pct);
    let hukou = results::bands(&metrics, |m| m.hukou_urbanization_rate_pct);
    let gap = results::bands(&metrics, |m| m.gap_pp);
    let settled = results::bands(&metrics, |m| m.settlements / 1e6);
    let mut text = format!(
        "{:>4}  {:>14}  {:>8}  {:>7}  {:>14}\n",
        "year", "urbanization %", "hukou %", "gap pp", "settlements M"
    );
    for i in 0..urban.len() {
        let _ = writeln!(
            text,
            "{:>4}  {:>14.2}  {:>8.2}  {:>7.2}  {:>14.2}",
            urban[i].0, urban[i].1.mean, hukou[i].1.mean, gap[i].1.mean, settled[i].1.mean
        );
    }
    text
}

fn compare_scenarios(args: &CompareArgs, geo: &'static Geography) -> Result<(), CliError> {
    let execution = &args.execution;
    let focus = focus_provinces(geo, &args.focus)?;
    let mut plans = Vec::with_capacity(args.scenarios.len());
    let mut inputs = Vec::new();
    let mut settings = Vec::new();
    for path in &args.scenarios {
        let prepared = prepare(path, &args.overrides, geo)?;
        plans.push(prepared.plan);
        inputs.extend(prepared.inputs);
        settings = prepared.settings;
    }
    let ensemble = load_posterior(&args.posterior)?;
    let members = ensemble.as_ref().map_or(1, |e| e.members.len());
    // Scenarios run one after another; the year records of all of them are kept.
    let kept_years: u64 = plans.iter().map(|p| (years(p) + 1) * u64::from(execution.replicates) * members as u64).sum();
    for (path, plan) in args.scenarios.iter().zip(&plans) {
        check_memory(plan.scenario.run.households, threads_of(execution), kept_years, path)?;
    }
    check_same_years(&args.scenarios, &plans)?;
    let names = distinct_names(&mut plans);
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("output").join(default_compare_folder(&names)));
    let mut every_plan = Vec::with_capacity(plans.len() * members);
    for plan in &plans {
        every_plan.extend(member_plans(geo, plan, ensemble.as_ref())?);
    }
    let (pool, threads) = thread_pool(execution)?;
    let staging = begin_output(&output::Request {
        path: &out_dir,
        explicit: args.out.is_some(),
        force: args.force,
        inputs: &inputs,
    })?;
    let started = Instant::now();
    // Common random numbers: every scenario uses the first scenario's replicate seeds.
    let seeds = ensemble::replicate_seeds(plans[0].scenario.run.seed, execution.replicates);
    let total: u64 = plans.iter().map(|p| years(p) * (seeds.len() * members) as u64).sum();
    let bar = progress_bar(execution, total);
    // Every scenario × parameter set × replicate is one unit of work, scenario-major.
    let runs = pool.install(|| simulate(geo, &every_plan, &seeds, &bar))?;
    bar.finish_and_clear();
    drop(every_plan);
    let (Some(runs), Some(staging)) = (runs, staging) else {
        return Ok(());
    };
    let compared = by_scenario(geo, plans, runs, members, seeds.len());
    pool.install(|| -> Result<(), CliError> {
        compare::write_comparison(staging.path(), geo, &compared, &focus, threads, &settings)
            .map_err(|e| CliError::Failure(e.to_string()))?;
        Ok(())
    })?;
    if !execution.quiet
        && let Ok(summary) = std::fs::read_to_string(staging.path().join("summary.md"))
    {
        print!("{summary}");
    }
    let (files, warnings) = staging.commit()?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    if !execution.quiet {
        eprintln!(
            "compared {} scenarios × {} replicate(s) on {} in {:.1}s; wrote {} files to {}",
            names.len(),
            seeds.len(),
            workers(threads),
            started.elapsed().as_secs_f64(),
            files.len(),
            out_dir.display()
        );
    }
    Ok(())
}

/// The runs (scenario-major: each scenario's parameter sets × replicates) grouped by scenario.
fn by_scenario(
    geo: &Geography,
    plans: Vec<Plan>,
    runs: Vec<ensemble::RunResult>,
    members: usize,
    replicates: usize,
) -> Vec<Compared> {
    let mut runs = runs.into_iter();
    plans
        .into_iter()
        .map(|plan| {
            let own: Vec<_> = runs.by_ref().take(members * replicates).collect();
            Compared::with_members(geo, plan, own, members)
        })
        .collect()
}

/// The provinces `--focus` names (by name, short name or code), each once, in the order given.
fn focus_provinces(geo: &Geography, names: &[String]) -> Result<Vec<usize>, CliError> {
    let mut focus = Vec::with_capacity(names.len());
    for name in names {
        let province = geo.find_province(name).ok_or_else(|| {
            CliError::Input(format!(
                "--focus {name}: no such province; allowed: {}",
                geo.provinces
                    .iter()
                    .map(|p| format!("{} ({}, {})", p.name_en, p.name_zh, p.code / 10_000))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if !focus.contains(&province) {
            focus.push(province);
        }
    }
    Ok(focus)
}

/// Differences are only meaningful between runs over the same years from the same state: every
/// scenario must simulate the first one's years.
fn check_same_years(paths: &[PathBuf], plans: &[Plan]) -> Result<(), CliError> {
    let span = |plan: &Plan| (plan.scenario.run.first_year, plan.scenario.run.last_year);
    for (path, plan) in paths.iter().zip(plans).skip(1) {
        if span(plan) != span(&plans[0]) {
            let (a0, a1) = span(&plans[0]);
            let (b0, b1) = span(plan);
            return Err(CliError::Input(format!(
                "cannot compare runs over different years: {} simulates {a0}–{a1} (base year {}), {} simulates {b0}–{b1} (base year {}); allowed: scenarios with the same `run.first_year` and `run.last_year`",
                paths[0].display(),
                a0 - 1,
                path.display(),
                b0 - 1
            )));
        }
    }
    Ok(())
}

/// The scenarios' names, a repeated one suffixed with its position (`name-2`) in the plan too,
/// so tables and files tell the scenarios apart.
fn distinct_names(plans: &mut [Plan]) -> Vec<String> {
    let mut names: Vec<String> = plans.iter().map(|p| p.scenario.name.clone()).collect();
    for i in 1..names.len() {
        if names[..i].contains(&names[i]) {
            names[i] = format!("{}-{}", names[i], i + 1);
            plans[i].scenario.name = names[i].clone();
        }
    }
    names
}

/// `compare-A-vs-B[-vs-C…]`, shortened with a count when the names would make an unwieldy path.
fn default_compare_folder(names: &[String]) -> String {
    let full = format!("compare-{}", names.join("-vs-"));
    if full.len() <= 120 { full } else { format!("compare-{}-and-{}-more", names[0], names.len() - 1) }
}

/// `calibrate --ensemble N`: the posterior ensemble, or with `--check` the reduced check of the
/// shipped one.
fn calibrate_ensemble(
    args: &CalibrateArgs,
    geo: &'static Geography,
    backcast: &crate::scenario::Scenario,
    n: usize,
) -> Result<(), CliError> {
    let validation_path = args.docs.join("validation.md");
    let quiet = args.quiet;
    let started = Instant::now();
    if args.check {
        return check_ensemble(args, geo, backcast, n, started);
    }
    // Rank 0 writes both files: it checks them before any rank works.
    let current = agreed(if spread::is_root() {
        output::check_generated_file(&args.posterior, posterior::POSTERIOR_HEADER)
            .and_then(|()| output::check_generated_file(&validation_path, VALIDATION_HEADER))
            .map_err(CliError::from)
            .and_then(|()| {
                std::fs::read_to_string(&validation_path).map_err(|e| {
                    CliError::Input(format!(
                        "{}: {e}; run `migrasim calibrate` first (the ensemble is built around its fit)",
                        validation_path.display()
                    ))
                })
            })
    } else {
        Ok(String::new())
    })?;
    let seed = backcast.run.seed;
    let (found, log) = posterior::abc_smc_to(geo, backcast, n, seed, args.tolerance, |line| {
        if !quiet && spread::is_root() {
            eprintln!("{line}");
        }
    })
    .map_err(CliError::Failure)?;
    if !spread::is_root() {
        return Ok(());
    }
    let csv = posterior::posterior_csv(&found, &log, args.households, seed);
    let shipped = posterior::read_posterior(&csv).map_err(CliError::Failure)?;
    let validation = posterior::with_section(&current, &posterior::posterior_section(&shipped));
    output::write_generated_file(&args.posterior, csv.as_bytes())?;
    output::write_generated_file(&validation_path, validation.as_bytes())?;
    if !quiet {
        eprintln!(
            "wrote {} ({n} members) and the posterior section of {} ({} backcasts in {:.0}s)",
            args.posterior.display(),
            validation_path.display(),
            log.backcasts,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `calibrate --ensemble N --check`: the shipped posterior has N members and the code's
/// parameters, three of its rows and the calibrated point reproduce their recorded distances,
/// every member is within the tolerances, and `validation.md` shows it.
fn check_ensemble(
    args: &CalibrateArgs,
    geo: &'static Geography,
    backcast: &crate::scenario::Scenario,
    n: usize,
    started: Instant,
) -> Result<(), CliError> {
    let validation_path = args.docs.join("validation.md");
    let text = std::fs::read_to_string(&args.posterior)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.posterior.display())))?;
    let shipped =
        posterior::read_posterior(&text).map_err(|e| CliError::Input(format!("{}: {e}", args.posterior.display())))?;
    let mut problems = Vec::new();
    if shipped.members.len() != n {
        problems.push(format!("{} holds {} members, not {n}", args.posterior.display(), shipped.members.len()));
    }
    let expected_keys: Vec<String> = posterior::parameters().iter().map(|p| p.key.to_string()).collect();
    if shipped.keys != expected_keys {
        problems.push("its parameter columns differ from the code's priors".to_string());
    }
    let last = shipped.members.len() - 1;
    let which = [0, last / 2, last];
    for (row, recorded, recomputed) in posterior::recompute(geo, backcast, &shipped, &which) {
        if !args.quiet {
            eprintln!("row {row}: distance {recorded:.6} recorded, {recomputed:.6} now");
        }
        if (recorded - recomputed).abs() > 5e-6 {
            problems.push(format!("row {row} now has distance {recomputed:.6}, recorded {recorded:.6}"));
        }
    }
    if let Some(m) = shipped.members.iter().position(|m| m.distance > 1.0) {
        problems.push(format!("member {m} is outside the tolerances"));
    }
    let current = std::fs::read_to_string(&validation_path).unwrap_or_default();
    let section = posterior::posterior_section(&shipped);
    if posterior::section_of(&current).as_deref() != Some(section.as_str()) {
        problems
            .push(format!("{}'s posterior section is not what the shipped posterior gives", validation_path.display()));
    }
    if !problems.is_empty() {
        return Err(CliError::Failure(format!(
            "the posterior ensemble is not current: {}; run `migrasim calibrate --ensemble {n}` and commit",
            problems.join("; ")
        )));
    }
    if !args.quiet {
        eprintln!(
            "posterior ensemble is current (reduced check: 4 backcasts in {:.0}s)",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// First line of the files `calibrate` generates: a file is replaced only if it starts so.
const CALIBRATION_HEADER: &str = "# Calibrated parameters, generated by `migrasim calibrate`";
const VALIDATION_HEADER: &str = "# Validation: the 2020→2023 backcast";
/// Charts `calibrate` writes beside `validation.md`.
const VALIDATION_CHARTS: [&str; 2] = ["validation-stocks.png", "validation-stocks.svg"];

fn calibrate(args: &CalibrateArgs, geo: &'static Geography) -> Result<(), CliError> {
    let overrides = Overrides { households: Some(args.households), seed: None, set: Vec::new() };
    let plan = prepare(&args.backcast, &overrides, geo)?.plan;
    if !(1.0..=100.0).contains(&args.tolerance) || (args.tolerance != 1.0 && args.ensemble.is_none()) {
        return Err(CliError::Input(format!(
            "--tolerance {}: allowed: 1 to 100, and only with --ensemble",
            args.tolerance
        )));
    }
    check_memory(
        args.households,
        args.threads.map_or_else(default_threads, usize::from),
        years(&plan) + 1,
        &args.backcast,
    )?;
    let validation_path = args.docs.join("validation.md");
    if !args.check {
        refuse_calibration_overwrites(args, &validation_path)?;
    }
    let execution = Execution { replicates: 1, threads: args.threads, quiet: args.quiet, verbose: false };
    let (pool, _) = thread_pool(&execution)?;
    if let Some(n) = args.ensemble {
        return pool.install(|| calibrate_ensemble(args, geo, &plan.scenario, n as usize));
    }
    let started = Instant::now();
    let quiet = args.quiet;
    let fit = pool.install(|| {
        crate::calibrate::fit(geo, &plan.scenario, args.households, args.rounds as usize, |line| {
            if !quiet {
                eprintln!("{line}");
            }
        })
    });
    for at_bound in &fit.at_bounds {
        eprintln!("warning: {}", at_bound.describe());
    }
    let failures = fit.failures();
    if !failures.is_empty() {
        return Err(CliError::Failure(format!(
            "the backcast cannot be fitted: {}. Nothing was written; check {} (can its targets be reached?) or the search range in src/calibrate.rs",
            failures.iter().map(|f| f.describe()).collect::<Vec<_>>().join("; "),
            args.backcast.display()
        )));
    }
    let calibration = crate::calibrate::calibration_toml(&fit, args.households);
    // The chart is drawn into a scratch folder first so --check writes nothing.
    let scratch = tempfile::Builder::new()
        .prefix("migrasim-calibrate-")
        .tempdir()
        .map_err(|e| CliError::Failure(format!("cannot create a scratch folder: {e}")))?;
    let (validation, charts) = crate::calibrate::validation_report(geo, &fit, args.households, scratch.path())
        .map_err(|e| CliError::Failure(e.to_string()))?;
    // The posterior section belongs to `--ensemble`: the point fit keeps it as it is.
    let current = std::fs::read_to_string(&validation_path).unwrap_or_default();
    let validation = posterior::with_section(&validation, posterior::section_of(&current).as_deref().unwrap_or(""));
    let fitted =
        Calibrated { fit: &fit, calibration: &calibration, validation: &validation, validation_path: &validation_path };
    if args.check {
        return check_calibration(args, &fitted, started);
    }
    write_calibration(args, &fitted, &charts, started)
}

/// Every file the fit will replace is checked before the minute of work: `calibration.toml` and
/// `validation.md` must be migrasim's own, and without a `validation.md` no chart of its name may
/// be in the way.
fn refuse_calibration_overwrites(args: &CalibrateArgs, validation_path: &Path) -> Result<(), CliError> {
    output::check_generated_file(&args.calibration, CALIBRATION_HEADER)?;
    output::check_generated_file(validation_path, VALIDATION_HEADER)?;
    if !validation_path.exists() {
        for chart in VALIDATION_CHARTS {
            let path = args.docs.join(chart);
            if std::fs::symlink_metadata(&path).is_ok() {
                return Err(CliError::Input(format!(
                    "{} exists but {} does not, so migrasim did not write it; it never replaces it. Choose another --docs folder",
                    path.display(),
                    validation_path.display()
                )));
            }
        }
    }
    Ok(())
}

/// What the point fit produced: the fit, and the texts of `calibration.toml` and `validation.md`.
struct Calibrated<'a> {
    fit: &'a crate::calibrate::Fit,
    calibration: &'a str,
    validation: &'a str,
    validation_path: &'a Path,
}

/// `calibrate --check`: the shipped files must be what the fit produces.
fn check_calibration(args: &CalibrateArgs, fitted: &Calibrated, started: Instant) -> Result<(), CliError> {
    let mut stale = Vec::new();
    for (path, text) in [(args.calibration.as_path(), fitted.calibration), (fitted.validation_path, fitted.validation)]
    {
        if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
            stale.push(path.display().to_string());
        }
    }
    if !stale.is_empty() {
        return Err(CliError::Failure(format!(
            "calibration is not current: {} differ from what the code produces; run `migrasim calibrate` and commit",
            stale.join(", ")
        )));
    }
    if !args.quiet {
        eprintln!(
            "calibration is current ({} backcast runs in {:.0}s)",
            fitted.fit.evaluations,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Writes `calibration.toml`, the charts (from the scratch folder) and last `validation.md`, and
/// prints the fitted values.
fn write_calibration(
    args: &CalibrateArgs,
    fitted: &Calibrated,
    charts: &[PathBuf],
    started: Instant,
) -> Result<(), CliError> {
    output::write_generated_file(&args.calibration, fitted.calibration.as_bytes())?;
    for chart in charts {
        if let Some(name) = chart.file_name() {
            let bytes = std::fs::read(chart).map_err(|e| CliError::Failure(format!("{}: {e}", chart.display())))?;
            output::write_generated_file(&args.docs.join(name), &bytes)?;
        }
    }
    // Last, so a validation.md in place vouches for the charts beside it.
    output::write_generated_file(fitted.validation_path, fitted.validation.as_bytes())?;
    if !args.quiet {
        for (key, value) in &fitted.fit.values {
            println!("{key} = {value}");
        }
        eprintln!(
            "wrote {} and {} ({} backcast runs in {:.0}s)",
            args.calibration.display(),
            fitted.validation_path.display(),
            fitted.fit.evaluations,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
