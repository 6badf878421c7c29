//! Choice tables per (hukou origin, household type): utilities of every urban destination and of
//! the rural alternative, the log-sum, and an alias table to draw a destination in O(1)
//! (MODEL §5.2). Households never loop over cities.

use super::city::Cities;
use crate::geo::Geography;
use crate::household::{EDUCATION_LEVELS, HOUSEHOLD_TYPES};
use crate::scenario::Scenario;
use rayon::prelude::*;

/// Monthly wage that scales the wage term (yuan), so utilities stay near zero.
const WAGE_SCALE: f64 = 5000.0;

/// Destination shares depend on the household type only through whether it has children
/// (school access); education adds the same wage premium to every city, so it moves the level
/// of a row (and the choice against the village) but not the shares. Tables are therefore kept
/// per (origin, with children), and the premium is added on lookup: a quarter of the work.
const SHARE_ROWS: usize = 2;

#[derive(Debug, Clone)]
pub struct ChoiceTables {
    units: usize,
    /// Utility of urban destination j without the education premium: `[(o·2 + c)·n + j]`.
    urban_utility: Vec<f32>,
    /// Log-sum over urban destinations per (o, c), without the education premium.
    iv_urban: Vec<f64>,
    /// Utility of staying in (or returning to) the village.
    rural_utility: f64,
    /// β_wage · ln(education wage premium) per education level.
    premium: [f64; EDUCATION_LEVELS],
    alias_prob: Vec<f32>,
    alias_index: Vec<u16>,
}

/// Everything the utilities read besides the scenario and city state.
pub struct ChoiceInputs<'a> {
    pub geo: &'a Geography,
    pub scenario: &'a Scenario,
    pub cities: &'a Cities,
    pub year: i32,
    /// Members from origin o living in urban j (hukou o ≠ residence j), `[o·n + j]`.
    pub network: &'a [u32],
    /// Residents of unit o (the origin's size, for network intensity).
    pub origin_members: &'a [f64],
    /// City constants (calibrated at start).
    pub asc: &'a [f64],
    /// Constant of the rural alternative (calibrated at start).
    pub rural_asc: f64,
    /// Extra utility of the own unit's towns, per origin (potential regions' nearby preference).
    pub nearby_bonus: &'a [f64],
}

/// Row of the per-(origin, household type) count arrays used in calibration.
#[inline]
pub fn row(o: usize, k: usize) -> usize {
    o * HOUSEHOLD_TYPES + k
}

#[inline]
fn share_row(o: usize, k: usize) -> usize {
    o * SHARE_ROWS + k % 2
}

impl ChoiceTables {
    /// Utilities of every (o, k, j); `with_alias` is false while calibrating constants.
    pub fn build(inputs: &ChoiceInputs, with_alias: bool) -> ChoiceTables {
        let n = inputs.geo.len();
        let rows = n * SHARE_ROWS;
        let s = inputs.scenario;
        let b = &s.behaviour;
        let c = inputs.cities;
        let services = &s.services;
        let base_share = services.nonhukou_share.at(inputs.year);
        let newcomer_share = (base_share
            + services.per_residence_year * f64::from(services.residence_years_counted) / 2.0)
            .min(1.0);
        let discount = s.housing.affordable_discount;
        let access_share = s.housing.affordable_access.at(inputs.year);
        let job_finding = s.jobs.nonhukou_job_finding.at(inputs.year);

        // Destination terms shared by every origin: base (earnings, housing, constants,
        // amenity) and services without / with children.
        let destination: Vec<[f64; 3]> = (0..n)
            .map(|j| {
                let earnings = (c.expected_earnings[j] * job_finding / WAGE_SCALE)
                    .max(1e-6)
                    .ln();
                let housing = c
                    .effective_housing_cost(j, discount, access_share)
                    .max(1e-6)
                    .ln();
                let access = |school: f64| {
                    let p = c.settle_prospect[j];
                    p + (1.0 - p) * newcomer_share * school
                };
                let base = b.beta_wage * earnings - b.beta_housing * housing
                    + inputs.asc[j]
                    + c.amenity[j];
                [
                    base,
                    b.beta_services * access(1.0),
                    b.beta_services * access(c.school_access[j]),
                ]
            })
            .collect();

        let mut urban_utility = vec![0f32; rows * n];
        let mut iv_urban = vec![0f64; rows];
        urban_utility
            .par_chunks_mut(SHARE_ROWS * n)
            .zip(iv_urban.par_chunks_mut(SHARE_ROWS))
            .enumerate()
            .for_each(|(o, (utilities, ivs))| {
                let origin = &inputs.geo.units[o];
                let members = inputs.origin_members[o].max(1.0);
                for (with_children, (row_utilities, iv)) in
                    utilities.chunks_mut(n).zip(ivs.iter_mut()).enumerate()
                {
                    let mut max = f64::NEG_INFINITY;
                    for (j, slot) in row_utilities.iter_mut().enumerate() {
                        let km = if j == o {
                            s.initial.own_unit_distance_km
                        } else {
                            inputs.geo.distance_km(o, j)
                        };
                        let per_mille = 1000.0 * f64::from(inputs.network[o * n + j]) / members;
                        let d = &destination[j];
                        let v = d[0] + d[1 + with_children]
                            - b.beta_distance * (1.0 + km / 100.0).ln()
                            + b.beta_network * (1.0 + per_mille).ln()
                            + if j == o {
                                b.beta_own_unit + inputs.nearby_bonus[o]
                            } else {
                                0.0
                            }
                            + if inputs.geo.units[j].province == origin.province {
                                b.beta_same_province
                            } else {
                                0.0
                            };
                        *slot = v as f32;
                        max = max.max(v);
                    }
                    let sum: f64 = row_utilities
                        .iter()
                        .map(|&v| (f64::from(v) - max).exp())
                        .sum();
                    *iv = max + sum.ln();
                }
            });

        let premium =
            std::array::from_fn(|level| b.beta_wage * b.education_wage_premium[level].ln());
        let mut tables = ChoiceTables {
            units: n,
            urban_utility,
            iv_urban,
            rural_utility: inputs.rural_asc + b.beta_wage * c.rural_income_index.ln(),
            premium,
            alias_prob: Vec::new(),
            alias_index: Vec::new(),
        };
        if with_alias {
            tables.build_alias();
        }
        tables
    }

    fn build_alias(&mut self) {
        let n = self.units;
        let rows = self.iv_urban.len();
        let mut prob = vec![0f32; rows * n];
        let mut index = vec![0u16; rows * n];
        prob.par_chunks_mut(n)
            .zip(index.par_chunks_mut(n))
            .enumerate()
            .for_each(|(r, (prob, index))| {
                let iv = self.iv_urban[r];
                let utilities = &self.urban_utility[r * n..(r + 1) * n];
                // Vose's alias method: scaled probabilities split into small and large.
                let mut scaled: Vec<f64> = utilities
                    .iter()
                    .map(|&v| (f64::from(v) - iv).exp() * n as f64)
                    .collect();
                let mut small: Vec<usize> = Vec::with_capacity(n);
                let mut large: Vec<usize> = Vec::with_capacity(n);
                for (j, &p) in scaled.iter().enumerate() {
                    if p < 1.0 {
                        small.push(j);
                    } else {
                        large.push(j);
                    }
                }
                while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
                    small.pop();
                    prob[s] = scaled[s] as f32;
                    index[s] = l as u16;
                    scaled[l] -= 1.0 - scaled[s];
                    if scaled[l] < 1.0 {
                        large.pop();
                        small.push(l);
                    }
                }
                for j in small.into_iter().chain(large) {
                    prob[j] = 1.0;
                    index[j] = j as u16;
                }
            });
        self.alias_prob = prob;
        self.alias_index = index;
    }

    /// Draws an urban destination for origin o and household type k from one uniform number.
    #[inline]
    pub fn draw_urban(&self, o: usize, k: usize, u: f64) -> usize {
        let n = self.units;
        let scaled = u * n as f64;
        let column = (scaled as usize).min(n - 1);
        let fraction = (scaled - column as f64) as f32;
        let at = share_row(o, k) * n + column;
        if fraction < self.alias_prob[at] {
            column
        } else {
            usize::from(self.alias_index[at])
        }
    }

    #[inline]
    pub fn urban_utility(&self, o: usize, k: usize, j: usize) -> f64 {
        f64::from(self.urban_utility[share_row(o, k) * self.units + j]) + self.premium[k / 2]
    }

    #[inline]
    pub fn iv_urban(&self, o: usize, k: usize) -> f64 {
        self.iv_urban[share_row(o, k)] + self.premium[k / 2]
    }

    #[inline]
    pub fn rural_utility(&self, _o: usize, _k: usize) -> f64 {
        self.rural_utility
    }

    /// Probability of choosing urban destination j in row (o, k) among urban destinations.
    #[inline]
    pub fn urban_share(&self, o: usize, k: usize, j: usize) -> f64 {
        let r = share_row(o, k);
        (f64::from(self.urban_utility[r * self.units + j]) - self.iv_urban[r]).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_draws_follow_the_logit_shares() {
        let row = [0.0, (2.0f32).ln(), (3.0f32).ln(), (4.0f32).ln()];
        let mut t = ChoiceTables {
            units: 4,
            urban_utility: [row, row].concat(),
            iv_urban: vec![(10.0f64).ln(); 2],
            rural_utility: 0.0,
            premium: [0.0; EDUCATION_LEVELS],
            alias_prob: Vec::new(),
            alias_index: Vec::new(),
        };
        t.build_alias();
        let mut counts = [0usize; 4];
        let draws = 100_000;
        for i in 0..draws {
            let u = (i as f64 + 0.5) / draws as f64;
            counts[t.draw_urban(0, 0, u)] += 1;
        }
        for (j, &c) in counts.iter().enumerate() {
            let expected = (j + 1) as f64 / 10.0;
            let share = c as f64 / draws as f64;
            assert!((share - expected).abs() < 0.002, "j={j} share={share}");
        }
    }
}
