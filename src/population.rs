//! The initial population: households per unit at the end of the base year (MODEL §4).
//!
//! Census 2020 shares are carried forward to the base-year totals: unit populations scale with
//! the national total, unit urbanization rates shift by one common logit so the national rate
//! matches, and the census stocks of people registered elsewhere split each urban part into local
//! and non-local residents. The hukou type of non-local residents is closed so the national hukou
//! rate matches. Origins of migrants come from a distance-decay gravity model. Every choice is
//! documented in `docs/model.md`; synthesis is seeded and deterministic.

use crate::engine::step::Binomials;
use crate::geo::Geography;
use crate::household::{Household, flags};
use crate::rng::{Draws, Purpose};
use crate::scenario::Scenario;
use rand::RngExt;
use rand::distr::Distribution;
use rand_distr::{Binomial, StandardNormal};
use rayon::prelude::*;

/// Migrant households' composition (`docs/model.md`; the chance of a second working-age adult
/// is `initial.migrant_second_adult_share`): chance of each of two possible children (0.55, so
/// that with `left_behind_child_share` the 2020 backcast starts with 66.0M left-behind children
/// aged 0–17, 55.0M of them under 15 and the rest left-behind young adults, near the census 2020
/// figure of 66.9M); chance elderly live with them in the city; chance each of two elderly
/// parents is left behind at the origin (assumptions).
const MIGRANT_CHILD: f64 = 0.55;
/// Share of left-behind children (census ages 0–17) aged 15–17, with ages even: 3 / 18. It is
/// also the model's own steady state (children turn 15 at 1/15 a year, young adults follow at
/// 1/3: 0.2 young adults per child under 15 = 3/18 of the two), so nothing ramps up from zero.
const LEFT_BEHIND_AGED_15_17: f64 = 3.0 / 18.0;
const MIGRANT_ELDERLY_PRESENT: f64 = 0.08;
const MIGRANT_ELDERLY_LEFT: f64 = 0.25;
/// Mean and spread of household heads' ages (MWMS 2023: outgoing migrant workers average 38.9).
const MIGRANT_HEAD_AGE: (f64, f64) = (38.9, 9.0);
const LOCAL_HEAD_AGE: (f64, f64) = (50.0, 14.0);
const RURAL_HEAD_AGE: (f64, f64) = (55.0, 13.0);
/// Share of rural-hukou households holding land rights (assumption).
const LAND_RIGHTS_SHARE: f64 = 0.9;
/// Home ownership at the residence: local urban households vs migrants (assumption).
const LOCAL_OWNERSHIP: f64 = 0.85;
const MIGRANT_OWNERSHIP: f64 = 0.2;

/// The synthesised population and the figures used to build it.
#[derive(Debug, Clone)]
pub struct Population {
    pub households: Vec<Household>,
    /// Real persons each simulated member stands for.
    pub persons_per_member: f64,
    /// Urban residents of each unit in the base year from the data (persons), before the
    /// sample: what base-year capacity is sized on, so a unit whose few sampled households
    /// happen to hold no urban worker still has its jobs.
    pub urban_persons: Vec<f64>,
    pub report: SynthesisReport,
}

/// Quantities solved during synthesis, reported in the manifest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SynthesisReport {
    /// Population-weighted mean logit shift of unit urbanization rates from 2020 to the base
    /// year (each province has its own; `base_year_units`).
    pub urban_logit_shift: f64,
    /// Share of cross-county migrants holding rural hukou after closing the national hukou rate.
    pub rural_origin_share_cross_county: f64,
    /// Of these, the shares among migrants from another province and from the same province.
    pub rural_origin_share_other_province: f64,
    pub rural_origin_share_same_province: f64,
    /// Share of local urban residents holding rural hukou (in-situ urbanized) after closure.
    pub in_situ_rural_hukou_share: f64,
}

/// The kinds of households synthesised in each unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    LocalUrbanHukou,
    LocalRuralHukou,
    SameCountyRural,
    SameCountyUrban,
    SameProvinceRural,
    SameProvinceUrban,
    OtherProvinceRural,
    OtherProvinceUrban,
    Rural,
}

const CELLS: [Cell; 9] = [
    Cell::LocalUrbanHukou,
    Cell::LocalRuralHukou,
    Cell::SameCountyRural,
    Cell::SameCountyUrban,
    Cell::SameProvinceRural,
    Cell::SameProvinceUrban,
    Cell::OtherProvinceRural,
    Cell::OtherProvinceUrban,
    Cell::Rural,
];

impl Cell {
    /// Rural-hukou migrants: split households whose children and elderly may be left behind.
    fn is_rural_migrant(self) -> bool {
        matches!(self, Cell::SameCountyRural | Cell::SameProvinceRural | Cell::OtherProvinceRural)
    }

    fn is_migrant(self) -> bool {
        !matches!(self, Cell::LocalUrbanHukou | Cell::LocalRuralHukou | Cell::Rural)
    }
}

/// Expected present and left-behind members of a rural-hukou migrant household.
fn migrant_means(left_behind_child_share: f64, second_adult: f64) -> (f64, f64) {
    let children = 2.0 * MIGRANT_CHILD;
    let present = 1.0 + second_adult + children * (1.0 - left_behind_child_share) + MIGRANT_ELDERLY_PRESENT;
    let left = children * left_behind_child_share + 2.0 * MIGRANT_ELDERLY_LEFT;
    (present, left)
}

/// Composition probabilities of an ordinary household of a unit: (adult, child, elderly).
fn ordinary_composition(size: f64, share_0_14: f64, share_65p: f64) -> (f64, f64, f64) {
    let children = size * share_0_14;
    let elderly = size * share_65p;
    let adults = (size - children - elderly).max(1.0);
    (((adults - 1.0) / 2.0).clamp(0.0, 1.0), (children / 3.0).clamp(0.0, 1.0), (elderly / 2.0).clamp(0.0, 1.0))
}

fn ordinary_mean(p: (f64, f64, f64)) -> f64 {
    1.0 + 2.0 * p.0 + 3.0 * p.1 + 2.0 * p.2
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

/// Per-destination origin distributions (cumulative) for same-province and other-province
/// migrants: weight ∝ rural population × (1 + distance/100 km)^−decay.
struct Origins {
    same_province: Vec<Vec<(f64, u16)>>,
    other_province: Vec<Vec<(f64, u16)>>,
}

fn origin_tables(geo: &Geography, scenario: &Scenario) -> Origins {
    let n = geo.len();
    let decay = scenario.initial.origin_distance_decay;
    let own_km = scenario.initial.own_unit_distance_km;
    let build = |dest: usize, same: bool| -> Vec<(f64, u16)> {
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for o in 0..n {
            if (geo.units[o].province == geo.units[dest].province) != same {
                continue;
            }
            let rural = (geo.units[o].pop_2020 - geo.units[o].pop_urban_2020).max(1.0);
            let km = if o == dest { own_km } else { geo.distance_km(o, dest) };
            total += rural * (1.0 + km / 100.0).powf(-decay);
            cumulative.push((total, o as u16));
        }
        if total > 0.0 {
            for entry in &mut cumulative {
                entry.0 /= total;
            }
        }
        cumulative
    };
    Origins {
        same_province: (0..n).map(|d| build(d, true)).collect(),
        other_province: (0..n).map(|d| build(d, false)).collect(),
    }
}

fn draw_from(cumulative: &[(f64, u16)], u: f64, fallback: u16) -> u16 {
    if cumulative.is_empty() {
        return fallback;
    }
    let i = cumulative.partition_point(|(c, _)| *c <= u);
    cumulative[i.min(cumulative.len() - 1)].1
}

/// Provincial population and urbanization 2020–2023 (`data/provinces.csv`, derived from the
/// provincial communiqués and the 2020 census by `tools/derive_data.py`).
const PROVINCES_CSV: &str = include_str!("../data/provinces.csv");

/// A province's official figures for one year: population (persons) and urbanization rate
/// (%), each where the data has it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProvinceFigures {
    pub population: Option<f64>,
    pub urbanization_rate_pct: Option<f64>,
}

/// Official figures of each province of `geo` (by index) in `year`; none outside 2020–2023.
pub fn province_figures(geo: &Geography, year: i32) -> Vec<ProvinceFigures> {
    let mut figures = vec![ProvinceFigures::default(); geo.provinces.len()];
    let mut reader = csv::Reader::from_reader(PROVINCES_CSV.as_bytes());
    for record in reader.records().filter_map(Result::ok) {
        let number = |i: usize| record.get(i).and_then(|v| v.parse::<f64>().ok());
        let code = record.get(0).and_then(|v| v.parse::<u32>().ok());
        let row_year = record.get(2).and_then(|v| v.parse::<i32>().ok());
        if row_year != Some(year) {
            continue;
        }
        if let Some(p) = code.and_then(|c| geo.provinces.iter().position(|p| p.code / 10_000 == c)) {
            figures[p] = ProvinceFigures { population: number(3), urbanization_rate_pct: number(4) };
        }
    }
    figures
}

/// The shift `s` with Σ weight·logistic(logit(rate) + s) = target, by bisection on [−8, 8].
fn logit_shift(units: &[(f64, f64)], target: f64) -> f64 {
    let (mut lo, mut hi) = (-8.0, 8.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        let urban: f64 = units.iter().map(|&(weight, rate)| weight * logistic(logit(rate) + mid)).sum();
        if urban < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Base-year population and urban residents of every unit (persons).
///
/// Provinces match the official figures of the base year where `data/provinces.csv` has them:
/// population, and urbanization through one logit shift of the province's census unit rates
/// (units keep their census ranking within the province). Provinces without a figure carry the
/// census forward: their population shares the national remainder in census proportions, and
/// one common shift gives them the urbanization the national rate leaves. A last common shift
/// of every unit, tiny when the provincial figures agree with the national ones, makes the
/// national rate exact.
fn base_year_units(geo: &Geography, scenario: &Scenario) -> (Vec<f64>, Vec<f64>, f64) {
    let init = &scenario.initial;
    let n = geo.len();
    let provinces = geo.provinces.len();
    let figures = province_figures(geo, init.year);
    let mut census = vec![0.0; provinces];
    for unit in &geo.units {
        census[unit.province] += unit.pop_2020;
    }
    // Population: official where known, the rest of the national total in census proportions.
    let known: f64 = figures.iter().filter_map(|f| f.population).sum();
    let unknown_census: f64 = (0..provinces).filter(|&p| figures[p].population.is_none()).map(|p| census[p]).sum();
    let remainder = init.population - known;
    let province_pop: Vec<f64> = (0..provinces)
        .map(|p| match figures[p].population {
            Some(pop) => pop,
            None if unknown_census > 0.0 && remainder > 0.0 => census[p] * remainder / unknown_census,
            None => census[p],
        })
        .collect();
    // Census day and year end differ (and the military is in the national total only): the
    // provinces scale together to the national total.
    let scale = init.population / province_pop.iter().sum::<f64>();
    let pop: Vec<f64> =
        geo.units.iter().map(|u| u.pop_2020 / census[u.province].max(1.0) * province_pop[u.province] * scale).collect();
    let rate_2020: Vec<f64> = geo.units.iter().map(|u| u.pop_urban_2020 / u.pop_2020.max(1.0)).collect();
    let members_of = |p: usize| -> Vec<(f64, f64)> {
        (0..n).filter(|&u| geo.units[u].province == p).map(|u| (pop[u], rate_2020[u])).collect()
    };
    let mut shift = vec![0.0; provinces];
    let mut known_urban = 0.0;
    for p in 0..provinces {
        if let Some(rate) = figures[p].urbanization_rate_pct {
            let units = members_of(p);
            let total: f64 = units.iter().map(|u| u.0).sum();
            shift[p] = logit_shift(&units, total * rate / 100.0);
            known_urban += units.iter().map(|&(w, r)| w * logistic(logit(r) + shift[p])).sum::<f64>();
        }
    }
    let target_urban = init.population * init.urbanization_rate_pct / 100.0;
    let unknown: Vec<(f64, f64)> = (0..n)
        .filter(|&u| figures[geo.units[u].province].urbanization_rate_pct.is_none())
        .map(|u| (pop[u], rate_2020[u]))
        .collect();
    if !unknown.is_empty() {
        let common = logit_shift(&unknown, (target_urban - known_urban).max(0.0));
        for p in 0..provinces {
            if figures[p].urbanization_rate_pct.is_none() {
                shift[p] = common;
            }
        }
    }
    let urban_at = |delta: f64| -> Vec<f64> {
        (0..n).map(|u| pop[u] * logistic(logit(rate_2020[u]) + shift[geo.units[u].province] + delta)).collect()
    };
    // The national rate exactly: one more common shift (zero when the above already hit it).
    let (mut lo, mut hi) = (-2.0, 2.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if urban_at(mid).iter().sum::<f64>() < target_urban {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let delta = 0.5 * (lo + hi);
    let mean_shift = (0..n).map(|u| pop[u] * shift[geo.units[u].province]).sum::<f64>() / init.population + delta;
    (pop.clone(), urban_at(delta), mean_shift)
}

/// Builds the base-year population with `scenario.run.households` households.
pub fn synthesize(geo: &Geography, scenario: &Scenario) -> Population {
    let init = &scenario.initial;
    let n = geo.len();
    let (pop, urban, shift) = base_year_units(geo, scenario);
    // Stocks of people registered elsewhere grow with the national population.
    let growth = init.population / geo.units.iter().map(|u| u.pop_2020).sum::<f64>();

    // Census stocks of people registered elsewhere, scaled like the population and capped so
    // locals remain.
    let mut same_county = vec![0.0; n];
    let mut same_province = vec![0.0; n];
    let mut other_province = vec![0.0; n];
    for (u, unit) in geo.units.iter().enumerate() {
        let total =
            (unit.elsewhere_same_county + unit.elsewhere_same_province + unit.elsewhere_other_province) * growth;
        let cap = 0.9 * urban[u];
        let factor = if total > cap { cap / total } else { 1.0 };
        same_county[u] = unit.elsewhere_same_county * growth * factor;
        same_province[u] = unit.elsewhere_same_province * growth * factor;
        other_province[u] = unit.elsewhere_other_province * growth * factor;
    }

    // Close the hukou rate: rural-hukou urban residents = population × (urban − hukou rate).
    let gap_persons = init.population * (init.urbanization_rate_pct - init.hukou_urbanization_rate_pct) / 100.0;
    let cross: f64 = (0..n).map(|u| same_province[u] + other_province[u]).sum();
    let county: f64 = same_county.iter().sum();
    let locals: f64 = (0..n).map(|u| urban[u] - same_county[u] - same_province[u] - other_province[u]).sum();
    let base_share = init.rural_origin_share_cross_county;
    let county_share = base_share * init.floating_share_same_county;
    let migrant_gap = base_share * cross + county_share * county;
    let (cross_share, county_share, in_situ_share) = if migrant_gap <= gap_persons {
        (base_share, county_share, (gap_persons - migrant_gap) / locals.max(1.0))
    } else {
        let f = gap_persons / migrant_gap;
        (base_share * f, county_share * f, 0.0)
    };
    // Cross-county migrants' rural share differs between those from another province and those
    // from the same province; the total of rural-hukou cross-county migrants stays
    // `cross_share` of them. The other-province share is calibrated to the survey's
    // cross-province migrant workers; the same-province share follows.
    let other_total: f64 = other_province.iter().sum();
    let same_total: f64 = same_province.iter().sum();
    let other_share = (init.rural_origin_share_other_province.at(init.year) * cross_share / base_share.max(1e-9))
        .clamp(0.0, 1.0)
        .min(cross_share * cross / other_total.max(1.0));
    let same_share = ((cross_share * cross - other_share * other_total) / same_total.max(1.0)).clamp(0.0, 1.0);

    let (migrant_present, migrant_left) = migrant_means(init.left_behind_child_share, init.migrant_second_adult_share);
    let origins = origin_tables(geo, scenario);

    // Real households per (unit, cell); left-behind members live in their origin's rural part,
    // so rural households there are reduced by them (expected origins from the gravity tables).
    let mut households = vec![[0.0f64; CELLS.len()]; n];
    let mut left_behind_at = vec![0.0f64; n];
    for u in 0..n {
        let unit = &geo.units[u];
        let ordinary = ordinary_mean(ordinary_composition(unit.household_size, unit.share_0_14, unit.share_65p));
        let locals = urban[u] - same_county[u] - same_province[u] - other_province[u];
        let persons = [
            locals * (1.0 - in_situ_share),
            locals * in_situ_share,
            same_county[u] * county_share,
            same_county[u] * (1.0 - county_share),
            same_province[u] * same_share,
            same_province[u] * (1.0 - same_share),
            other_province[u] * other_share,
            other_province[u] * (1.0 - other_share),
            0.0, // rural: filled below
        ];
        for (c, cell) in CELLS.iter().enumerate() {
            let mean = if cell.is_rural_migrant() { migrant_present } else { ordinary };
            households[u][c] = persons[c] / mean;
        }
        left_behind_at[u] += households[u][2] * migrant_left;
        for (table, cell) in [(&origins.same_province, 4), (&origins.other_province, 6)] {
            let mut previous = 0.0;
            for &(cumulative, o) in &table[u] {
                left_behind_at[usize::from(o)] += households[u][cell] * migrant_left * (cumulative - previous);
                previous = cumulative;
            }
        }
    }
    for u in 0..n {
        let unit = &geo.units[u];
        let ordinary = ordinary_mean(ordinary_composition(unit.household_size, unit.share_0_14, unit.share_65p));
        let rural_persons = (pop[u] - urban[u] - left_behind_at[u]).max(0.05 * (pop[u] - urban[u]));
        households[u][8] = rural_persons / ordinary;
    }

    // Allocate agents to cells by largest remainder: deterministic, and totals exact.
    let total_households: f64 = households.iter().flatten().sum();
    let agents = scenario.run.households as f64;
    let mut counts = Vec::with_capacity(n * CELLS.len());
    let mut remainders = Vec::with_capacity(n * CELLS.len());
    let mut assigned: u64 = 0;
    for (u, row) in households.iter().enumerate() {
        for (c, h) in row.iter().enumerate() {
            let exact = h / total_households * agents;
            let whole = exact.floor() as u64;
            counts.push(whole);
            remainders.push((exact - whole as f64, u * CELLS.len() + c));
            assigned += whole;
        }
    }
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, index) in remainders.iter().take((scenario.run.households - assigned) as usize) {
        counts[index] += 1;
    }

    // Each cell's households get consecutive ids; each id draws its own attributes, so the
    // result does not depend on threads.
    let mut starts = Vec::with_capacity(counts.len());
    let mut next = 0u64;
    for &count in &counts {
        starts.push(next);
        next += count;
    }
    let seed = scenario.run.seed;
    let households = scenario.run.households as usize;
    // Written in parallel into fresh memory: `vec![Household::default(); n]` would write every
    // record once on one thread first (the records are not all-zero bits to the allocator), which
    // at 500M households was a third of the synthesis, most of it page faults.
    let mut people: Vec<Household> = Vec::with_capacity(households);
    let slots = &mut people.spare_capacity_mut()[..households];
    advise_huge_pages(slots);
    let cell_of: Vec<(usize, Cell)> = (0..n).flat_map(|u| CELLS.iter().map(move |c| (u, *c))).collect();
    let draws = CompositionDraws::new(geo, scenario);
    slots.par_chunks_mut(1 << 14).enumerate().for_each(|(chunk, slice)| {
        let first = (chunk << 14) as u64;
        // Find the cell of the chunk's first household, then walk forward.
        let mut cell = starts.partition_point(|&s| s <= first).saturating_sub(1);
        for (offset, household) in slice.iter_mut().enumerate() {
            let id = first + offset as u64;
            while cell + 1 < starts.len() && starts[cell + 1] <= id {
                cell += 1;
            }
            let (u, kind) = cell_of[cell];
            household.write(make_household(geo, scenario, &origins, &draws, u, kind, id, seed));
        }
    });
    // SAFETY: the loop above wrote every one of the first `households` slots (the chunks cover
    // the slice), and `Household` is plain integers.
    unsafe { people.set_len(households) };

    let members: u64 = people.par_iter().map(|h| u64::from(h.members())).sum();
    Population {
        households: people,
        persons_per_member: init.population / members.max(1) as f64,
        urban_persons: urban,
        report: SynthesisReport {
            urban_logit_shift: shift,
            rural_origin_share_cross_county: cross_share,
            rural_origin_share_other_province: other_share,
            rural_origin_share_same_province: same_share,
            in_situ_rural_hukou_share: in_situ_share,
        },
    }
}

/// Asks the kernel to back the households' memory with huge pages where it does so on request
/// (transparent huge pages in `madvise` mode, Debian's default): 512× fewer page faults while the
/// records are first written. Only a hint: nothing changes but the time, and errors are ignored.
fn advise_huge_pages<T>(slots: &mut [std::mem::MaybeUninit<T>]) {
    const HUGE_PAGE: usize = 2 << 20;
    let start = slots.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(slots);
    // madvise wants page-aligned ranges: the huge pages wholly inside the allocation.
    let aligned_start = start.next_multiple_of(HUGE_PAGE);
    let aligned_end = end / HUGE_PAGE * HUGE_PAGE;
    if aligned_end > aligned_start {
        // SAFETY: the range lies within memory this process owns (the vector's allocation), and
        // MADV_HUGEPAGE only changes how the kernel backs it, never its contents.
        unsafe {
            libc::madvise(aligned_start as *mut libc::c_void, aligned_end - aligned_start, libc::MADV_HUGEPAGE);
        }
    }
}

/// The binomial distributions of household composition, set up once per synthesis rather than
/// per household (`Binomial::new` takes a power).
struct CompositionDraws {
    /// Per unit: further adults (of 2), children (of 3) and elderly (of 2) of an ordinary household.
    ordinary: Vec<[Binomial; 3]>,
    /// A migrant household's elderly parents left behind at the origin (of 2).
    elderly_left: Binomial,
    /// Years of insurance over a migrant's years at the destination, at base-year coverage.
    insurance_years: Binomials,
}

impl CompositionDraws {
    fn new(geo: &Geography, scenario: &Scenario) -> CompositionDraws {
        let ordinary = geo
            .units
            .iter()
            .map(|unit| {
                let (adult, child, elderly) =
                    ordinary_composition(unit.household_size, unit.share_0_14, unit.share_65p);
                [(2, adult), (3, child), (2, elderly)]
                    .map(|(n, p)| Binomial::new(n, p).expect("p is clamped to [0, 1]"))
            })
            .collect();
        let coverage = scenario.social_insurance.coverage_pct.at(scenario.base_year()) / 100.0;
        CompositionDraws {
            ordinary,
            elderly_left: Binomial::new(2, MIGRANT_ELDERLY_LEFT).expect("a probability"),
            insurance_years: Binomials::new(coverage),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn make_household(
    geo: &Geography,
    scenario: &Scenario,
    origins: &Origins,
    draws: &CompositionDraws,
    u: usize,
    kind: Cell,
    id: u64,
    seed: u64,
) -> Household {
    let unit = &geo.units[u];
    let base_year = scenario.base_year();
    let mut d = Draws::new(seed, base_year, id, Purpose::Synthesis);
    let mut h = Household::default();
    let hukou = match kind {
        Cell::SameProvinceRural | Cell::SameProvinceUrban => draw_from(&origins.same_province[u], d.random(), u as u16),
        Cell::OtherProvinceRural | Cell::OtherProvinceUrban => {
            draw_from(&origins.other_province[u], d.random(), u as u16)
        }
        _ => u as u16,
    };
    h.res_unit = u as u16;
    h.hukou_unit = hukou;
    h.origin_unit = hukou;
    let urban_resident = kind != Cell::Rural;
    let urban_hukou = matches!(
        kind,
        Cell::LocalUrbanHukou | Cell::SameCountyUrban | Cell::SameProvinceUrban | Cell::OtherProvinceUrban
    );
    h.set(flags::RES_URBAN, urban_resident);
    h.set(flags::HUKOU_URBAN, urban_hukou);
    h.set(flags::IN_SITU, kind == Cell::LocalRuralHukou);
    if !urban_hukou {
        h.set(flags::LAND_RIGHTS, d.random_bool(LAND_RIGHTS_SHARE));
    }

    let (age_mean, age_sd) = if kind.is_migrant() {
        MIGRANT_HEAD_AGE
    } else if urban_resident {
        LOCAL_HEAD_AGE
    } else {
        RURAL_HEAD_AGE
    };
    h.head_age = (age_mean + age_sd * d.sample::<f64, _>(StandardNormal)).clamp(18.0, 95.0) as u8;

    if kind.is_rural_migrant() {
        h.adults = 1 + u8::from(d.random_bool(scenario.initial.migrant_second_adult_share));
        let left_share = scenario.initial.left_behind_child_share;
        for _ in 0..2 {
            if d.random_bool(MIGRANT_CHILD) {
                if d.random_bool(left_share) {
                    // The census count of left-behind children covers ages 0–17; those aged
                    // 15–17 are the model's left-behind young adults, who follow later.
                    if d.random_bool(LEFT_BEHIND_AGED_15_17) {
                        h.adults_left += 1;
                    } else {
                        h.children_left += 1;
                    }
                } else {
                    h.children += 1;
                }
            }
        }
        h.elderly = u8::from(d.random_bool(MIGRANT_ELDERLY_PRESENT));
        h.elderly_left = draws.elderly_left.sample(&mut d) as u8;
    } else {
        let [adults, children, elderly] = &draws.ordinary[u];
        h.adults = 1 + adults.sample(&mut d) as u8;
        h.children = children.sample(&mut d) as u8;
        h.elderly = elderly.sample(&mut d) as u8;
    }

    // Education from the unit's mean years of schooling (levels at 6, 9, 12, 16 years).
    let years =
        unit.avg_years_schooling + if kind.is_migrant() { 0.5 } else { 0.0 } + 3.0 * d.sample::<f64, _>(StandardNormal);
    h.set_education(match years {
        y if y < 7.5 => 0,
        y if y < 10.5 => 1,
        y if y < 13.5 => 2,
        _ => 3,
    });

    let adult_years = f64::from(h.head_age.saturating_sub(18));
    if kind.is_migrant() {
        // Years at the destination: uniform over 0–10 (MWMS: most outgoing migrants have been
        // away for several years).
        let stay = f64::from(d.random_range(0..=10u8)).min(adult_years);
        h.years_in_city = stay as u8;
        h.insurance_years = draws.insurance_years.sample(stay as u8, &mut d);
        h.set(flags::OWNS_HOME, d.random_bool(MIGRANT_OWNERSHIP));
    } else if urban_resident {
        h.years_in_city = adult_years.min(40.0) as u8;
        h.insurance_years = (adult_years * 0.7).min(40.0) as u8;
        h.set(flags::OWNS_HOME, d.random_bool(LOCAL_OWNERSHIP));
    } else {
        h.set(flags::OWNS_HOME, true);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(households: u64) -> Scenario {
        let mut s = Scenario::default();
        s.run.households = households;
        s
    }

    #[test]
    fn base_year_matches_official_rates() {
        let geo = Geography::embedded();
        let pop = synthesize(geo, &small(400_000));
        let total: u64 = pop.households.iter().map(|h| u64::from(h.members())).sum();
        let urban: u64 =
            pop.households.iter().map(|h| if h.has(flags::RES_URBAN) { u64::from(h.present()) } else { 0 }).sum();
        let hukou: u64 =
            pop.households.iter().filter(|h| h.has(flags::HUKOU_URBAN)).map(|h| u64::from(h.members())).sum();
        let urban_pct = 100.0 * urban as f64 / total as f64;
        let hukou_pct = 100.0 * hukou as f64 / total as f64;
        // Left-behind members of urban-hukou households are absent, so urban counts only present.
        assert!((urban_pct - 66.16).abs() < 0.3, "urban {urban_pct}");
        assert!((hukou_pct - 48.3).abs() < 0.3, "hukou {hukou_pct}");
        assert!(pop.households.iter().all(|h| usize::from(h.res_unit) < geo.len()));
        assert!(pop.households.iter().all(|h| h.members() > 0));
    }

    #[test]
    fn synthesis_is_deterministic() {
        let geo = Geography::embedded();
        let a = synthesize(geo, &small(20_000));
        let b = synthesize(geo, &small(20_000));
        assert_eq!(a.households, b.households);
    }
}
