//! Choice tables per (hukou origin, household type): utilities of every urban destination and of
//! the rural alternative, the log-sum, and a binary split tree to draw a destination in
//! O(log n) (MODEL §5.2). Households never loop over cities.
//!
//! The tree keeps common random numbers sharp: a household draws one keyed uniform per level,
//! and a change of one destination's utility changes only the splits on that destination's
//! path, so few draws change beyond those the change must move. An alias table (one uniform,
//! O(1)) reshuffles its columns when any probability changes and moved 10–200× the minimum
//! (`docs/model.md`, "Destination draws").

use super::city::Cities;
use crate::geo::Geography;
use crate::household::{EDUCATION_LEVELS, HOUSEHOLD_TYPES};
use crate::rng::Draws;
use crate::scenario::Scenario;
use rand::RngExt;
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
    /// Leaves of the split tree: the destinations padded to a power of two.
    leaves: usize,
    /// Per share row, the chance of going left at each inner node of a heap-ordered binary
    /// tree over the destinations (`[row · leaves + node]`, nodes 1..leaves).
    splits: Vec<f32>,
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
    /// Share of public services a non-hukou newcomer gets, per destination, this year.
    pub service_share: &'a [f64],
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
    /// Utilities of every (o, k, j); `with_draws` is false while calibrating constants (no
    /// destination is drawn then).
    pub fn build(inputs: &ChoiceInputs, with_draws: bool) -> ChoiceTables {
        let n = inputs.geo.len();
        let rows = n * SHARE_ROWS;
        let s = inputs.scenario;
        let b = &s.behaviour;
        let c = inputs.cities;
        let services = &s.services;
        let residence_gain = services.per_residence_year * f64::from(services.residence_years_counted) / 2.0;
        let discount = s.housing.affordable_discount;
        let job_finding = s.jobs.nonhukou_job_finding.at(inputs.year);

        // Destination terms shared by every origin: base (earnings, housing, constants,
        // amenity) and services without / with children.
        let destination: Vec<[f64; 3]> = (0..n)
            .map(|j| {
                let earnings = (c.expected_earnings[j] * job_finding / WAGE_SCALE).max(1e-6).ln();
                let housing = c.effective_housing_cost(j, discount).max(1e-6).ln();
                let newcomer_share = (inputs.service_share[j] + residence_gain).min(1.0);
                let access = |school: f64| {
                    let p = c.settle_prospect[j];
                    p + (1.0 - p) * newcomer_share * school
                };
                let base = b.beta_wage * earnings - b.beta_housing * housing + inputs.asc[j] + c.amenity[j];
                [base, b.beta_services * access(1.0), b.beta_services * access(c.school_access[j])]
            })
            .collect();

        let mut urban_utility = vec![0f32; rows * n];
        let mut iv_urban = vec![0f64; rows];
        urban_utility.par_chunks_mut(SHARE_ROWS * n).zip(iv_urban.par_chunks_mut(SHARE_ROWS)).enumerate().for_each(
            |(o, (utilities, ivs))| {
                let origin = &inputs.geo.units[o];
                let members = inputs.origin_members[o].max(1.0);
                for (with_children, (row_utilities, iv)) in utilities.chunks_mut(n).zip(ivs.iter_mut()).enumerate() {
                    let mut max = f64::NEG_INFINITY;
                    for (j, slot) in row_utilities.iter_mut().enumerate() {
                        let km = if j == o { s.initial.own_unit_distance_km } else { inputs.geo.distance_km(o, j) };
                        let per_mille = 1000.0 * f64::from(inputs.network[o * n + j]) / members;
                        let d = &destination[j];
                        let v = d[0] + d[1 + with_children] - b.beta_distance * (1.0 + km / 100.0).ln()
                            + b.beta_network * (1.0 + per_mille).ln()
                            + if j == o { b.beta_own_unit + inputs.nearby_bonus[o] } else { 0.0 }
                            + if inputs.geo.units[j].province == origin.province { b.beta_same_province } else { 0.0 };
                        *slot = v as f32;
                        max = max.max(v);
                    }
                    let sum: f64 = row_utilities.iter().map(|&v| (f64::from(v) - max).exp()).sum();
                    *iv = max + sum.ln();
                }
            },
        );

        let premium = std::array::from_fn(|level| b.beta_wage * b.education_wage_premium[level].ln());
        let mut tables = ChoiceTables {
            units: n,
            urban_utility,
            iv_urban,
            rural_utility: inputs.rural_asc + b.beta_wage * c.rural_income_index.ln(),
            premium,
            leaves: n.next_power_of_two(),
            splits: Vec::new(),
        };
        if with_draws {
            tables.build_splits();
        }
        tables
    }

    fn build_splits(&mut self) {
        let n = self.units;
        let leaves = self.leaves;
        let mut splits = vec![0f32; self.iv_urban.len() * leaves];
        splits.par_chunks_mut(leaves).enumerate().for_each(|(r, splits)| {
            let iv = self.iv_urban[r];
            let utilities = &self.urban_utility[r * n..(r + 1) * n];
            // Masses bottom-up: leaves at leaves..2·leaves, padding with zero mass.
            let mut mass = vec![0f64; 2 * leaves];
            for (j, &v) in utilities.iter().enumerate() {
                mass[leaves + j] = (f64::from(v) - iv).exp();
            }
            for node in (1..leaves).rev() {
                mass[node] = mass[2 * node] + mass[2 * node + 1];
                splits[node] = if mass[node] > 0.0 { (mass[2 * node] / mass[node]) as f32 } else { 0.5 };
            }
        });
        self.splits = splits;
    }

    /// Draws an urban destination for origin o and household type k, one uniform per level of
    /// the tree from `draws` (a stream keyed to the household, year and purpose).
    #[inline]
    pub fn draw_urban(&self, o: usize, k: usize, draws: &mut Draws) -> usize {
        let splits = &self.splits[share_row(o, k) * self.leaves..][..self.leaves];
        let mut node = 1;
        while node < self.leaves {
            let right = draws.random::<f32>() >= splits[node];
            node = 2 * node + usize::from(right);
        }
        (node - self.leaves).min(self.units - 1)
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
    use crate::rng::Purpose;

    fn tables(utilities: &[f32]) -> ChoiceTables {
        let n = utilities.len();
        let max = utilities.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let iv = max + utilities.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>().ln();
        let mut t = ChoiceTables {
            units: n,
            urban_utility: [utilities, utilities].concat(),
            iv_urban: vec![iv; 2],
            rural_utility: 0.0,
            premium: [0.0; EDUCATION_LEVELS],
            leaves: n.next_power_of_two(),
            splits: Vec::new(),
        };
        t.build_splits();
        t
    }

    #[test]
    fn tree_draws_follow_the_logit_shares() {
        let row = [0.0, (2.0f32).ln(), (3.0f32).ln(), (4.0f32).ln(), 0.0];
        let t = tables(&row);
        let mut counts = [0usize; 5];
        let draws = 200_000;
        for id in 0..draws {
            let mut d = Draws::new(1, 2024, id, Purpose::Destination);
            counts[t.draw_urban(0, 0, &mut d)] += 1;
        }
        for (j, &c) in counts.iter().enumerate() {
            let expected = [1.0, 2.0, 3.0, 4.0, 1.0][j] / 11.0;
            let share = c as f64 / draws as f64;
            assert!((share - expected).abs() < 0.004, "j={j} share={share}");
        }
    }

    /// Vose's alias table as the model used it before (one uniform per draw), kept to measure
    /// what the tree gains.
    fn alias(p: &[f64]) -> (Vec<f64>, Vec<usize>) {
        let n = p.len();
        let mut scaled: Vec<f64> = p.iter().map(|x| x * n as f64).collect();
        let (mut prob, mut index) = (vec![1.0; n], (0..n).collect::<Vec<_>>());
        let mut small: Vec<usize> = (0..n).filter(|&j| scaled[j] < 1.0).collect();
        let mut large: Vec<usize> = (0..n).filter(|&j| scaled[j] >= 1.0).collect();
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            prob[s] = scaled[s];
            index[s] = l;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        (prob, index)
    }

    /// Exact share of draws whose outcome differs between two alias tables (same uniform).
    fn alias_changed(a: &(Vec<f64>, Vec<usize>), b: &(Vec<f64>, Vec<usize>)) -> f64 {
        let n = a.0.len() as f64;
        let mut changed = 0.0;
        for c in 0..a.0.len() {
            let (pa, ia, pb, ib) = (a.0[c], a.1[c], b.0[c], b.1[c]);
            // Below both cut points both give column c; between them one gives c and the other
            // its alias; above both, the two aliases.
            let low = pa.min(pb);
            let high = pa.max(pb);
            let middle_differs = if pa < pb { ia != c } else { ib != c };
            if middle_differs {
                changed += high - low;
            }
            if ia != ib {
                changed += 1.0 - high;
            }
        }
        changed / n
    }

    /// Exact share of draws whose outcome differs between two split trees (same uniforms).
    fn tree_changed(a: &ChoiceTables, b: &ChoiceTables) -> f64 {
        fn same(a: &[f32], b: &[f32], node: usize, leaves: usize) -> f64 {
            if node >= leaves {
                return 1.0;
            }
            let (sa, sb) = (f64::from(a[node]), f64::from(b[node]));
            sa.min(sb) * same(a, b, 2 * node, leaves) + (1.0 - sa).min(1.0 - sb) * same(a, b, 2 * node + 1, leaves)
        }
        1.0 - same(&a.splits[..a.leaves], &b.splits[..b.leaves], 1, a.leaves)
    }

    /// Common random numbers: raising one destination's utility by 0.01 must change few more
    /// draws than the change requires (the total-variation distance between the two
    /// distributions). Measured exactly, over destinations spread from the largest share to
    /// the smallest, on 367 destinations with shares spread like cities' (log-normal).
    #[test]
    fn a_small_change_at_one_destination_moves_few_more_draws_than_it_must() {
        let n = 367;
        let mut state = 12345u64;
        let utilities: Vec<f32> = (0..n)
            .map(|_| {
                let mut d = Draws::new(state, 0, 0, Purpose::Synthesis);
                state += 1;
                d.sample(rand_distr::Normal::new(0.0, 1.5).expect("finite spread")) as f32
            })
            .collect();
        let base = tables(&utilities);
        let shares = |u: &[f32]| -> Vec<f64> {
            let total: f64 = u.iter().map(|&v| f64::from(v).exp()).sum();
            u.iter().map(|&v| f64::from(v).exp() / total).collect()
        };
        let p = shares(&utilities);
        let base_alias = alias(&p);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let (mut tree_ratios, mut alias_ratios) = (Vec::new(), Vec::new());
        for rank in (0..n).step_by(15) {
            let j = order[rank];
            let mut changed = utilities.clone();
            changed[j] += 0.01;
            let q = shares(&changed);
            let minimum: f64 = p.iter().zip(&q).map(|(a, b)| (a - b).abs()).sum::<f64>() / 2.0;
            tree_ratios.push(tree_changed(&base, &tables(&changed)) / minimum);
            alias_ratios.push(alias_changed(&base_alias, &alias(&q)) / minimum);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (tree, alias) = (median(&mut tree_ratios), median(&mut alias_ratios));
        eprintln!(
            "draws changed ÷ minimum, median over {} destinations: split tree {tree:.2}, alias {alias:.2}",
            tree_ratios.len()
        );
        assert!(tree >= 1.0 - 1e-6, "no coupling beats the minimum");
        assert!(tree * 5.0 <= alias, "tree {tree}, alias {alias}");
    }
}
