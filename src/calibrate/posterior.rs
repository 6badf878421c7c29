//! Posterior ensembles (`migrasim calibrate --ensemble N`): the behaviour parameters that carry
//! uncertainty, their priors, approximate Bayesian computation by sequential Monte Carlo on the
//! 2020→2023 backcast, the posterior table `scenarios/posterior.csv`, and applying one member to
//! a scenario for the forward runs.
//!
//! The method is the ABC-SMC of Drovandi & Pettitt (2011, *Biometrics* 67:225–233): equally
//! weighted particles; each generation drops the worst half by distance, which sets the next
//! tolerance, and replenishes them from the survivors by ABC-MCMC moves (a Gaussian random walk
//! with twice the survivors' variance, accepted when inside the prior and within the tolerance:
//! with uniform priors and a symmetric kernel the Metropolis–Hastings ratio is one), the number
//! of moves set so a particle stays put with chance ≤ 5%. It stops once every particle is within
//! the stated tolerances (distance ≤ 1). A candidate's backcast always uses the backcast's seed, so
//! its distance is a deterministic function of its parameters, proposals are keyed by
//! (seed, generation, slot, step), and the posterior does not depend on the thread count.

use super::{Official, Target, official, province_errors, province_population_growth, simulated_value, target_value};
use crate::engine::{Plan, Simulation, YearRecord};
use crate::geo::Geography;
use crate::population::{Population, synthesize};
use crate::rng::{Draws, Purpose};
use crate::scenario::Scenario;
use crate::spread;
use rand::RngExt;
use rand_distr::StandardNormal;
use std::fmt::Write as _;

/// The last backcast year: scalar summaries of year tables are read there.
const REFERENCE_YEAR: i32 = 2023;

/// How a parameter's prior is bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bounds {
    /// An absolute range (the evidence table's, `docs/evidence.md` §1).
    Range(f64, f64),
    /// The calibrated value ± this half-width: a weakly informative box for a parameter the
    /// backcast identifies (its data, not this box, decide the posterior).
    AroundCalibrated(f64),
}

/// An uncertain parameter: its key, prior and where the prior comes from.
pub struct Parameter {
    pub key: &'static str,
    pub bounds: Bounds,
    pub source: &'static str,
    /// The value (of a year table: its value in 2023; of a place table: the default's).
    get: fn(&Scenario) -> f64,
    /// Shifts the key by `delta` (the whole year or place table).
    shift: fn(&mut Scenario, f64),
}

/// A parameter whose key is a plain number: read and shifted in place.
macro_rules! scalar {
    ($key:literal, $bounds:expr, $source:literal, $($field:ident).+) => {
        Parameter {
            key: $key,
            bounds: $bounds,
            source: $source,
            get: |s| s.$($field).+,
            shift: |s, d| s.$($field).+ += d,
        }
    };
}

/// Every parameter the ensemble varies, in column order of `posterior.csv`.
pub fn parameters() -> Vec<Parameter> {
    let mut params = calibrated_parameters();
    params.extend(evidence_parameters());
    params
}

/// The parameters the point fit calibrates (`calibrate.rs`), with priors around its values
/// (the in-place rate within a stated range).
fn calibrated_parameters() -> Vec<Parameter> {
    vec![
        scalar!(
            "settlement.willingness.base",
            Bounds::AroundCalibrated(0.75),
            "calibrated (hukou rate 2023)",
            settlement.willingness.base
        ),
        Parameter {
            key: "behaviour.rural_urban_move_rate_pct",
            bounds: Bounds::AroundCalibrated(0.6),
            source: "calibrated (outgoing migrant workers 2023); shifts the whole year table",
            get: |s| s.behaviour.rural_urban_move_rate_pct.at(REFERENCE_YEAR),
            shift: |s, d| {
                s.behaviour.rural_urban_move_rate_pct = s.behaviour.rural_urban_move_rate_pct.map(|v| (v + d).max(0.0))
            },
        },
        Parameter {
            key: "services.school_seat_growth_pct",
            bounds: Bounds::AroundCalibrated(1.0),
            source: "calibrated (public-school share of migrant children 2023)",
            get: |s| s.services.school_seat_growth_pct.default_value().at(REFERENCE_YEAR),
            shift: |s, d| s.services.school_seat_growth_pct = s.services.school_seat_growth_pct.map(|v| v + d),
        },
        scalar!(
            "behaviour.beta_same_province",
            Bounds::AroundCalibrated(1.0),
            "calibrated (cross-province share of outgoing migrant workers 2023)",
            behaviour.beta_same_province
        ),
        Parameter {
            key: "in_place.rate_pct",
            bounds: Bounds::Range(0.0, 0.5),
            source: "assumption (calibrated to 0, its lower bound; 0–0.5 %/yr)",
            get: |s| s.in_place.rate_pct.at(REFERENCE_YEAR),
            shift: |s, d| s.in_place.rate_pct = s.in_place.rate_pct.map(|v| (v + d).max(0.0)),
        },
    ]
}

/// The parameters the backcast does not fit, with priors from `docs/evidence.md`.
fn evidence_parameters() -> Vec<Parameter> {
    vec![
        scalar!(
            "settlement.willingness.service_gain",
            Bounds::Range(0.5, 2.5),
            "evidence.md §1 (assumption, direction cited)",
            settlement.willingness.service_gain
        ),
        scalar!(
            "settlement.willingness.with_children",
            Bounds::Range(0.2, 1.0),
            "evidence.md §1 (assumption, direction cited)",
            settlement.willingness.with_children
        ),
        scalar!(
            "settlement.willingness.owns_home",
            Bounds::Range(0.0, 1.0),
            "evidence.md §1 (assumption, direction disputed)",
            settlement.willingness.owns_home
        ),
        scalar!(
            "settlement.willingness.in_situ",
            Bounds::Range(-1.0, 0.0),
            "evidence.md §1 (derived, weak)",
            settlement.willingness.in_situ
        ),
        scalar!(
            "settlement.willingness.insured",
            Bounds::Range(0.0, 0.41),
            "evidence.md §5 (insured → hukou intention, OR 1.0–1.5)",
            settlement.willingness.insured
        ),
        scalar!(
            "services.reunify_rate_pct",
            Bounds::Range(1.0, 6.0),
            "evidence.md §1 (derived, weak)",
            services.reunify_rate_pct
        ),
        scalar!(
            "behaviour.beta_housing",
            Bounds::Range(0.25, 0.75),
            "evidence.md §1 (derived: housing share of spending)",
            behaviour.beta_housing
        ),
        scalar!(
            "behaviour.insured_stay",
            Bounds::Range(0.10, 0.47),
            "evidence.md §5 (insured → stay intention, OR 1.1–1.6)",
            behaviour.insured_stay
        ),
        scalar!(
            "behaviour.owner_stay",
            Bounds::Range(0.26, 1.10),
            "evidence.md §5 (ownership → stay intention, OR 1.3–3)",
            behaviour.owner_stay
        ),
        scalar!(
            "behaviour.tenant_stay",
            Bounds::Range(0.0, 0.6),
            "evidence.md §5 (public rental tenant → settlement intention)",
            behaviour.tenant_stay
        ),
        scalar!(
            "fiscal.seats_per_settled_child",
            Bounds::Range(0.0, 0.3),
            "evidence.md §1 (derived, weak)",
            fiscal.seats_per_settled_child
        ),
        scalar!(
            "fiscal.units_per_settled_household",
            Bounds::Range(0.0, 0.35),
            "evidence.md §1 (upper bound derived)",
            fiscal.units_per_settled_household
        ),
    ]
}

impl Parameter {
    /// The prior's range given the calibrated (reference) value.
    pub fn range(&self, reference: f64) -> (f64, f64) {
        match self.bounds {
            Bounds::Range(low, high) => (low, high),
            Bounds::AroundCalibrated(w) => (reference - w, reference + w),
        }
    }

    pub fn value(&self, s: &Scenario) -> f64 {
        (self.get)(s)
    }

    /// Sets the key to `value` by shifting it (a year table keeps its shape).
    pub fn set(&self, s: &mut Scenario, value: f64) {
        let delta = value - (self.get)(s);
        (self.shift)(s, delta);
    }
}

/// A target of the ensemble's distance: its label, tolerance and the error of a backcast.
pub struct TargetError {
    pub label: String,
    pub tolerance: f64,
    pub error: f64,
}

/// The backcast's errors on every target the ensemble must reproduce: national rates year by
/// year, the hukou rate, migrant workers and their cross-province share, the public-school share,
/// and the provinces' urbanization rates and population growth (mean absolute errors).
pub fn target_errors(geo: &Geography, records: &[YearRecord], scale: f64) -> Vec<TargetError> {
    let o: Official = official();
    let (base, last) = (records[0].year, records.last().expect("at least the base year").year);
    let mut errors = Vec::new();
    let mut national = |target: Target, label: String| {
        let goal = target_value(target, &o, base, last);
        if goal.is_finite() {
            errors.push(TargetError {
                label,
                tolerance: target.tolerance(),
                error: target.error(simulated_value(target, records, scale), goal),
            });
        }
    };
    for year in base + 1..=last {
        national(Target::UrbanizationIn(year), format!("urbanization rate {year} (pp)"));
    }
    national(Target::HukouLast, format!("hukou rate {last} (pp)"));
    national(Target::OutgoingWorkersBase, format!("outgoing migrant workers {base} (relative)"));
    national(Target::OutgoingWorkersLast, format!("outgoing migrant workers {last} (relative)"));
    national(Target::CrossProvinceShareBase, format!("cross-province share of them {base} (pp)"));
    national(Target::CrossProvinceShareLast, format!("cross-province share of them {last} (pp)"));
    national(Target::PublicSchoolLast, format!("public-school share of migrant children {last} (pp)"));
    let mae = |values: Vec<f64>| values.iter().map(|v| v.abs()).sum::<f64>() / values.len().max(1) as f64;
    errors.push(TargetError {
        label: "provincial urbanization rates, mean absolute error (pp)".to_string(),
        tolerance: PROVINCE_RATE_TOLERANCE,
        error: mae(province_errors(geo, records).iter().map(|(_, e)| *e).collect()),
    });
    errors.push(TargetError {
        label: "provincial population growth, mean absolute error (%/yr)".to_string(),
        tolerance: PROVINCE_GROWTH_TOLERANCE,
        error: mae(province_population_growth(geo, records).iter().map(|(_, s, o)| s - o).collect()),
    });
    errors
}

/// Tolerances of the provincial targets: about three times the point fit's errors (0.09 pp and
/// 0.06 %/yr, `docs/validation.md`), the size of the revisions between provincial bulletins.
const PROVINCE_RATE_TOLERANCE: f64 = 0.3;
const PROVINCE_GROWTH_TOLERANCE: f64 = 0.2;

/// The distance of a backcast: the largest error in units of its tolerance (≤ 1: every target
/// reproduced within its tolerance).
pub fn distance(errors: &[TargetError]) -> f64 {
    errors.iter().map(|e| (e.error / e.tolerance).abs()).fold(0.0, f64::max)
}

/// One particle: parameter values, its distance and its target errors.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Particle {
    pub values: Vec<f64>,
    pub distance: f64,
    pub errors: Vec<f64>,
}

/// The posterior: parameter keys, the calibrated (reference) values and distance, and the members.
#[derive(Debug, Clone)]
pub struct Posterior {
    /// How the search went (the file's second comment line), for the report.
    pub search: String,
    pub keys: Vec<String>,
    pub target_labels: Vec<String>,
    pub reference: Particle,
    pub members: Vec<Particle>,
}

/// Runs the backcast with `values` set on `backcast` (the calibrated scenario) and returns the
/// particle.
/// `population` is the backcast's synthesis, which no varied parameter enters.
fn evaluate(
    geo: &Geography,
    backcast: &Scenario,
    population: &Population,
    params: &[Parameter],
    values: &[f64],
) -> (Particle, Vec<String>) {
    let mut scenario = backcast.clone();
    for (p, &v) in params.iter().zip(values) {
        p.set(&mut scenario, v);
    }
    let plan = Plan::from_scenario(scenario, geo).expect("a backcast with parameters inside their priors resolves");
    let mut sim = Simulation::from_population(geo, plan, population.clone(), 0.0);
    sim.run(|_| {});
    let errors = target_errors(geo, &sim.records, sim.persons_per_member);
    (
        Particle {
            values: values.to_vec(),
            distance: distance(&errors),
            errors: errors.iter().map(|e| e.error).collect(),
        },
        errors.into_iter().map(|e| e.label).collect(),
    )
}

/// A standard normal draw (`rand_distr`'s ziggurat) from a keyed stream.
fn normal(draws: &mut Draws) -> f64 {
    draws.sample(StandardNormal)
}

/// `v` reflected into [lo, hi] (as often as needed).
fn reflect(v: f64, lo: f64, hi: f64) -> f64 {
    let width = hi - lo;
    if width <= 0.0 {
        return lo;
    }
    let t = (v - lo).rem_euclid(2.0 * width);
    lo + if t > width { 2.0 * width - t } else { t }
}

/// Proportion of particles dropped (and replenished) each generation.
const DROP: f64 = 0.5;
/// Largest chance a replenished particle never moves (sets the number of MCMC moves).
const STAY_CHANCE: f64 = 0.05;
const MAX_GENERATIONS: usize = 25;
const MAX_MOVES: usize = 40;

/// What the search did, for the report and the log.
#[derive(Debug, Clone, Default)]
pub struct SmcLog {
    /// Per generation: tolerance, MCMC moves per particle, acceptance rate, backcasts run.
    pub generations: Vec<(f64, usize, f64, usize)>,
    pub backcasts: usize,
}

/// ABC-SMC: `n` equally weighted particles within the stated tolerances, from the priors around
/// `backcast` (the calibrated backcast scenario). Fails if the acceptance of moves collapses
/// before every particle is within tolerance, saying how close it came.
pub fn abc_smc(
    geo: &Geography,
    backcast: &Scenario,
    n: usize,
    seed: u64,
    progress: impl FnMut(&str),
) -> Result<(Posterior, SmcLog), String> {
    abc_smc_to(geo, backcast, n, seed, 1.0, progress)
}

/// [`abc_smc`] down to `target` times the stated tolerances (tests use a looser target on a
/// small population, whose sampling noise alone exceeds the tolerances).
pub fn abc_smc_to(
    geo: &Geography,
    backcast: &Scenario,
    n: usize,
    seed: u64,
    target: f64,
    mut progress: impl FnMut(&str),
) -> Result<(Posterior, SmcLog), String> {
    let params = parameters();
    let population = synthesize(geo, backcast);
    let reference_values: Vec<f64> = params.iter().map(|p| p.value(backcast)).collect();
    let ranges: Vec<(f64, f64)> = params.iter().zip(&reference_values).map(|(p, &r)| p.range(r)).collect();
    let smc = Smc { geo, backcast, population: &population, params: &params, ranges: &ranges, seed };
    let (reference, labels) = smc.evaluate(&reference_values);
    progress(&format!(
        "ensemble: calibrated point at distance {:.3}; {} parameters, {} targets",
        reference.distance,
        params.len(),
        labels.len()
    ));
    let mut log = SmcLog::default();
    let mut particles = smc.prior(n)?;
    log.backcasts += n;
    let mut moves = 3usize;
    for generation in 1..=MAX_GENERATIONS {
        // Sort by distance (ties by slot order, which the stable sort keeps).
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| particles[a].distance.total_cmp(&particles[b].distance));
        let keep_at_least = n - (DROP * n as f64).floor() as usize;
        let tolerance = particles[order[keep_at_least - 1]].distance.max(target);
        let kept: Vec<usize> = order.iter().copied().filter(|&i| particles[i].distance <= tolerance).collect();
        if kept.len() == n && tolerance <= target {
            progress(&format!("ensemble: all {n} particles within tolerance after {} backcasts", log.backcasts));
            break;
        }
        if generation == MAX_GENERATIONS {
            return Err(format!(
                "the ensemble did not reach the tolerances in {MAX_GENERATIONS} generations: the tolerance stands at {tolerance:.2} times the stated ones with {} of {n} particles within it",
                kept.len()
            ));
        }
        let scale = walk_scale(&particles, &kept, params.len());
        let dropped: Vec<usize> = order.iter().copied().filter(|&i| particles[i].distance > tolerance).collect();
        let survivors: Vec<Particle> = kept.iter().map(|&i| particles[i].clone()).collect();
        let step = Generation { generation, survivors: &survivors, scale: &scale, tolerance, moves };
        let moved = smc.replenish(&step, &dropped)?;
        let accepted: usize = moved.iter().map(|m| m.1).sum();
        let run: usize = moved.iter().map(|m| m.2).sum();
        let proposals = dropped.len() * moves;
        let rate = accepted as f64 / proposals.max(1) as f64;
        log.backcasts += run;
        log.generations.push((tolerance, moves, rate, run));
        progress(&format!(
            "ensemble: generation {generation}: tolerance {tolerance:.2}, {} particles replenished with {moves} moves each, acceptance {:.1}%, {} backcasts so far",
            dropped.len(),
            100.0 * rate,
            log.backcasts
        ));
        for (&slot, (particle, _, _)) in dropped.iter().zip(moved) {
            particles[slot] = particle;
        }
        moves = next_moves(moves, rate).ok_or_else(|| {
            format!(
                "the ensemble's moves stopped being accepted at {tolerance:.2} times the stated tolerances ({} of {n} particles within them): the priors and the targets disagree",
                kept.len()
            )
        })?;
    }
    Ok((
        Posterior {
            search: String::new(),
            keys: params.iter().map(|p| p.key.to_string()).collect(),
            target_labels: labels,
            reference,
            members: particles,
        },
        log,
    ))
}

/// MCMC moves per particle in the next generation, given this one's acceptance `rate`: enough
/// that a particle stays put with chance at most `STAY_CHANCE`; the most allowed once nothing was
/// accepted, and `None` when even that accepted nothing.
fn next_moves(moves: usize, rate: f64) -> Option<usize> {
    if rate <= 0.0 {
        if moves == MAX_MOVES {
            return None;
        }
        Some(MAX_MOVES)
    } else {
        Some(((STAY_CHANCE.ln() / (1.0 - rate).ln()).ceil() as usize).clamp(2, MAX_MOVES))
    }
}

/// The seed key of a draw: generation, particle slot and move.
fn draw_key(generation: usize, slot: usize, step: usize) -> u64 {
    ((generation as u64) << 40) | ((slot as u64) << 12) | step as u64
}

/// Random-walk scale: the survivors' (`kept`) spread per parameter × 2.38/√d (the optimal scaling
/// of a Gaussian random walk, Roberts, Gelman & Gilks 1997).
fn walk_scale(particles: &[Particle], kept: &[usize], parameters: usize) -> Vec<f64> {
    let step = 2.38 / (parameters as f64).sqrt();
    (0..parameters)
        .map(|k| {
            let values: Vec<f64> = kept.iter().map(|&i| particles[i].values[k]).collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            step * var.sqrt()
        })
        .collect()
}

/// What the search works with: the calibrated backcast, its synthesis and the priors.
struct Smc<'a> {
    geo: &'a Geography,
    backcast: &'a Scenario,
    population: &'a Population,
    params: &'a [Parameter],
    /// The priors' ranges.
    ranges: &'a [(f64, f64)],
    seed: u64,
}

/// One generation's replenishing: the survivors to draw from, the random walk's scale per
/// parameter, the tolerance and the moves per particle.
struct Generation<'a> {
    generation: usize,
    survivors: &'a [Particle],
    scale: &'a [f64],
    tolerance: f64,
    moves: usize,
}

impl Smc<'_> {
    fn evaluate(&self, values: &[f64]) -> (Particle, Vec<String>) {
        evaluate(self.geo, self.backcast, self.population, self.params, values)
    }

    fn inside(&self, values: &[f64]) -> bool {
        values.iter().zip(self.ranges).all(|(v, (lo, hi))| (*lo..=*hi).contains(v))
    }

    /// Generation 0: `n` particles drawn from the prior.
    fn prior(&self, n: usize) -> Result<Vec<Particle>, String> {
        spread::map(
            n,
            spread::Local::Parallel,
            |slot| format!("particle {slot} of the prior"),
            |slot| {
                let mut draws = Draws::new(self.seed, 0, draw_key(0, slot, 0), Purpose::Ensemble);
                let values: Vec<f64> = self.ranges.iter().map(|&(lo, hi)| draws.random_range(lo..=hi)).collect();
                Ok(self.evaluate(&values).0)
            },
        )
    }

    /// New particles for the `dropped` slots, each with its accepted moves and backcasts run.
    fn replenish(&self, step: &Generation, dropped: &[usize]) -> Result<Vec<(Particle, usize, usize)>, String> {
        spread::map(
            dropped.len(),
            spread::Local::Parallel,
            |i| format!("particle {} of generation {}", dropped[i], step.generation),
            |i| Ok(self.walk(step, dropped[i])),
        )
    }

    /// The particle for `slot`: a survivor drawn at random, moved by ABC-MCMC steps that stay
    /// within the prior and the tolerance; with its accepted moves and backcasts run.
    fn walk(&self, step: &Generation, slot: usize) -> (Particle, usize, usize) {
        let (seed, generation, survivors) = (self.seed, step.generation, step.survivors);
        let mut draws = Draws::new(seed, 0, draw_key(generation, slot, 0), Purpose::Ensemble);
        let parent = draws.random_range(0..survivors.len());
        let mut current = survivors[parent].clone();
        let (mut accepted, mut run) = (0, 0);
        for move_number in 1..=step.moves {
            let mut draws = Draws::new(seed, 0, draw_key(generation, slot, move_number), Purpose::Ensemble);
            // Reflected at the prior's bounds: still a symmetric proposal on the box.
            let proposal: Vec<f64> = current
                .values
                .iter()
                .zip(step.scale)
                .zip(self.ranges)
                .map(|((v, s), &(lo, hi))| reflect(v + s * normal(&mut draws), lo, hi))
                .collect();
            if !self.inside(&proposal) {
                continue;
            }
            run += 1;
            let candidate = self.evaluate(&proposal).0;
            if candidate.distance <= step.tolerance {
                current = candidate;
                accepted += 1;
            }
        }
        (current, accepted, run)
    }
}

/// The header line `posterior.csv` starts with (it marks the file as migrasim's own).
pub const POSTERIOR_HEADER: &str = "# Posterior ensemble, generated by `migrasim calibrate --ensemble`";

/// `posterior.csv`: two comment lines (what made it, how the search went), then one row for the
/// calibrated point (`member` = `calibration`, the reference the forward runs compare a scenario's
/// values with) and one per member: parameter values, distance and every target's error.
pub fn posterior_csv(posterior: &Posterior, log: &SmcLog, households: u64, seed: u64) -> String {
    let n = posterior.members.len();
    let mut text = format!("{POSTERIOR_HEADER} {n} --households {households} (backcast seed {seed}); do not edit.\n");
    let _ = writeln!(
        text,
        "# search: {} backcasts over {} generations, tolerances {}",
        log.backcasts,
        log.generations.len(),
        log.generations.iter().map(|g| format!("{:.2}", g.0)).collect::<Vec<_>>().join(" > ")
    );
    let _ = writeln!(
        text,
        "member,{},distance,{}",
        posterior.keys.join(","),
        posterior.target_labels.iter().map(|l| format!("\"error: {l}\"")).collect::<Vec<_>>().join(",")
    );
    let row = |name: &str, p: &Particle| {
        format!(
            "{name},{},{:.6},{}",
            // Values in full (the shortest text that reads back as the same number): a member
            // re-run from the file is the member the search evaluated, to the last bit.
            p.values.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(","),
            p.distance,
            p.errors.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(",")
        )
    };
    let _ = writeln!(text, "{}", row("calibration", &posterior.reference));
    for (m, p) in posterior.members.iter().enumerate() {
        let _ = writeln!(text, "{}", row(&m.to_string(), p));
    }
    text
}

/// Reads a posterior table; the error names the line and what is wrong.
pub fn read_posterior(text: &str) -> Result<Posterior, String> {
    let search = text.lines().find_map(|l| l.strip_prefix("# search: ")).unwrap_or("").to_string();
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("the file has no header row")?;
    let columns: Vec<String> = split_csv(header);
    let distance_at = columns.iter().position(|c| c == "distance").ok_or("the header has no `distance` column")?;
    if columns.first().map(String::as_str) != Some("member") {
        return Err("the first column must be `member`".to_string());
    }
    let keys: Vec<String> = columns[1..distance_at].to_vec();
    let known: Vec<&str> = parameters().iter().map(|p| p.key).collect();
    for k in &keys {
        if !known.contains(&k.as_str()) {
            return Err(format!("unknown parameter column `{k}`; allowed: {}", known.join(", ")));
        }
    }
    let target_labels =
        columns[distance_at + 1..].iter().map(|c| c.trim_start_matches("error: ").to_string()).collect();
    let mut reference = None;
    let mut members = Vec::new();
    for (i, line) in lines {
        let fields = split_csv(line);
        if fields.len() != columns.len() {
            return Err(format!("line {}: {} fields, the header has {}", i + 1, fields.len(), columns.len()));
        }
        let numbers: Result<Vec<f64>, String> = fields[1..]
            .iter()
            .map(|f| {
                f.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("line {}: `{f}` is not a finite number", i + 1))
            })
            .collect();
        let numbers = numbers?;
        let particle = Particle {
            values: numbers[..keys.len()].to_vec(),
            distance: numbers[keys.len()],
            errors: numbers[keys.len() + 1..].to_vec(),
        };
        if fields[0] == "calibration" {
            reference = Some(particle);
        } else {
            members.push(particle);
        }
    }
    let reference = reference.ok_or("no `calibration` row (the reference values)")?;
    if members.is_empty() {
        return Err("no member rows".to_string());
    }
    Ok(Posterior { search, keys, target_labels, reference, members })
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match (c, quoted) {
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

/// Sets member `m`'s values on `scenario` for the keys the scenario leaves at their calibrated
/// values (a scenario that sets a key itself, as a policy, keeps it). Returns the keys set.
pub fn apply(scenario: &mut Scenario, posterior: &Posterior, m: usize) -> Vec<&'static str> {
    let params = parameters();
    let mut set = Vec::new();
    for (k, key) in posterior.keys.iter().enumerate() {
        let Some(p) = params.iter().find(|p| p.key == key) else {
            continue;
        };
        let reference = posterior.reference.values[k];
        let current = p.value(scenario);
        if (current - reference).abs() <= 1e-9 * reference.abs().max(1.0) {
            p.set(scenario, posterior.members[m].values[k]);
            set.push(p.key);
        }
    }
    set
}

/// Re-runs the calibrated point and the members `which` of `posterior` and returns, per row, the
/// recorded and the recomputed distance (the reduced check of `calibrate --ensemble --check`).
pub fn recompute(
    geo: &Geography,
    backcast: &Scenario,
    posterior: &Posterior,
    which: &[usize],
) -> Vec<(String, f64, f64)> {
    let params = parameters();
    let population = synthesize(geo, backcast);
    let mut rows = vec![(
        "calibration".to_string(),
        posterior.reference.distance,
        evaluate(geo, backcast, &population, &params, &posterior.reference.values).0.distance,
    )];
    for &m in which {
        let p = &posterior.members[m];
        rows.push((m.to_string(), p.distance, evaluate(geo, backcast, &population, &params, &p.values).0.distance));
    }
    rows
}

/// The posterior section of `docs/validation.md`: method, priors, posterior ranges and the fit of
/// the ensemble on every target.
pub fn posterior_section(posterior: &Posterior) -> String {
    let params = parameters();
    let n = posterior.members.len();
    let mut md = format!(
        "{SECTION_BEGIN}\n## Posterior ensemble\n\n`scenarios/posterior.csv` holds {n} parameter sets consistent with the 2020→2023 backcast, found by `migrasim calibrate --ensemble {n}` with approximate Bayesian computation by sequential Monte Carlo (Drovandi & Pettitt 2011: equally weighted particles, the worst half replenished each generation by ABC-MCMC moves; `src/calibrate/posterior.rs`). A set is consistent when every target below is reproduced within its tolerance (distance = the largest error in tolerances ≤ 1). Priors are uniform: on the evidence ranges of `docs/evidence.md` §1 and §5 for assumptions, and a box around the calibrated value for the parameters the backcast identifies. The province and unit shifts, the base-year shares and everything else stay at `calibration.toml`. `run` and `compare` with `--posterior` run every set (`README.md`).\n\n"
    );
    if !posterior.search.is_empty() {
        let _ = writeln!(md, "The search: {}.\n", posterior.search);
    }
    md.push_str(
        "| parameter | prior | source | calibrated | posterior mean | 5% | 95% |\n|---|---|---|--:|--:|--:|--:|\n",
    );
    for (k, key) in posterior.keys.iter().enumerate() {
        let values: Vec<f64> = posterior.members.iter().map(|m| m.values[k]).collect();
        let reference = posterior.reference.values[k];
        let (prior, source) = params.iter().find(|p| p.key == key).map_or(("?".to_string(), ""), |p| {
            let (lo, hi) = p.range(reference);
            (format!("U({lo:.3}, {hi:.3})"), p.source)
        });
        let mean = values.iter().sum::<f64>() / n as f64;
        let _ = writeln!(
            md,
            "| `{key}` | {prior} | {source} | {reference:.3} | {mean:.3} | {:.3} | {:.3} |",
            crate::results::percentile(&values, 5.0),
            crate::results::percentile(&values, 95.0)
        );
    }
    md.push_str("\n| target | tolerance | calibrated error | ensemble errors, 5% | 95% | largest |\n|---|--:|--:|--:|--:|--:|\n");
    let tolerances: Vec<f64> = target_tolerances(&posterior.target_labels);
    for (t, label) in posterior.target_labels.iter().enumerate() {
        let errors: Vec<f64> = posterior.members.iter().map(|m| m.errors[t]).collect();
        let largest = errors.iter().map(|e| e.abs()).fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "| {label} | {} | {:+.3} | {:+.3} | {:+.3} | {largest:.3} |",
            tolerances[t],
            posterior.reference.errors[t],
            crate::results::percentile(&errors, 5.0),
            crate::results::percentile(&errors, 95.0)
        );
    }
    let distances: Vec<f64> = posterior.members.iter().map(|m| m.distance).collect();
    let _ = writeln!(
        md,
        "\nDistances of the members: median {:.3}, largest {:.3} (the calibrated point: {:.3}).",
        crate::results::percentile(&distances, 50.0),
        distances.iter().copied().fold(0.0, f64::max),
        posterior.reference.distance
    );
    md.push_str(SECTION_END);
    md.push('\n');
    md
}

/// The markers around the posterior section of `docs/validation.md`, which `calibrate --ensemble`
/// writes and the point fit keeps.
const SECTION_BEGIN: &str = "<!-- posterior ensemble: written by `migrasim calibrate --ensemble` -->";
const SECTION_END: &str = "<!-- end of posterior ensemble -->";

/// The posterior section of a validation report, markers included.
pub fn section_of(text: &str) -> Option<String> {
    let start = text.find(SECTION_BEGIN)?;
    let end = text[start..].find(SECTION_END)? + start + SECTION_END.len();
    Some(format!("{}\n", &text[start..end]))
}

/// `text` with its posterior section replaced by `section` (appended if it has none; removed if
/// `section` is empty).
pub fn with_section(text: &str, section: &str) -> String {
    let without = match (text.find(SECTION_BEGIN), section_of(text)) {
        (Some(start), Some(old)) => format!("{}{}", &text[..start], &text[start + old.len()..]),
        _ => text.to_string(),
    };
    if section.is_empty() {
        return without;
    }
    let mut out = without.trim_end().to_string();
    out.push_str("\n\n");
    out.push_str(section);
    out
}

/// The tolerance of each target label (the labels carry their year, the tolerance does not).
fn target_tolerances(labels: &[String]) -> Vec<f64> {
    labels
        .iter()
        .map(|l| {
            if l.starts_with("urbanization rate") || l.starts_with("hukou rate") {
                Target::UrbanizationLast.tolerance()
            } else if l.starts_with("outgoing") {
                Target::OutgoingWorkersLast.tolerance()
            } else if l.starts_with("cross-province") {
                Target::CrossProvinceShareLast.tolerance()
            } else if l.starts_with("public-school") {
                Target::PublicSchoolLast.tolerance()
            } else if l.starts_with("provincial urbanization") {
                PROVINCE_RATE_TOLERANCE
            } else {
                PROVINCE_GROWTH_TOLERANCE
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_keeps_proposals_inside_and_is_the_identity_inside() {
        assert_eq!(reflect(0.3, 0.0, 1.0), 0.3);
        assert!((reflect(1.2, 0.0, 1.0) - 0.8).abs() < 1e-12);
        assert!((reflect(-0.25, 0.0, 1.0) - 0.25).abs() < 1e-12);
        assert!((reflect(2.3, 0.0, 1.0) - 0.3).abs() < 1e-12);
        assert_eq!(reflect(5.0, 2.0, 2.0), 2.0);
    }

    fn sample() -> Posterior {
        let params = parameters();
        let base = Scenario::default();
        let reference: Vec<f64> = params.iter().map(|p| p.value(&base)).collect();
        let member: Vec<f64> = reference.iter().map(|v| v + 0.125).collect();
        let particle = |values: Vec<f64>, d: f64| Particle { values, distance: d, errors: vec![0.5, -0.25] };
        Posterior {
            search: "2 backcasts over 1 generations, tolerances 1.00".to_string(),
            keys: params.iter().map(|p| p.key.to_string()).collect(),
            target_labels: vec!["a (pp)".to_string(), "b, with a comma".to_string()],
            reference: particle(reference, 0.5),
            members: vec![particle(member, 0.75)],
        }
    }

    #[test]
    fn the_posterior_table_reads_back_what_was_written() {
        let p = sample();
        let log = SmcLog { generations: vec![(1.0, 3, 0.5, 2)], backcasts: 2 };
        let back = read_posterior(&posterior_csv(&p, &log, 1000, 7)).unwrap();
        assert_eq!(back.keys, p.keys);
        assert_eq!(back.target_labels, p.target_labels);
        assert_eq!(back.members.len(), 1);
        for (a, b) in back.members[0].values.iter().zip(&p.members[0].values) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(back.search, "2 backcasts over 1 generations, tolerances 1.00");
    }

    #[test]
    fn bad_posterior_tables_name_what_is_wrong() {
        let good = posterior_csv(&sample(), &SmcLog::default(), 1000, 7);
        let unknown = good.replacen("settlement.willingness.base", "nonsense.key", 1);
        assert!(read_posterior(&unknown).unwrap_err().contains("unknown parameter column `nonsense.key`"));
        let short = good.replacen("\n0,", "\n0,1,", 1);
        assert!(read_posterior(&short).unwrap_err().contains("fields, the header has"));
        let nan = good.replacen(",0.750000,", ",NaN,", 1);
        assert!(read_posterior(&nan).unwrap_err().contains("not a finite number"));
        let no_reference: String =
            good.lines().filter(|l| !l.starts_with("calibration,")).map(|l| format!("{l}\n")).collect();
        assert!(read_posterior(&no_reference).unwrap_err().contains("calibration"));
    }

    /// A member changes the keys the scenario leaves at their calibrated values, and never one a
    /// scenario sets as its policy.
    #[test]
    fn a_member_sets_only_keys_left_at_their_calibrated_values() {
        let p = sample();
        let mut untouched = Scenario::default();
        let set = apply(&mut untouched, &p, 0);
        assert_eq!(set.len(), p.keys.len());
        assert!((untouched.behaviour.beta_housing - (0.5 + 0.125)).abs() < 1e-12);
        let mut policy = Scenario::default();
        policy.services.school_seat_growth_pct = 0.0.into();
        policy.settlement.willingness.service_gain = 3.0;
        let set = apply(&mut policy, &p, 0);
        assert!(!set.contains(&"services.school_seat_growth_pct"));
        assert!(!set.contains(&"settlement.willingness.service_gain"));
        assert_eq!(policy.settlement.willingness.service_gain, 3.0);
        assert_eq!(policy.services.school_seat_growth_pct.default_value().at(2025), 0.0);
    }

    #[test]
    fn the_section_is_replaced_in_place_and_kept_by_the_point_fit() {
        let section = posterior_section(&sample());
        let report = "# Validation\n\nbody\n";
        let with = with_section(report, &section);
        assert_eq!(section_of(&with).as_deref(), Some(section.as_str()));
        let again = with_section(&with, &section);
        assert_eq!(again, with, "replacing a section with itself changes nothing");
        let regenerated = with_section(report, section_of(&with).as_deref().unwrap_or(""));
        assert_eq!(regenerated, with);
        assert_eq!(with_section(report, ""), report);
    }
}
