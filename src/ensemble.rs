//! Replicates: runs of one plan with seeds derived from the scenario seed, the per-year metrics
//! read from each run, and their summaries (mean and 5th/95th percentiles).
//!
//! Replicate 0 uses the scenario seed itself, so one replicate is exactly a plain run. Scenario
//! comparisons reuse the same seeds for every scenario (common random numbers), so a difference
//! between scenarios is the policy's effect, not noise.

use crate::engine::{Plan, Simulation, Timings, YearRecord};
use crate::geo::{Geography, TIERS};
use crate::population::SynthesisReport;
use crate::report::national_row;
use crate::scenario::Regime;

/// Seeds of `replicates` runs: the scenario seed first, then derived ones.
pub fn replicate_seeds(seed: u64, replicates: u32) -> Vec<u64> {
    (0..u64::from(replicates))
        .map(|r| {
            if r == 0 {
                seed
            } else {
                // SplitMix64 of (seed, r): well spread, reproducible, documented.
                let mut z = seed ^ r.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
        })
        .collect()
}

/// One finished run: what the outputs need, without the households.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunResult {
    pub seed: u64,
    pub records: Vec<YearRecord>,
    pub persons_per_member: f64,
    pub synthesis: SynthesisReport,
    pub timings: Timings,
}

/// Runs `plan` once per seed, one after another (each run is itself parallel). The geography
/// and the parsed plan are shared; only the households are rebuilt.
pub fn run_replicates(
    geo: &Geography,
    plan: &Plan,
    seeds: &[u64],
    mut progress: impl FnMut(usize, i32),
) -> Vec<RunResult> {
    seeds
        .iter()
        .enumerate()
        .map(|(r, &seed)| run_one(geo, plan, seed, |year| progress(r, year)))
        .collect()
}

/// One run of `plan` with `seed` in place of the scenario's seed; `progress` hears each year.
pub fn run_one(geo: &Geography, plan: &Plan, seed: u64, progress: impl FnMut(i32)) -> RunResult {
    let mut plan = plan.clone();
    plan.scenario.run.seed = seed;
    let mut sim = Simulation::new(geo, plan);
    sim.run(progress);
    RunResult {
        seed,
        persons_per_member: sim.persons_per_member,
        synthesis: sim.synthesis.clone(),
        timings: sim.timings.clone(),
        records: std::mem::take(&mut sim.records),
    }
}

/// Percentile `p` (0–100) of `values` by linear interpolation between order statistics (the
/// usual "type 7" definition, as numpy and R use by default). NaN for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    sorted[below] + (sorted[above] - sorted[below]) * (rank - below as f64)
}

/// Mean and 5–95% band over replicates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub mean: f64,
    pub p5: f64,
    pub p95: f64,
}

impl Band {
    pub fn of(values: &[f64]) -> Band {
        let finite: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        let mean = if finite.is_empty() {
            f64::NAN
        } else {
            finite.iter().sum::<f64>() / finite.len() as f64
        };
        Band {
            mean,
            p5: percentile(&finite, 5.0),
            p95: percentile(&finite, 95.0),
        }
    }
}

/// The variance of one figure over runs of several parameter sets, each with the same replicate
/// seeds, split by the law of total variance: the draws' part is the mean variance within a
/// parameter set, the parameters' part the variance of the sets' means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VarianceSplit {
    pub total: f64,
    pub draws: f64,
}

impl VarianceSplit {
    /// `values` ordered parameter set × replicate; `None` without at least two parameter sets of
    /// at least two replicates each (the two parts cannot be told apart).
    pub fn of(values: &[f64], members: usize) -> Option<VarianceSplit> {
        if members < 2 || values.is_empty() || !values.len().is_multiple_of(members) {
            return None;
        }
        let replicates = values.len() / members;
        if replicates < 2 || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let variance = |v: &[f64]| {
            let m = mean(v);
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
        };
        let draws = values.chunks(replicates).map(variance).sum::<f64>() / members as f64;
        Some(VarianceSplit {
            total: variance(values),
            draws,
        })
    }

    /// Share of the variance from the parameters (0–1).
    pub fn parameter_share(&self) -> f64 {
        if self.total > 0.0 {
            ((self.total - self.draws) / self.total).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// Figures read from one run for one year (persons and percent).
#[derive(Debug, Clone, PartialEq)]
pub struct YearMetrics {
    pub year: i32,
    pub urbanization_rate_pct: f64,
    pub hukou_urbanization_rate_pct: f64,
    pub gap_pp: f64,
    pub settlements: f64,
    pub movers: f64,
    pub urban_by_regime: [f64; 3],
    pub nonhukou_by_regime: [f64; 3],
    pub nonhukou_by_tier: Vec<f64>,
    /// Urban residents of each potential region (in the plan's order).
    pub potential_urban: Vec<f64>,
    /// Urban residents of each metropolitan area, core and members (in the plan's order).
    pub metro_urban: Vec<f64>,
}

impl YearMetrics {
    pub fn potential_urban_total(&self) -> f64 {
        self.potential_urban.iter().sum()
    }
}

/// Per-year metrics of one run.
pub fn metrics(geo: &Geography, plan: &Plan, run: &RunResult) -> Vec<YearMetrics> {
    let scale = run.persons_per_member;
    run.records
        .iter()
        .map(|record| {
            let row = national_row(record, scale);
            let mut urban_by_regime = [0.0; 3];
            let mut nonhukou_by_regime = [0.0; 3];
            let mut nonhukou_by_tier = vec![0.0; TIERS.len()];
            let mut potential_urban = vec![0.0; plan.potential_region_names.len()];
            for (u, c) in record.units.iter().enumerate() {
                let regime = record.cities[u].regime.index();
                urban_by_regime[regime] += c.urban as f64 * scale;
                nonhukou_by_regime[regime] += c.nonhukou_urban as f64 * scale;
                nonhukou_by_tier[geo.units[u].tier] += c.nonhukou_urban as f64 * scale;
                if let Some(region) = plan.potential_region[u] {
                    potential_urban[region] += c.urban as f64 * scale;
                }
            }
            let metro_urban = plan
                .metros
                .iter()
                .map(|m| {
                    std::iter::once(m.core)
                        .chain(m.members.iter().copied())
                        .map(|u| record.units[u].urban as f64 * scale)
                        .sum()
                })
                .collect();
            YearMetrics {
                year: record.year,
                urbanization_rate_pct: row.urbanization_rate_pct,
                hukou_urbanization_rate_pct: row.hukou_urbanization_rate_pct,
                gap_pp: row.gap_pp,
                settlements: row.settlements,
                movers: row.movers,
                urban_by_regime,
                nonhukou_by_regime,
                nonhukou_by_tier,
                potential_urban,
                metro_urban,
            }
        })
        .collect()
}

/// Regime names in index order, for labels.
pub fn regime_names() -> [&'static str; 3] {
    Regime::ALL.map(Regime::name)
}

/// Bands per year of `value` across replicates (runs share their years).
pub fn bands(runs: &[Vec<YearMetrics>], value: impl Fn(&YearMetrics) -> f64) -> Vec<(i32, Band)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let values: Vec<f64> = runs.iter().filter_map(|r| r.get(i)).map(&value).collect();
            (m.year, Band::of(&values))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_the_type_7_definition() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&values, 0.0), 1.0);
        assert_eq!(percentile(&values, 100.0), 10.0);
        assert!((percentile(&values, 50.0) - 5.5).abs() < 1e-12);
        // numpy.percentile(range(1, 11), 5) = 1.45, 95 → 9.55
        assert!((percentile(&values, 5.0) - 1.45).abs() < 1e-12);
        assert!((percentile(&values, 95.0) - 9.55).abs() < 1e-12);
        // Order of input does not matter; NaN is ignored.
        let shuffled = [7.0, f64::NAN, 3.0, 10.0, 1.0, 5.0, 9.0, 2.0, 8.0, 4.0, 6.0];
        assert!((percentile(&shuffled, 95.0) - 9.55).abs() < 1e-12);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(percentile(&[4.2], 95.0), 4.2);
    }

    #[test]
    fn variance_split_follows_the_law_of_total_variance() {
        // Two parameter sets, two replicates each: means 1 and 3, within-set deviations ±1.
        let split = VarianceSplit::of(&[0.0, 2.0, 2.0, 4.0], 2).unwrap();
        assert!((split.total - 2.0).abs() < 1e-12);
        assert!((split.draws - 1.0).abs() < 1e-12);
        assert!((split.parameter_share() - 0.5).abs() < 1e-12);
        assert!(
            VarianceSplit::of(&[1.0, 2.0], 2).is_none(),
            "one replicate each"
        );
        assert!(
            VarianceSplit::of(&[1.0, 2.0, 3.0, 4.0], 1).is_none(),
            "one set"
        );
    }

    #[test]
    fn band_of_identical_values_has_no_width() {
        let b = Band::of(&[3.0; 7]);
        assert_eq!((b.mean, b.p5, b.p95), (3.0, 3.0, 3.0));
    }

    #[test]
    fn seeds_start_with_the_scenario_seed_and_are_distinct() {
        let seeds = replicate_seeds(42, 10);
        assert_eq!(seeds[0], 42);
        let mut unique = seeds.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_eq!(replicate_seeds(42, 10), seeds, "derivation is reproducible");
    }
}
