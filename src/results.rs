//! What a run's year records say, shared by the tables, the reports, the ensembles and the
//! searches: the national row of a year (every `national.csv` measure, by column name), the
//! per-year metrics the charts and summaries read, and their summaries over runs (mean and
//! 5th/95th percentiles, and the variance split between parameter sets and draws).

use crate::engine::aggregate::UnitCounts;
use crate::engine::{Plan, YearRecord};
use crate::ensemble::RunResult;
use crate::geo::{Geography, TIERS};
use crate::scenario::Regime;

/// One row of `national.csv`, computed from a year's record.
#[derive(Debug, Clone, PartialEq)]
pub struct NationalRow {
    pub year: i32,
    pub population: f64,
    pub urban_residents: f64,
    pub urbanization_rate_pct: f64,
    pub hukou_urban_residents: f64,
    pub hukou_urbanization_rate_pct: f64,
    pub gap_pp: f64,
    pub nonhukou_urban_residents: f64,
    pub settlements: f64,
    /// Urban-hukou inter-city migrants who transferred their hukou where they live.
    pub urban_hukou_transfers: f64,
    pub applicants: f64,
    pub movers: f64,
    pub rural_to_urban: f64,
    pub urban_to_rural: f64,
    pub in_place_urbanized: f64,
    pub births: f64,
    pub deaths: f64,
    pub left_behind_children: f64,
    pub public_school_share_pct: f64,
    pub migrant_heads_senior_plus_pct: f64,
    pub outgoing_migrant_workers: f64,
    pub cross_province_migrant_workers: f64,
}

impl NationalRow {
    /// The value of a `national.csv` column by name (`None` for `year` and unknown names).
    pub fn column(&self, name: &str) -> Option<f64> {
        Some(match name {
            "population" => self.population,
            "urban_residents" => self.urban_residents,
            "rural_residents" => self.population - self.urban_residents,
            "urbanization_rate_pct" => self.urbanization_rate_pct,
            "hukou_urban_residents" => self.hukou_urban_residents,
            "hukou_urbanization_rate_pct" => self.hukou_urbanization_rate_pct,
            "gap_pp" => self.gap_pp,
            "nonhukou_urban_residents" => self.nonhukou_urban_residents,
            "settlements" => self.settlements,
            "applicants" => self.applicants,
            "movers" => self.movers,
            "rural_to_urban" => self.rural_to_urban,
            "urban_to_rural" => self.urban_to_rural,
            "in_place_urbanized" => self.in_place_urbanized,
            "births" => self.births,
            "deaths" => self.deaths,
            "left_behind_children" => self.left_behind_children,
            "public_school_share_pct" => self.public_school_share_pct,
            "migrant_heads_senior_plus_pct" => self.migrant_heads_senior_plus_pct,
            "outgoing_migrant_workers" => self.outgoing_migrant_workers,
            "cross_province_migrant_workers" => self.cross_province_migrant_workers,
            "urban_hukou_transfers" => self.urban_hukou_transfers,
            _ => return None,
        })
    }
}

pub(crate) fn sum(units: &[UnitCounts], f: impl Fn(&UnitCounts) -> u64) -> u64 {
    units.iter().map(f).sum()
}

pub(crate) fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}

pub fn national_row(record: &YearRecord, scale: f64) -> NationalRow {
    let u = &record.units;
    let population = sum(u, UnitCounts::population);
    let urban = sum(u, |c| c.urban);
    let hukou = sum(u, |c| c.hukou_urban_residents);
    let n = &record.national;
    // Public-school share: seats ÷ non-hukou children, weighted by those children.
    let children: f64 = u.iter().map(|c| c.migrant_children as f64).sum();
    let seated: f64 =
        u.iter().zip(&record.cities).map(|(c, city)| c.migrant_children as f64 * city.school_access).sum();
    let urbanization = pct(urban, population);
    let hukou_rate = pct(hukou, population);
    NationalRow {
        year: record.year,
        population: population as f64 * scale,
        urban_residents: urban as f64 * scale,
        urbanization_rate_pct: urbanization,
        hukou_urban_residents: hukou as f64 * scale,
        hukou_urbanization_rate_pct: hukou_rate,
        gap_pp: urbanization - hukou_rate,
        nonhukou_urban_residents: sum(u, |c| c.nonhukou_urban) as f64 * scale,
        settlements: sum(u, |c| c.settlements) as f64 * scale,
        urban_hukou_transfers: sum(u, |c| c.transfers) as f64 * scale,
        applicants: sum(u, |c| c.applicants) as f64 * scale,
        movers: n.movers as f64 * scale,
        rural_to_urban: n.rural_to_urban as f64 * scale,
        urban_to_rural: n.urban_to_rural as f64 * scale,
        in_place_urbanized: n.in_place as f64 * scale,
        births: n.births as f64 * scale,
        deaths: n.deaths as f64 * scale,
        left_behind_children: sum(u, |c| c.left_behind_children) as f64 * scale,
        public_school_share_pct: if children > 0.0 { 100.0 * seated / children } else { 100.0 },
        migrant_heads_senior_plus_pct: pct(n.migrant_heads_senior_plus, n.migrant_heads),
        outgoing_migrant_workers: n.migrant_adults as f64 * scale,
        cross_province_migrant_workers: n.migrant_adults_cross_province as f64 * scale,
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
        let mean = if finite.is_empty() { f64::NAN } else { finite.iter().sum::<f64>() / finite.len() as f64 };
        Band { mean, p5: percentile(&finite, 5.0), p95: percentile(&finite, 95.0) }
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
        Some(VarianceSplit { total: variance(values), draws })
    }

    /// Share of the variance from the parameters (0–1).
    pub fn parameter_share(&self) -> f64 {
        if self.total > 0.0 { ((self.total - self.draws) / self.total).clamp(0.0, 1.0) } else { 0.0 }
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
        assert!(VarianceSplit::of(&[1.0, 2.0], 2).is_none(), "one replicate each");
        assert!(VarianceSplit::of(&[1.0, 2.0, 3.0, 4.0], 1).is_none(), "one set");
    }

    #[test]
    fn band_of_identical_values_has_no_width() {
        let b = Band::of(&[3.0; 7]);
        assert_eq!((b.mean, b.p5, b.p95), (3.0, 3.0, 3.0));
    }
}
