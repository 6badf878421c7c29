//! `migrasim sensitivity SCENARIO`: which assumptions and which plan measures move the outcomes.
//!
//! Factors are the ensemble's uncertain behaviour parameters over the 5–95% range of the
//! posterior ensemble (over their prior ranges without one; `calibrate/posterior.rs`) and the
//! plan's measures (`levers.rs`), each either as the scenario
//! has it or set back to the status quo. Morris elementary effects (Morris 1991; μ* of Campolongo,
//! Cariboni & Saltelli 2007) screen every factor with `trajectories` one-at-a-time paths on a
//! 4-level grid; Sobol first-order and total indices (Saltelli et al. 2010 estimators: Saltelli's,
//! centred, for S_i; Jansen's for S_Ti) rank the leading factors of the first outcome with the others held
//! at the scenario's values. Every run uses the scenario's seed (common random numbers), so the
//! effects are the factors', not the draws'; points are keyed by (seed, trajectory/sample,
//! factor), so results do not depend on the thread count.

use crate::calibrate::posterior;
use crate::engine::{Plan, Simulation};
use crate::geo::Geography;
use crate::levers::{self, MEASURES};
use crate::results::national_row;
use crate::rng::{Draws, Purpose};
use crate::scenario::Scenario;
use crate::spread;
use rand::RngExt;
use rand::seq::SliceRandom;
use std::fmt::Write as _;

/// An outcome: a `national.csv` column in a year.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub column: String,
    pub year: i32,
}

impl Outcome {
    /// Parses `column@year`; the error names the allowed columns and years.
    pub fn parse(text: &str, first_year: i32, last_year: i32) -> Result<Outcome, String> {
        let columns: Vec<&str> = crate::report::NATIONAL_COLUMNS.split(',').filter(|c| *c != "year").collect();
        let (column, year) = text
            .split_once('@')
            .ok_or_else(|| format!("`{text}` is not COLUMN@YEAR, e.g. urbanization_rate_pct@2029"))?;
        if !columns.contains(&column) {
            return Err(format!("`{column}` is not a column of national.csv; allowed: {}", columns.join(", ")));
        }
        let year: i32 = year
            .parse()
            .ok()
            .filter(|y| (first_year..=last_year).contains(y))
            .ok_or_else(|| format!("`{year}` is not a simulated year; allowed: {first_year}–{last_year}"))?;
        Ok(Outcome { column: column.to_string(), year })
    }

    pub fn label(&self) -> String {
        format!("{}@{}", self.column, self.year)
    }
}

/// What a factor is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FactorKind {
    /// A behaviour parameter (index into `posterior::parameters()`) over its prior range.
    Parameter(usize),
    /// A plan measure (index into `levers::MEASURES`): 1 as the scenario has it, 0 set back to
    /// the status quo.
    Measure(usize),
}

#[derive(Debug, Clone)]
pub struct Factor {
    pub name: String,
    pub kind: FactorKind,
    /// The range a unit step spans (a parameter's prior; 0–1 for a measure).
    pub low: f64,
    pub high: f64,
}

/// Every factor of `scenario`: the uncertain parameters, then the measures. A parameter spans the
/// 5th–95th percentile of `ensemble` (what the data leave uncertain; moved with the scenario where
/// it sets the key itself), or without one its prior range around the scenario's value.
pub fn factors(scenario: &Scenario, ensemble: Option<&posterior::Posterior>) -> Vec<Factor> {
    let mut out: Vec<Factor> = posterior::parameters()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let value = p.value(scenario);
            let column = ensemble.and_then(|e| e.keys.iter().position(|k| k == p.key));
            let (low, high) = match (ensemble, column) {
                (Some(e), Some(k)) => {
                    let values: Vec<f64> = e.members.iter().map(|m| m.values[k]).collect();
                    let shift = value - e.reference.values[k];
                    (
                        crate::results::percentile(&values, 5.0) + shift,
                        crate::results::percentile(&values, 95.0) + shift,
                    )
                }
                _ => p.range(value),
            };
            Factor { name: p.key.to_string(), kind: FactorKind::Parameter(i), low, high }
        })
        .collect();
    out.extend(MEASURES.iter().enumerate().map(|(i, m)| Factor {
        name: format!("measure: {}", m.name),
        kind: FactorKind::Measure(i),
        low: 0.0,
        high: 1.0,
    }));
    out
}

/// The model as a function of the factors on the unit cube: `point[k]` ∈ [0, 1] (a measure is on
/// at ≥ 0.5). Returns each outcome's value.
struct Model<'a> {
    geo: &'a Geography,
    scenario: &'a Scenario,
    status_quo: &'a Scenario,
    factors: &'a [Factor],
    outcomes: &'a [Outcome],
}

impl Model<'_> {
    fn scenario_at(&self, point: &[f64]) -> Result<Scenario, String> {
        let mut s = self.scenario.clone();
        // Measures first (they replace whole keys), then the parameters on top.
        for (f, &x) in self.factors.iter().zip(point) {
            if let FactorKind::Measure(i) = f.kind
                && x < 0.5
            {
                s = levers::without(&s, self.status_quo, &MEASURES[i])?;
            }
        }
        let params = posterior::parameters();
        for (f, &x) in self.factors.iter().zip(point) {
            if let FactorKind::Parameter(i) = f.kind {
                params[i].set(&mut s, f.low + x * (f.high - f.low));
            }
        }
        Ok(s)
    }

    fn eval(&self, point: &[f64]) -> Result<Vec<f64>, String> {
        let scenario = self.scenario_at(point)?;
        let plan = Plan::from_scenario(scenario, self.geo).map_err(|e| e.to_string())?;
        let mut sim = Simulation::new(self.geo, plan);
        sim.run(|_| {});
        Ok(self
            .outcomes
            .iter()
            .map(|o| {
                sim.records
                    .iter()
                    .find(|r| r.year == o.year)
                    .and_then(|r| national_row(r, sim.persons_per_member).column(&o.column))
                    .unwrap_or(f64::NAN)
            })
            .collect())
    }
}

/// Morris screening of one factor on one outcome, in outcome units per the factor's full range.
#[derive(Debug, Clone, Copy, Default)]
pub struct Morris {
    pub mu: f64,
    pub mu_star: f64,
    pub sigma: f64,
}

/// Sobol indices of one factor on the first outcome.
#[derive(Debug, Clone, Copy)]
pub struct Sobol {
    pub first: f64,
    pub total: f64,
}

/// The whole analysis.
pub struct Sensitivity {
    pub factors: Vec<Factor>,
    pub outcomes: Vec<Outcome>,
    /// `morris[o][k]`.
    pub morris: Vec<Vec<Morris>>,
    /// Leading factors (indices) and their indices on the first outcome.
    pub sobol: Vec<(usize, Sobol)>,
    pub runs: usize,
    /// The outcomes at the scenario as it is.
    pub nominal: Vec<f64>,
}

/// Grid levels of the Morris design (p = 4) and its step Δ = p / (2(p − 1)).
const LEVELS: f64 = 4.0;
const DELTA: f64 = 2.0 / 3.0;

pub struct Settings {
    /// How the parameters' ranges were set, for the report.
    pub ranges: String,
    pub trajectories: usize,
    pub sobol_samples: usize,
    pub leading: usize,
    pub seed: u64,
}

/// Runs the design; `progress` is told how many runs are done.
pub fn analyse(
    geo: &Geography,
    scenario: &Scenario,
    status_quo: &Scenario,
    ensemble: Option<&posterior::Posterior>,
    outcomes: &[Outcome],
    settings: &Settings,
    progress: impl Fn(usize) + Sync,
) -> Result<Sensitivity, String> {
    let factors = factors(scenario, ensemble);
    let model = Model { geo, scenario, status_quo, factors: &factors, outcomes };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let eval = |point: &[f64]| -> Result<Vec<f64>, String> {
        let y = model.eval(point)?;
        progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
        Ok(y)
    };
    let nominal_point = nominal_point(&factors, scenario);
    let nominal = eval(&nominal_point)?;
    let (morris, morris_runs) = morris_screening(&factors, outcomes.len(), settings, &eval)?;
    let (sobol, sobol_runs) = sobol_indices(&factors, &morris[0], &nominal_point, settings, &eval)?;
    let runs = 1 + morris_runs + sobol_runs;
    Ok(Sensitivity { factors, outcomes: outcomes.to_vec(), morris, sobol, runs, nominal })
}

/// The scenario as it is on the unit cube: parameters at their own values, measures on.
fn nominal_point(factors: &[Factor], scenario: &Scenario) -> Vec<f64> {
    let params = posterior::parameters();
    factors
        .iter()
        .map(|f| match f.kind {
            FactorKind::Parameter(i) => {
                let v = params[i].value(scenario);
                ((v - f.low) / (f.high - f.low)).clamp(0.0, 1.0)
            }
            FactorKind::Measure(_) => 1.0,
        })
        .collect()
}

/// A Morris trajectory: its points in order, each after the first with the factor it moved.
type Trajectory = Vec<(Vec<f64>, Option<usize>)>;

/// Morris screening of every factor on every outcome (`[outcome][factor]`), and the runs it took.
fn morris_screening(
    factors: &[Factor],
    outcomes: usize,
    settings: &Settings,
    eval: &(impl Fn(&[f64]) -> Result<Vec<f64>, String> + Sync),
) -> Result<(Vec<Vec<Morris>>, usize), String> {
    let trajectories: Vec<Trajectory> =
        (0..settings.trajectories).map(|t| trajectory(factors, settings.seed, t)).collect();
    let points: Vec<&Vec<f64>> = trajectories.iter().flat_map(|path| path.iter().map(|(p, _)| p)).collect();
    let values: Vec<Vec<f64>> = spread::map(
        points.len(),
        spread::Local::Parallel,
        |i| format!("Morris design point {i}"),
        |i| eval(points[i]),
    )?;
    let effects = elementary_effects(&trajectories, &values, outcomes, factors.len());
    let morris = effects.iter().map(|per_factor| per_factor.iter().map(|ee| morris_statistics(ee)).collect()).collect();
    Ok((morris, points.len()))
}

/// Trajectory `t`: a base point on the grid, then each factor in a keyed random order moved by ±Δ
/// (a measure switched), one run per step.
fn trajectory(factors: &[Factor], seed: u64, t: usize) -> Trajectory {
    let k = factors.len();
    let is_measure = |j: usize| matches!(factors[j].kind, FactorKind::Measure(_));
    let mut draws = Draws::new(seed, 1, t as u64, Purpose::Ensemble);
    let mut x: Vec<f64> = (0..k)
        .map(|j| {
            if is_measure(j) {
                f64::from(u8::from(draws.random_bool(0.5)))
            } else {
                // Levels 0 and 1/3 can step up by Δ = 2/3; 2/3 and 1 step down.
                f64::from(draws.random_range(0..LEVELS as u32)) / (LEVELS - 1.0)
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.shuffle(&mut draws);
    let mut path = vec![(x.clone(), None)];
    for &j in &order {
        x[j] = if is_measure(j) {
            1.0 - x[j]
        } else if x[j] + DELTA <= 1.0 + 1e-9 {
            x[j] + DELTA
        } else {
            x[j] - DELTA
        };
        path.push((x.clone(), Some(j)));
    }
    path
}

/// The elementary effects `[outcome][factor]` of the trajectories, given the outcomes at their
/// points in order (`values`).
fn elementary_effects(
    trajectories: &[Trajectory],
    values: &[Vec<f64>],
    outcomes: usize,
    factors: usize,
) -> Vec<Vec<Vec<f64>>> {
    let mut effects = vec![vec![Vec::new(); factors]; outcomes];
    let mut at = 0;
    for path in trajectories {
        for step in 1..path.len() {
            let j = path[step].1.expect("every step after the first moves a factor");
            let dx = path[step].0[j] - path[step - 1].0[j];
            for (o, per_outcome) in effects.iter_mut().enumerate() {
                let dy = values[at + step][o] - values[at + step - 1][o];
                // Per the factor's full range: the change over a step divided by the step.
                per_outcome[j].push(dy / dx);
            }
        }
        at += path.len();
    }
    effects
}

/// μ, μ* and σ of one factor's elementary effects on one outcome.
fn morris_statistics(ee: &[f64]) -> Morris {
    let n = ee.len().max(1) as f64;
    let mu = ee.iter().sum::<f64>() / n;
    Morris {
        mu,
        mu_star: ee.iter().map(|e| e.abs()).sum::<f64>() / n,
        sigma: (ee.iter().map(|e| (e - mu).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt(),
    }
}

/// Sobol indices on the first outcome of its leading factors by μ* (`first_outcome`), the others
/// held at the scenario's values, and the runs it took.
fn sobol_indices(
    factors: &[Factor],
    first_outcome: &[Morris],
    nominal_point: &[f64],
    settings: &Settings,
    eval: &(impl Fn(&[f64]) -> Result<Vec<f64>, String> + Sync),
) -> Result<(Vec<(usize, Sobol)>, usize), String> {
    let mut ranked: Vec<usize> = (0..factors.len()).collect();
    ranked.sort_by(|&a, &b| first_outcome[b].mu_star.total_cmp(&first_outcome[a].mu_star));
    let leading: Vec<usize> = ranked.into_iter().take(settings.leading).collect();
    if settings.sobol_samples == 0 || leading.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let n = settings.sobol_samples;
    let design = sobol_design(factors, &leading, nominal_point, settings);
    let y: Vec<f64> = spread::map(
        design.len(),
        spread::Local::Parallel,
        |i| format!("Sobol design point {i}"),
        |i| eval(&design[i]).map(|v| v[0]),
    )?;
    Ok((sobol_estimates(&y, n, &leading), design.len()))
}

/// Saltelli's design: matrices A and B of `sobol_samples` points each over the leading factors,
/// then for each leading factor A with that factor's column from B.
fn sobol_design(factors: &[Factor], leading: &[usize], nominal_point: &[f64], settings: &Settings) -> Vec<Vec<f64>> {
    let n = settings.sobol_samples;
    let sample = |matrix: u64, i: usize| -> Vec<f64> {
        let mut draws = Draws::new(settings.seed, 2, (matrix << 32) | i as u64, Purpose::Ensemble);
        let mut x = nominal_point.to_vec();
        for &j in leading {
            let u: f64 = draws.random();
            x[j] = if matches!(factors[j].kind, FactorKind::Measure(_)) { f64::from(u8::from(u < 0.5)) } else { u };
        }
        x
    };
    let a: Vec<Vec<f64>> = (0..n).map(|i| sample(0, i)).collect();
    let b: Vec<Vec<f64>> = (0..n).map(|i| sample(1, i)).collect();
    let mut design: Vec<Vec<f64>> = a.iter().chain(&b).cloned().collect();
    for &j in leading {
        for i in 0..n {
            let mut ab = a[i].clone();
            ab[j] = b[i][j];
            design.push(ab);
        }
    }
    design
}

/// First-order and total indices from the outcome at the design's points (`sobol_design`).
fn sobol_estimates(y: &[f64], n: usize, leading: &[usize]) -> Vec<(usize, Sobol)> {
    let (fa, fb) = (&y[..n], &y[n..2 * n]);
    let all: Vec<f64> = y[..2 * n].to_vec();
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let variance = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64;
    let mut sobol = Vec::new();
    for (slot, &j) in leading.iter().enumerate() {
        let fab = &y[2 * n + slot * n..2 * n + (slot + 1) * n];
        let (first, total) = if variance > 0.0 {
            // Centred on the mean: the same estimator, far less noise from the level.
            let first = (0..n).map(|i| (fb[i] - mean) * (fab[i] - fa[i])).sum::<f64>() / n as f64 / variance;
            let total = (0..n).map(|i| (fa[i] - fab[i]).powi(2)).sum::<f64>() / (2.0 * n as f64) / variance;
            (first, total)
        } else {
            (0.0, 0.0)
        };
        sobol.push((j, Sobol { first, total }));
    }
    sobol
}

/// `sensitivity.csv`: one row per outcome × factor.
pub fn sensitivity_csv(s: &Sensitivity) -> String {
    let mut text = String::from("outcome,factor,kind,low,high,mu_star,mu,sigma,sobol_first,sobol_total\n");
    for (o, outcome) in s.outcomes.iter().enumerate() {
        let mut order: Vec<usize> = (0..s.factors.len()).collect();
        order.sort_by(|&a, &b| s.morris[o][b].mu_star.total_cmp(&s.morris[o][a].mu_star));
        for k in order {
            let f = &s.factors[k];
            let m = s.morris[o][k];
            let sobol = if o == 0 { s.sobol.iter().find(|(j, _)| *j == k).map(|(_, x)| *x) } else { None };
            let _ = writeln!(
                text,
                "{},\"{}\",{},{},{},{:.6},{:.6},{:.6},{},{}",
                outcome.label(),
                f.name.replace('"', "'"),
                match f.kind {
                    FactorKind::Parameter(_) => "parameter",
                    FactorKind::Measure(_) => "measure",
                },
                f.low,
                f.high,
                m.mu_star,
                m.mu,
                m.sigma,
                sobol.map_or(String::new(), |x| format!("{:.4}", x.first)),
                sobol.map_or(String::new(), |x| format!("{:.4}", x.total)),
            );
        }
    }
    text
}

/// The report: method, the top factors per outcome, the Sobol table.
pub fn sensitivity_md(s: &Sensitivity, scenario: &str, settings: &Settings, households: u64) -> String {
    let mut md = format!(
        "# Sensitivity of `{scenario}`\n\n{} factors: the {} uncertain behaviour parameters over {} (`docs/validation.md`, \"Posterior ensemble\"; the `low` and `high` columns of `sensitivity.csv`) and the plan's {} measures, each as in the scenario or set back to the status quo (`docs/levers.md`). Morris screening with {} trajectories on a 4-level grid; μ* is the mean absolute change of the outcome when the factor moves across its full range (a measure: switched on), μ the signed mean, σ the spread of the effect across the other factors' values (interactions, non-linearity). Sobol indices (first order, total) for the {} leading factors of the first outcome from {} base samples, the other factors held at the scenario's values. {} runs at {households} households, all with the scenario's seed.\n",
        s.factors.len(),
        posterior::parameters().len(),
        settings.ranges,
        MEASURES.len(),
        settings.trajectories,
        s.sobol.len(),
        settings.sobol_samples,
        s.runs,
    );
    for (o, outcome) in s.outcomes.iter().enumerate() {
        let _ = writeln!(
            md,
            "\n## {}\n\nValue with the scenario as it is: {:.3}.\n\n![Morris μ* and σ of every factor](charts/tornado-{}.png)\n\n| factor | μ* | μ | σ |\n|---|--:|--:|--:|",
            outcome.label(),
            s.nominal[o],
            o
        );
        let mut order: Vec<usize> = (0..s.factors.len()).collect();
        order.sort_by(|&a, &b| s.morris[o][b].mu_star.total_cmp(&s.morris[o][a].mu_star));
        for &k in order.iter().take(12) {
            let m = s.morris[o][k];
            let _ = writeln!(md, "| {} | {:.3} | {:+.3} | {:.3} |", s.factors[k].name, m.mu_star, m.mu, m.sigma);
        }
    }
    if !s.sobol.is_empty() {
        let _ = writeln!(
            md,
            "\n## Sobol indices, {}\n\n| factor | first order | total |\n|---|--:|--:|",
            s.outcomes[0].label()
        );
        for (k, x) in &s.sobol {
            let _ = writeln!(md, "| {} | {:.3} | {:.3} |", s.factors[*k].name, x.first, x.total);
        }
        md.push_str("\nWith few base samples the estimates are rough (they can fall slightly outside 0–1); `--sobol-samples` raises their number.\n");
    }
    md
}
