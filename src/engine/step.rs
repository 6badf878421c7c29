//! The household passes of one year (MODEL §5.3–5.7), each O(1) per household.
//!
//! Pass A: move or stay, reunification, settlement applications. Between the passes, quota
//! thresholds per unit come from the score histogram of applications. Pass B: admissions,
//! demography, in-place urbanization, accruals and the end-of-year count. Every draw is keyed by
//! (seed, year, household id, purpose), so no result depends on the thread count.

use super::aggregate::{Applied, Place, Reason, SCORE_BINS, Tally};
use super::choice::ChoiceTables;
use super::city::Cities;
use crate::household::{Household, flags};
use crate::rng::{Draws, HouseholdKey, Purpose, YearKey};
use crate::scenario::{Regime, Scenario};
use rand::RngExt;
use rand::distr::{Bernoulli, Distribution};
use rand_distr::Binomial;

/// Chance a present elderly member stays behind when the household moves to a city (assumption).
pub const ELDERLY_STAY_BEHIND: f64 = 0.8;
/// Death risk of a child relative to a working-age adult (assumption).
pub const CHILD_MORTALITY_RATIO: f64 = 0.3;
/// Age of the head at which headship passes to a younger adult of the household, and the age
/// gap between the generations (assumptions; China's mean age of mothers at birth is 27–29).
const HEADSHIP_PASSES_AT: u8 = 65;
const GENERATION_GAP_YEARS: u8 = 30;
/// Children turn 15 uniformly over the 15 years of childhood.
pub const CHILD_TO_ADULT: f64 = 1.0 / 15.0;

/// Binomial draws of one probability for the small counts of a household's members: the
/// distributions are set up once a year (`rand_distr::Binomial::new` takes a power), not per draw.
pub struct Binomials {
    p: f64,
    /// One trial: the same distribution as a Bernoulli, which draws inline (a word compared with
    /// a threshold) where a binomial calls out.
    single: Bernoulli,
    by_count: Vec<Binomial>,
    /// Chance that none of `n` trials succeeds, `(1 − p)^n`, by count.
    none_by_count: [f64; Self::TABLED as usize + 1],
}

impl Binomials {
    /// Counts up to this are set up in advance; larger ones (rare: a household's members of one
    /// role) set theirs up when drawn.
    const TABLED: u64 = 12;

    pub fn new(p: f64) -> Binomials {
        let p = p.clamp(0.0, 1.0);
        let by_count = (0..=Self::TABLED).map(|n| Binomial::new(n, p).expect("p is clamped to [0, 1]")).collect();
        let none_by_count = std::array::from_fn(|n| (1.0 - p).powi(n as i32));
        Binomials { p, single: bernoulli(p), by_count, none_by_count }
    }

    /// Chance that none of `n` trials succeeds.
    #[inline(always)]
    pub fn none(&self, n: u8) -> f64 {
        match self.none_by_count.get(usize::from(n)) {
            Some(&none) => none,
            None => (1.0 - self.p).powi(i32::from(n)),
        }
    }

    /// Successes among `n` trials given that at least one succeeds: the first success falls on
    /// trial J with chance (1 − p)^(J−1) p ÷ (1 − (1 − p)^n) (inverted from one uniform), and
    /// the trials after it succeed as usual. Exact: the first event of a household's year is
    /// drawn this way (`FirstEvent`).
    pub fn at_least_one(&self, n: u8, d: &mut Draws) -> u8 {
        debug_assert!(n > 0 && self.p > 0.0, "a stage with no chance of an event is never the first");
        let target = d.random::<f64>() * (1.0 - self.none(n));
        let first = (1..n).find(|&j| 1.0 - self.none(j) > target).unwrap_or(n);
        1 + self.sample(n - first, d)
    }

    /// Successes among `n` trials in the part of the year set by `mode`.
    #[inline(always)]
    pub fn sample_in(&self, mode: Mode, n: u8, d: &mut Draws) -> u8 {
        match mode {
            Mode::Skip => 0,
            Mode::Force => self.at_least_one(n, d),
            Mode::Normal => self.sample(n, d),
        }
    }

    /// Successes among `n` trials. Nothing is drawn when none can succeed (no trials, or `p` 0).
    /// Always inlined: the checks before the draw settle most calls, and a call costs more.
    #[inline(always)]
    pub fn sample(&self, n: u8, draws: &mut Draws) -> u8 {
        if n == 0 || self.p == 0.0 {
            return 0;
        }
        if n == 1 {
            return u8::from(self.single.sample(draws));
        }
        let n = u64::from(n);
        let successes = match self.by_count.get(n as usize) {
            Some(binomial) => binomial.sample(draws),
            None => Binomial::new(n, self.p).expect("p is clamped to [0, 1]").sample(draws),
        };
        successes as u8
    }
}

/// The random events of a household's year in the order they happen. A household's year draws
/// one uniform against its chance of no event at all (most years are quiet: nothing is drawn
/// then), and only when something happens does it find the first stage with an event (by
/// inversion over the stages' no-event chances) and draw that stage given that it has one
/// (`Mode::Force`); every later stage is drawn as usual. The result has exactly the distribution
/// of drawing every stage in turn.
pub mod stage {
    /// A rural household leaves for a city, or an urban-hukou household at home leaves its province.
    pub const MOVE: u8 = 0;
    /// Deaths, one stage per member group: adults, adults left behind, elderly, elderly left
    /// behind, children, children left behind (`DEATHS..DEATHS + 6`).
    pub const DEATHS: u8 = 1;
    pub const AGEING: u8 = 7;
    pub const GROW_UP: u8 = 8;
    /// Left-behind adults follow the household.
    pub const FOLLOW: u8 = 9;
    pub const BIRTH: u8 = 10;
    /// No demographic event (a household whose demography alone was gated); later stages are
    /// drawn as usual.
    pub const DEMOGRAPHY_QUIET: u8 = 11;
    pub const IN_PLACE: u8 = 12;
    /// Nothing happens this year.
    pub const QUIET: u8 = 13;
    /// Stages with a chance of an event (every stage before `QUIET` except `DEMOGRAPHY_QUIET`).
    pub const COUNT: usize = 13;
}

/// How a stage is drawn, from where the year's first event falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Before the first event: nothing happens, nothing is drawn.
    Skip,
    /// The first event's stage: drawn given that it has an event.
    Force,
    /// After the first event: drawn as usual.
    Normal,
}

/// The stage of a household's first event this year (`stage::*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstEvent(pub u8);

impl FirstEvent {
    #[inline(always)]
    pub fn mode(self, stage: u8) -> Mode {
        match stage.cmp(&self.0) {
            std::cmp::Ordering::Less => Mode::Skip,
            std::cmp::Ordering::Equal => Mode::Force,
            std::cmp::Ordering::Greater => Mode::Normal,
        }
    }

    /// The first stage with an event for a uniform `u` in [0, 1), from each stage's chance of no
    /// event: stage k takes the slice [s·q_k, s) of what the earlier stages leave, s = ∏_{i<k} q_i,
    /// so its chance is exactly (∏_{i<k} q_i)(1 − q_k). `quiet` when `u` falls below ∏ q_i.
    #[inline]
    pub fn find(no_event: &[f64; stage::COUNT], u: f64, quiet: u8) -> FirstEvent {
        let mut left = 1.0;
        for (stage, &q) in no_event.iter().enumerate() {
            let next = left * q;
            if u >= next {
                return FirstEvent(stage as u8);
            }
            left = next;
        }
        FirstEvent(quiet)
    }
}

/// Successes among `n` trials of a probability met once (set up for this draw alone).
#[inline]
pub fn binomial(n: u8, p: f64, draws: &mut Draws) -> u8 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    Binomial::new(u64::from(n), p.min(1.0)).expect("p lies in (0, 1]").sample(draws) as u8
}

/// A Bernoulli distribution of a probability clamped to [0, 1] (the scenario's rates and the
/// model's derived chances are checked to lie there; clamping guards rounding at the ends).
#[inline]
pub fn bernoulli(p: f64) -> Bernoulli {
    Bernoulli::new(p.clamp(0.0, 1.0)).expect("p is clamped to [0, 1]")
}

/// Read-only inputs of one year's passes.
pub struct YearContext<'a> {
    pub year: i32,
    /// The seed and the year's part of every household's key.
    pub key: YearKey,
    pub scenario: &'a Scenario,
    pub tables: &'a ChoiceTables,
    pub cities: &'a Cities,
    pub province_of: &'a [u16],
    /// Yearly chance an urban-hukou household at home leaves its province, by province (0 where
    /// no destination has weight).
    pub urban_outflow: Vec<f64>,
    /// Cumulative destination weights of those leavers, by origin province.
    pub outflow_destinations: &'a [Vec<f64>],
    /// Whether a unit's applications wait for quota admission this year.
    pub has_quota: Vec<bool>,
    /// Share of basic public services a non-hukou resident gets, per unit (before residence years).
    pub service_share: Vec<f64>,
    /// Yearly chance a rural-hukou household in the countryside leaves for a city, by choice row
    /// (`choice::row(origin, type)`): it reconsiders, then prefers the cities' log-sum over
    /// staying (a binary logit with the stay bonus).
    pub rural_move: Vec<f64>,
    /// Whether an urban household reconsiders, by its years in the city (the chance decays with
    /// the inertia half-life), for every value `years_in_city` can take.
    pub reconsider_urban: Vec<Bernoulli>,
    pub stay_bonus: f64,
    /// Further utility of staying for a household insured this year, and for one renting an
    /// affordable unit.
    pub insured_stay: f64,
    pub tenant_stay: f64,
    pub owner_stay: f64,
    /// Yearly chance a non-hukou renter buys a home in a city of average housing cost.
    pub purchase: f64,
    /// A birth in a fertile household living in an urban / a rural part.
    pub birth_urban: Bernoulli,
    pub birth_rural: Bernoulli,
    /// Left-behind young adults who follow the household this year.
    pub adults_follow: Binomials,
    /// Deaths among working-age adults, the elderly and children.
    pub deaths: Deaths,
    /// Present elderly who stay behind when a rural household leaves for a city.
    pub elderly_stay_behind: Binomials,
    /// Yearly in-place urbanization of rural residents, per unit.
    pub in_place: Vec<Bernoulli>,
    /// The chance of no in-place urbanization, per unit, and of no birth in a fertile household in
    /// a rural / an urban part: the complements of the Bernoullis' chances, formed once a year
    /// for the gate (`no_event_chances`).
    pub in_place_none: Vec<f64>,
    pub birth_none: [f64; 2],
    /// Enrolment in urban employee insurance this year.
    pub insured: Bernoulli,
    pub skill_upgrade: Bernoulli,
    /// Adults of households with older heads who turn 65 this year.
    pub ageing: Binomials,
    /// Children who turn 15 this year (uniformly over the 15 years of childhood).
    pub children_grow_up: Binomials,
    pub reunify: f64,
    pub procedure_ease: f64,
    /// Minimum residence and insurance years of each regime this year (`Regime::ALL` order).
    pub min_years: [[f64; 2]; 3],
}

/// Quota admission per unit: scores above `bin` are admitted; in the marginal bin `bin`,
/// households whose admission key (a keyed random priority, then the household id) is below
/// `cutoff`, so the persons admitted fill the quota as closely as whole households allow and
/// never exceed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub bin: u8,
    pub cutoff: (u64, u64),
}

impl Threshold {
    pub const ADMIT_ALL: Threshold = Threshold { bin: 0, cutoff: (u64::MAX, u64::MAX) };
}

/// The marginal score bin of a quota and the persons left for it after every higher bin is
/// admitted; `None` when all applications fit.
pub fn marginal_bin(histogram: &[u64], quota: f64) -> Option<(u8, f64)> {
    let mut above = 0.0;
    for bin in (0..SCORE_BINS).rev() {
        let here = histogram[bin] as f64;
        if above + here > quota {
            return Some((bin as u8, (quota - above).max(0.0)));
        }
        above += here;
    }
    None
}

/// A household waiting in a marginal bin: its unit, admission key and the persons who would
/// take hukou.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    pub unit: u16,
    pub key: (u64, u64),
    pub persons: u64,
}

/// The admission key of a household: a random priority keyed by (seed, year, id), then its id.
#[inline]
pub fn admission_key(ctx: &YearContext, id: u64) -> (u64, u64) {
    (ctx.key.household(id).draws(Purpose::Admission).random(), id)
}

/// The candidate an applicant is, if it sits in its unit's marginal bin.
#[inline]
pub fn marginal_candidate(applied: &Applied, ctx: &YearContext, marginal: &[Option<(u8, f64)>]) -> Option<Candidate> {
    let (bin, _) = marginal[usize::from(applied.unit)]?;
    (applied.score == bin).then(|| Candidate {
        unit: applied.unit,
        key: admission_key(ctx, applied.id),
        persons: u64::from(applied.persons),
    })
}

/// Per unit, the key below which marginal candidates are admitted: candidates in key order
/// while the persons admitted stay within what the quota leaves (`candidates` sorted).
pub fn cutoffs(marginal: &[Option<(u8, f64)>], candidates: &[Candidate]) -> Vec<Threshold> {
    let mut thresholds: Vec<Threshold> = marginal
        .iter()
        .map(|m| match m {
            None => Threshold::ADMIT_ALL,
            // Until a candidate does not fit, every candidate of the bin is admitted.
            Some((bin, _)) => Threshold { bin: *bin, cutoff: (u64::MAX, u64::MAX) },
        })
        .collect();
    let mut admitted = vec![0u64; marginal.len()];
    let mut closed = vec![false; marginal.len()];
    for c in candidates {
        let unit = usize::from(c.unit);
        let Some((_, room)) = marginal[unit] else {
            continue;
        };
        if closed[unit] {
            continue;
        }
        if (admitted[unit] + c.persons) as f64 <= room {
            admitted[unit] += c.persons;
        } else {
            thresholds[unit].cutoff = c.key;
            closed[unit] = true;
        }
    }
    thresholds
}

impl YearContext<'_> {
    /// The birth chance of a fertile household where it lives.
    #[inline(always)]
    fn birth_chance(&self, h: &Household) -> &Bernoulli {
        if h.has(flags::RES_URBAN) { &self.birth_urban } else { &self.birth_rural }
    }

    /// Share of basic public services a non-hukou household receives after `years` of residence.
    #[inline]
    fn services_for(&self, unit: usize, years: u8) -> f64 {
        let s = &self.scenario.services;
        let counted = u32::from(years).min(s.residence_years_counted);
        (self.service_share[unit] + s.per_residence_year * f64::from(counted)).min(1.0)
    }

    #[inline]
    fn regime(&self, unit: usize) -> Regime {
        self.cities.regime[unit]
    }

    /// Points score, clamped to a histogram bin.
    #[inline]
    pub fn score(&self, h: &Household) -> u8 {
        let f = &self.scenario.settlement.points_formula;
        let score = f.per_insurance_year * f64::from(local_insurance_years(h))
            + f.per_residence_year * f64::from(h.years_in_city)
            + f.education[usize::from(h.education())]
            + if h.head_age < 45 { f.age_under_45 } else { 0.0 };
        score.clamp(0.0, 255.0) as u8
    }
}

/// Insurance years paid in the current city: points cities count only local contributions
/// (Beijing: seven consecutive years of insurance in Beijing; Shanghai's points likewise count
/// local years), so a portable record carries pension rights but not points there.
#[inline]
fn local_insurance_years(h: &Household) -> u8 {
    h.insurance_years.min(h.years_in_city)
}

fn move_household(
    h: &mut Household,
    to_unit: usize,
    to_urban: bool,
    ctx: &YearContext,
    draws: &mut Draws,
    tally: &mut Tally,
) {
    let from = Place { unit: usize::from(h.res_unit), urban: h.has(flags::RES_URBAN) };
    let to = Place { unit: to_unit, urban: to_urban };

    // The members who go: everyone present, counted after a departure from the village
    // leaves some behind and before a return home reunites the household.
    let mut going = u64::from(h.present());
    if !to_urban {
        // Returning home, to the hukou unit where anyone left behind lives (the origin until a
        // household settles, and settled households do not move): together again, without
        // anyone left behind changing place.
        debug_assert_eq!(to_unit, usize::from(h.origin_unit));
        h.children += h.children_left;
        h.elderly += h.elderly_left;
        h.adults += h.adults_left;
        h.children_left = 0;
        h.elderly_left = 0;
        h.adults_left = 0;
        h.set(flags::OWNS_HOME, true);
    } else {
        if !from.urban {
            // Leaving the village: children come only where they can go to school. Those who
            // stay behind stay where they are (the village is the origin), so they do not move.
            let access = ctx.cities.school_access[to_unit] * ctx.services_for(to_unit, 0);
            let staying = binomial(h.children, 1.0 - access, draws);
            h.children -= staying;
            h.children_left += staying;
            let elderly_staying = ctx.elderly_stay_behind.sample(h.elderly, draws);
            h.elderly -= elderly_staying;
            h.elderly_left += elderly_staying;
            going = u64::from(h.present());
        }
        h.set(flags::OWNS_HOME, false);
        if !ctx.scenario.social_insurance.portable && to_unit != from.unit {
            h.insurance_years = 0;
        }
    }
    tally.relocate(from, to, going, Reason::HouseholdMove, ctx.province_of);
    // An affordable unit is let where one lives: moving gives it up.
    h.set_affordable(false);
    h.res_unit = to_unit as u16;
    h.set(flags::RES_URBAN, to_urban);
    h.set(flags::IN_SITU, false);
    h.years_in_city = 0;
}

/// Left-behind children join the household in the city (reunification, settlement): from the
/// origin's rural part to the residence's urban part.
fn children_join(h: &mut Household, ctx: &YearContext, tally: &mut Tally) {
    let from = Place { unit: usize::from(h.origin_unit), urban: false };
    let to = Place { unit: usize::from(h.res_unit), urban: true };
    tally.relocate(from, to, u64::from(h.children_left), Reason::ChildrenJoin, ctx.province_of);
    h.children += h.children_left;
    h.children_left = 0;
}

/// Members who take local urban hukou when a household settles: everyone present, with the
/// left-behind children who join it (the elderly and adults left behind keep their rural
/// hukou in the village). Quotas are charged on exactly these persons.
#[inline]
fn settling_members(h: &Household) -> u64 {
    u64::from(h.present()) + u64::from(h.children_left)
}

/// Grants local urban hukou where the household lives. Left-behind children join it; left-behind
/// elderly stay in the village with their rural hukou (MODEL §3, `docs/model.md`).
fn settle(h: &mut Household, ctx: &YearContext, tally: &mut Tally) {
    let here = usize::from(h.res_unit);
    if h.has(flags::HUKOU_URBAN) {
        // An urban-hukou migrant's transfer (城城流动): counted apart from the agricultural
        // settlements the plan and the MPS count.
        children_join(h, ctx, tally);
        h.hukou_unit = h.res_unit;
        tally.units[here].transfers += u64::from(h.present());
        return;
    }
    let origin = usize::from(h.hukou_unit);
    children_join(h, ctx, tally);
    h.hukou_unit = h.res_unit;
    h.set(flags::HUKOU_URBAN, true);
    if ctx.scenario.settlement.land_surrender_required {
        h.set(flags::LAND_RIGHTS, false);
    }
    let counts = &mut tally.units[here];
    counts.settlements += u64::from(h.present());
    counts.settled_households += 1;
    counts.settled_children += u64::from(h.children);
    if origin == here {
        counts.settled_same_unit += u64::from(h.present());
    } else if ctx.province_of[origin] != ctx.province_of[here] {
        counts.settled_cross_province += u64::from(h.present());
    }
}

/// The move of a household whose year's first event is a move (`stage::MOVE`).
///
/// A rural-hukou household in the countryside leaves for a city drawn from its choice row. An
/// urban-hukou household living in its hukou city leaves its province (inter-city migrants,
/// 城市间流动人口) with its province's chance, for a city of another province drawn in proportion
/// to the census stock of people from other provinces living there; away from home it keeps its
/// hukou and may transfer it (`apply_to_settle`), and its return and onward moves are not
/// modelled.
pub(super) fn forced_move(h: &mut Household, key: HouseholdKey, ctx: &YearContext, tally: &mut Tally) {
    let mut destination = key.draws(Purpose::Destination);
    let to = if h.has(flags::RES_URBAN) {
        let cumulative = &ctx.outflow_destinations[usize::from(ctx.province_of[usize::from(h.res_unit)])];
        let total = cumulative.last().copied().unwrap_or(0.0);
        debug_assert!(total > 0.0, "a province without destinations has no outflow chance");
        let u = destination.random::<f64>() * total;
        cumulative.partition_point(|&c| c <= u).min(cumulative.len() - 1)
    } else {
        debug_assert!(!h.has(flags::HUKOU_URBAN), "urban-hukou households in the countryside stay");
        ctx.tables.draw_urban(usize::from(h.hukou_unit), h.household_type(), &mut destination)
    };
    move_household(h, to, true, ctx, &mut key.draws(Purpose::Move), tally);
}

/// The yearly chance of a `stage::MOVE` event of a household not in a city without its hukou:
/// a rural-hukou household in the countryside leaving for a city, an urban-hukou household at
/// home leaving its province. Urban-hukou households in the countryside stay.
#[inline(always)]
pub(super) fn move_chance(h: &Household, ctx: &YearContext) -> f64 {
    if h.has(flags::RES_URBAN) {
        ctx.urban_outflow[usize::from(ctx.province_of[usize::from(h.res_unit)])]
    } else if h.has(flags::HUKOU_URBAN) {
        0.0
    } else {
        ctx.rural_move[super::choice::row(usize::from(h.hukou_unit), h.household_type())]
    }
}

/// Each stage's chance of no event this year for a household as it stands (`stage::*` order).
/// `whole_year`: the household's whole year is gated (moves and in-place urbanization
/// included); otherwise only its demography, after `decide` drew the rest.
#[inline(always)]
fn no_event_chances(h: &Household, ctx: &YearContext, whole_year: bool) -> [f64; stage::COUNT] {
    let mut none = [1.0; stage::COUNT];
    if whole_year {
        none[usize::from(stage::MOVE)] = 1.0 - move_chance(h, ctx);
        if !h.has(flags::RES_URBAN) {
            none[usize::from(stage::IN_PLACE)] = ctx.in_place_none[usize::from(h.res_unit)];
        }
    }
    let deaths = usize::from(stage::DEATHS);
    none[deaths..deaths + 6].copy_from_slice(&ctx.deaths.none(death_groups(h)));
    if h.head_age >= super::aggregate::OLDER_HEAD_AGE {
        none[usize::from(stage::AGEING)] = ctx.ageing.none(h.adults + h.adults_left);
    }
    none[usize::from(stage::GROW_UP)] = ctx.children_grow_up.none(h.children + h.children_left);
    none[usize::from(stage::FOLLOW)] = ctx.adults_follow.none(h.adults_left);
    if fertile(h) {
        none[usize::from(stage::BIRTH)] = ctx.birth_none[usize::from(h.has(flags::RES_URBAN))];
    }
    none
}

/// The year's first event from the stages' no-event chances and the household's gate draw;
/// `quiet` when nothing happens. The product is formed as a tree first (short dependency
/// chains: most years are quiet and end here); the walk in stage order settles the rest, and a
/// draw the two round differently (a few ulps) counts as quiet.
#[inline(always)]
fn first_event(none: &[f64; stage::COUNT], key: HouseholdKey, quiet: u8) -> FirstEvent {
    let u: f64 = key.draws(Purpose::Gate).random();
    let pairs: [f64; 7] = std::array::from_fn(|i| none[2 * i] * none.get(2 * i + 1).copied().unwrap_or(1.0));
    let all = ((pairs[0] * pairs[1]) * (pairs[2] * pairs[3])) * ((pairs[4] * pairs[5]) * pairs[6]);
    if u < all { FirstEvent(quiet) } else { FirstEvent::find(none, u, quiet) }
}

/// One household's year. Returns whether it applied to settle in a unit with a quota and waits
/// for admission: `finish` completes its year once the thresholds are known. Households in a
/// city without local hukou there draw their moves and applications in `decide`; every other
/// household's whole year is gated (`stage`), so a quiet year costs one draw.
pub fn live(h: &mut Household, id: u64, ctx: &YearContext, decisions: &mut Tally, finished: &mut Tally) -> bool {
    h.set(flags::APPLIED, false);
    if h.is_empty() {
        return false;
    }
    let key = ctx.key.household(id);
    if h.is_nonhukou_urban() {
        decide(h, id, key, ctx, decisions);
        if h.has(flags::APPLIED) {
            return true;
        }
        finish_keyed(h, id, key, ctx, &[], finished);
        return false;
    }
    let first = first_event(&no_event_chances(h, ctx, true), key, stage::QUIET);
    if first.0 == stage::QUIET {
        quiet_year(h, ctx, finished);
        return false;
    }
    if first.0 == stage::MOVE {
        forced_move(h, key, ctx, decisions);
    }
    finish_year(h, key, ctx, finished, first);
    false
}

/// A year without any event: exactly what `finish_year` does when every stage is skipped.
#[inline(always)]
pub(super) fn quiet_year(h: &mut Household, ctx: &YearContext, tally: &mut Tally) {
    age_head(h);
    if h.has(flags::RES_URBAN) {
        h.years_in_city = h.years_in_city.saturating_add(1);
    }
    tally.count_stock(h, ctx.cities.regime.len(), ctx.province_of);
}

/// Pass A for a household living in a city without local hukou there (a rural-hukou migrant, an
/// in-situ urban resident with rural hukou, or an urban-hukou inter-city migrant): moves,
/// reunification and settlement applications.
fn decide(h: &mut Household, id: u64, key: HouseholdKey, ctx: &YearContext, tally: &mut Tally) {
    debug_assert!(h.is_nonhukou_urban());
    if h.has(flags::HUKOU_URBAN) {
        // Urban-hukou inter-city migrants (兼顾城市间流动人口) may transfer their hukou where they
        // live, under the rules and willingness rural migrants face.
        let insured = h.adults > 0 && ctx.insured.sample(&mut key.draws(Purpose::Accrual));
        let services = ctx.services_for(usize::from(h.res_unit), h.years_in_city);
        allot_affordable(h, key, ctx);
        apply_to_settle(h, id, key, ctx, tally, services, insured);
        return;
    }
    let mut draws = key.draws(Purpose::Move);
    let origin = usize::from(h.hukou_unit);
    let k = h.household_type();
    let t = ctx.tables;
    // Enrolled in urban employee insurance this year: the first draw of the accrual stream, the
    // same draw `finish` uses to credit the year (one status, read here and there).
    let insured = h.adults > 0 && ctx.insured.sample(&mut key.draws(Purpose::Accrual));
    let here = usize::from(h.res_unit);
    if ctx.reconsider_urban[usize::from(h.years_in_city)].sample(&mut draws) {
        // Nested logit with a stay bonus: the current city's utility is raised by the
        // moving cost and compared with every alternative (O(1) via the log-sums).
        let current = t.urban_utility(origin, k, here);
        let rural = t.rural_utility(origin, k);
        let iv_urban = t.iv_urban(origin, k);
        let others_urban = (iv_urban.exp() - current.exp()).max(0.0);
        let rural_weight = rural.exp();
        let tenure_ties = if insured { ctx.insured_stay } else { 0.0 }
            + if h.rents_affordable() { ctx.tenant_stay } else { 0.0 }
            + if h.has(flags::OWNS_HOME) { ctx.owner_stay } else { 0.0 };
        let stay_weight = (current + ctx.stay_bonus + tenure_ties).exp();
        let total = others_urban + rural_weight + stay_weight;
        let u = draws.random::<f64>() * total;
        if u < rural_weight {
            move_household(h, origin, false, ctx, &mut draws, tally);
            return;
        } else if u < rural_weight + others_urban {
            let j = t.draw_urban(origin, k, &mut key.draws(Purpose::Destination));
            if j != here {
                move_household(h, j, true, ctx, &mut draws, tally);
                return;
            }
        }
    }

    // A metro core's relocated jobs take their workers along (plan §4 industrial relocation).
    let relocation = ctx.cities.relocation_chance[here];
    if relocation > 0.0 && h.adults > 0 && !h.has(flags::OWNS_HOME) {
        let mut relocate = key.draws(Purpose::Relocation);
        if relocate.random_bool(relocation.min(1.0)) {
            let members = &ctx.cities.relocation_members[here];
            let total = members.last().map_or(0.0, |m| m.1);
            let u = relocate.random::<f64>() * total;
            let pick = members.partition_point(|m| m.1 <= u).min(members.len() - 1);
            // The job goes with the household, so its attachment does too: the years that make
            // a settled worker unlikely to reconsider (inertia) carry over the move.
            let years = h.years_in_city;
            move_household(h, members[pick].0, true, ctx, &mut draws, tally);
            h.years_in_city = years;
            return;
        }
    }
    let services = ctx.services_for(here, h.years_in_city);

    allot_affordable(h, key, ctx);

    if h.children_left > 0 {
        let reunify = (ctx.reunify * ctx.cities.school_access[here] * services).clamp(0.0, 1.0);
        if key.draws(Purpose::Reunify).random_bool(reunify) {
            children_join(h, ctx, tally);
        }
    }

    apply_to_settle(h, id, key, ctx, tally, services, insured);
}

/// Affordable rentals are allotted among the non-hukou renters waiting where they live (a lottery
/// at the unit's vacancy rate, `Cities::affordable_offer`; the year's movers wait from next year).
fn allot_affordable(h: &mut Household, key: HouseholdKey, ctx: &YearContext) {
    if h.rents_affordable() || h.has(flags::OWNS_HOME) || h.has(flags::IN_SITU) {
        return;
    }
    let offer = ctx.cities.affordable_offer[usize::from(h.res_unit)];
    if offer > 0.0 && key.draws(Purpose::Housing).random_bool(offer.min(1.0)) {
        h.set_affordable(true);
    }
}

/// Settlement for a household living in a city without its hukou: eligibility under the unit's
/// rules, the willingness logit, then an application (quota units) or settling at once. Rural-hukou
/// migrants settle; urban-hukou inter-city migrants transfer their hukou under the same rules.
fn apply_to_settle(
    h: &mut Household,
    id: u64,
    key: HouseholdKey,
    ctx: &YearContext,
    tally: &mut Tally,
    services: f64,
    insured: bool,
) {
    let here = usize::from(h.res_unit);
    let origin = usize::from(h.hukou_unit);
    let regime = ctx.regime(here);
    let rules = ctx.scenario.rules(regime);
    let score = ctx.score(h);
    let exempt = rules.education_exemption.is_some_and(|level| h.education() >= level.level());
    let buyer = rules.home_purchase && h.has(flags::OWNS_HOME);
    let eligible = exempt
        || buyer
        || (f64::from(h.years_in_city) >= ctx.min_years[regime as usize][0]
            && f64::from(if regime == Regime::Points { local_insurance_years(h) } else { h.insurance_years })
                >= ctx.min_years[regime as usize][1]
            && (regime != Regime::Points || f64::from(score) >= ctx.scenario.settlement.points_formula.cutoff));
    if !eligible {
        return;
    }
    let w = &ctx.scenario.settlement.willingness;
    let logit = w.base
        + w.service_gain * (1.0 - services)
        + if h.with_children() { w.with_children } else { 0.0 }
        + if h.has(flags::OWNS_HOME) { w.owns_home } else { 0.0 }
        + if ctx.scenario.settlement.land_surrender_required && h.has(flags::LAND_RIGHTS) {
            w.land_surrender
        } else {
            0.0
        }
        + if origin == here { w.in_situ } else { 0.0 }
        + if insured { w.insured } else { 0.0 }
        + w.education[usize::from(h.education())]
        + ctx.procedure_ease;
    if !key.draws(Purpose::Settle).random_bool(1.0 / (1.0 + (-logit).exp())) {
        return;
    }
    let settling = settling_members(h);
    tally.units[here].applicants += settling;
    if ctx.has_quota[here] {
        h.set(flags::APPLIED, true);
        tally.applications[here * SCORE_BINS + usize::from(score)] += settling;
        tally.applied.push(Applied { id, persons: settling as u32, unit: here as u16, score });
    } else {
        settle(h, ctx, tally);
    }
}

/// Pass B for one household: quota admission, demography, in-place urbanization, accruals,
/// then the end-of-year count. `thresholds` are read only for a household that applied to a unit
/// with a quota (`flags::APPLIED`); the others may be finished before they are known.
pub fn finish(h: &mut Household, id: u64, ctx: &YearContext, thresholds: &[Threshold], tally: &mut Tally) {
    finish_keyed(h, id, ctx.key.household(id), ctx, thresholds, tally);
}

/// `finish` of a household whose key is at hand. Its demography alone is gated: `decide` drew
/// its moves and application.
fn finish_keyed(
    h: &mut Household,
    id: u64,
    key: HouseholdKey,
    ctx: &YearContext,
    thresholds: &[Threshold],
    tally: &mut Tally,
) {
    if h.is_empty() {
        return;
    }
    if h.has(flags::APPLIED) {
        h.set(flags::APPLIED, false);
        let t = thresholds[usize::from(h.res_unit)];
        let score = ctx.score(h);
        let admitted = score > t.bin || (score == t.bin && admission_key(ctx, id) < t.cutoff);
        if admitted {
            settle(h, ctx, tally);
        }
    }
    let first = first_event(&no_event_chances(h, ctx, false), key, stage::DEMOGRAPHY_QUIET);
    finish_year(h, key, ctx, tally, first);
}

/// The rest of a household's year from its demography on, given where its first event falls:
/// demography, in-place urbanization, accruals, then the end-of-year count.
pub(super) fn finish_year(
    h: &mut Household,
    key: HouseholdKey,
    ctx: &YearContext,
    tally: &mut Tally,
    first: FirstEvent,
) {
    demography(h, key, ctx, tally, first);
    if h.is_empty() {
        return;
    }

    if !h.has(flags::RES_URBAN) {
        let becomes_urban = match first.mode(stage::IN_PLACE) {
            Mode::Skip => false,
            Mode::Force => true,
            Mode::Normal => ctx.in_place[usize::from(h.res_unit)].sample(&mut key.draws(Purpose::InPlace)),
        };
        if becomes_urban {
            // The place becomes urban around the household: no move, hukou unchanged.
            h.set(flags::RES_URBAN, true);
            h.set(flags::IN_SITU, true);
            h.years_in_city = 0;
            tally.national.in_place += u64::from(h.present());
            tally.units[usize::from(h.res_unit)].in_place += u64::from(h.present());
        }
    } else {
        h.years_in_city = h.years_in_city.saturating_add(1);
        if h.is_nonhukou_urban() && h.adults > 0 {
            let mut accrual = key.draws(Purpose::Accrual);
            if ctx.insured.sample(&mut accrual) {
                h.insurance_years = h.insurance_years.saturating_add(1);
            }
            if h.education() < 3 && ctx.skill_upgrade.sample(&mut accrual) {
                h.set_education(h.education() + 1);
            }
            // Buying a home where it lives: more often where housing is cheap. A buyer gives up
            // an affordable rental.
            if !h.has(flags::OWNS_HOME) && !h.has(flags::IN_SITU) {
                let here = usize::from(h.res_unit);
                let chance = (ctx.purchase / ctx.cities.housing_cost[here].max(1e-6)).min(1.0);
                if accrual.random_bool(chance) {
                    h.set(flags::OWNS_HOME, true);
                    h.set_affordable(false);
                    tally.units[here].purchases += 1;
                }
            }
        }
    }
    tally.count_stock(h, ctx.cities.regime.len(), ctx.province_of);
}

/// How `picks` members chosen uniformly without replacement from groups of `sizes` fall on the
/// groups (a multivariate hypergeometric draw, one uniform index per pick).
#[inline]
fn pick_members<const G: usize>(mut sizes: [u8; G], picks: u8, d: &mut Draws) -> [u8; G] {
    let mut picked = [0u8; G];
    if picks == 0 {
        return picked;
    }
    if sizes.iter().filter(|&&s| s > 0).count() == 1 {
        // One group holds every member: no draw needed.
        picked[sizes.iter().position(|&s| s > 0).expect("one group is non-empty")] = picks;
        return picked;
    }
    let mut left: u32 = sizes.iter().map(|&s| u32::from(s)).sum();
    for _ in 0..picks {
        let mut index = d.random_range(0..left);
        let group = sizes
            .iter()
            .position(|&s| {
                let here = index < u32::from(s);
                if !here {
                    index -= u32::from(s);
                }
                here
            })
            .expect("the index lies within the members left");
        sizes[group] -= 1;
        picked[group] += 1;
        left -= 1;
    }
    picked
}

/// Deaths of the members of a household, each member independently at its role's yearly rate,
/// drawn by thinning (exact): every member is a candidate at the highest of the rates, the
/// candidates fall on the members as a uniform pick, and a candidate of a role dies at that
/// role's rate ÷ the highest. Most households draw once for all their members.
pub struct Deaths {
    candidates: Binomials,
    /// Adults, elderly, children.
    acceptance: [Binomials; 3],
    /// Each role's own deaths (adults, elderly, children), for years whose first event is a death.
    by_role: [Binomials; 3],
}

impl Deaths {
    /// Yearly death rates of working-age adults, the elderly and children.
    pub fn new(rates: [f64; 3]) -> Deaths {
        let highest = rates.iter().copied().fold(0.0, f64::max);
        Deaths {
            candidates: Binomials::new(highest),
            acceptance: rates.map(|rate| Binomials::new(if highest > 0.0 { rate / highest } else { 0.0 })),
            by_role: rates.map(Binomials::new),
        }
    }

    /// Each group's chance of no death, groups as in `sample`.
    #[inline(always)]
    pub fn none(&self, groups: [u8; 6]) -> [f64; 6] {
        std::array::from_fn(|g| self.by_role[g / 2].none(groups[g]))
    }

    /// Deaths in each group given where the year's first event falls: none before it, at least
    /// one in the group it falls on, as usual in the groups after it (one binomial per group);
    /// a year whose first event came before any death draws them all by thinning (`sample`).
    #[inline]
    pub fn sample_after(&self, groups: [u8; 6], first: FirstEvent, d: &mut Draws) -> [u8; 6] {
        if first.0 < stage::DEATHS {
            return self.sample(groups, d);
        }
        if first.0 >= stage::DEATHS + 6 {
            return [0; 6];
        }
        std::array::from_fn(|g| self.by_role[g / 2].sample_in(first.mode(stage::DEATHS + g as u8), groups[g], d))
    }

    /// Deaths in each group of `groups`, which holds (adults, elderly, children) pairs in order:
    /// present, then left behind.
    #[inline]
    pub fn sample(&self, groups: [u8; 6], d: &mut Draws) -> [u8; 6] {
        // Households stay far below 255 members (see the ageing note in `demography`).
        let members = groups.iter().map(|&g| u32::from(g)).sum::<u32>().min(u32::from(u8::MAX)) as u8;
        let candidates = self.candidates.sample(members, d);
        if candidates == 0 {
            return [0; 6];
        }
        let picked = pick_members(groups, candidates, d);
        std::array::from_fn(|g| self.acceptance[g / 2].sample(picked[g], d))
    }
}

/// A household's members by death group (`Deaths::sample`).
#[inline(always)]
fn death_groups(h: &Household) -> [u8; 6] {
    [h.adults, h.adults_left, h.elderly, h.elderly_left, h.children, h.children_left]
}

/// The year's deaths, present and left behind, removed from the household.
#[inline]
fn deaths(h: &mut Household, ctx: &YearContext, first: FirstEvent, d: &mut Draws) -> (u64, u64) {
    let died = ctx.deaths.sample_after(death_groups(h), first, d);
    h.adults -= died[0];
    h.adults_left -= died[1];
    h.elderly -= died[2];
    h.elderly_left -= died[3];
    h.children -= died[4];
    h.children_left -= died[5];
    let present = u64::from(died[0]) + u64::from(died[2]) + u64::from(died[4]);
    let left = u64::from(died[1]) + u64::from(died[3]) + u64::from(died[5]);
    (present, left)
}

/// Whether a household can have a birth this year, as `Tally::count_stock` counted it at the end
/// of last year (nothing since then changes head_age, adults or children + children_left), so the
/// birth chance divides by the households that can actually give birth this year.
#[inline(always)]
fn fertile(h: &Household) -> bool {
    (20..=40).contains(&h.head_age) && h.adults > 0 && h.children + h.children_left < 3
}

fn demography(h: &mut Household, key: HouseholdKey, ctx: &YearContext, tally: &mut Tally, first: FirstEvent) {
    let mut d = key.draws(Purpose::Demography);
    let fertile = fertile(h);
    let (present_deaths, left_deaths) = deaths(h, ctx, first, &mut d);
    let res = usize::from(h.res_unit);
    let origin = usize::from(h.origin_unit);
    // Most households see no death in a year: skip the scattered writes then.
    if present_deaths + left_deaths > 0 {
        tally.national.deaths += present_deaths + left_deaths;
        if h.has(flags::HUKOU_URBAN) {
            tally.national.deaths_urban_hukou += present_deaths;
        }
        if h.has(flags::RES_URBAN) {
            tally.units[res].deaths_urban += present_deaths;
        } else {
            tally.units[res].deaths_rural += present_deaths;
        }
        // Left-behind members live in the origin's rural part.
        tally.units[origin].deaths_rural += left_deaths;
    }

    // Ageing: adults reach 65 (in households with older heads), children reach 15. No count is
    // capped: a household gains at most one birth a year while its head is 20–40 (≤ 23 births
    // over its life), so no role approaches u8::MAX and every member stays counted.
    if h.head_age >= super::aggregate::OLDER_HEAD_AGE {
        // Adults present and left behind reach 65 at one rate: one draw, spread as for children.
        let ageing = ctx.ageing.sample_in(first.mode(stage::AGEING), h.adults + h.adults_left, &mut d);
        let [ageing, ageing_left] = pick_members([h.adults, h.adults_left], ageing, &mut d);
        h.adults -= ageing;
        h.elderly += ageing;
        h.adults_left -= ageing_left;
        h.elderly_left += ageing_left;
    }
    // Children present and left behind turn 15 at one rate: one draw for all of them, spread
    // over the two groups as a uniform pick of that many children.
    let grown_up = ctx.children_grow_up.sample_in(first.mode(stage::GROW_UP), h.children + h.children_left, &mut d);
    let [grown, grown_left] = pick_members([h.children, h.children_left], grown_up, &mut d);
    h.children -= grown;
    h.adults += grown;
    // Left-behind children who turn 15 stay at the origin (school, then work) and follow the
    // household to the city a few years later.
    h.children_left -= grown_left;
    let joining = ctx.adults_follow.sample_in(first.mode(stage::FOLLOW), h.adults_left, &mut d);
    h.adults_left = h.adults_left - joining + grown_left;
    h.adults += joining;
    if joining > 0 {
        // Split households live in a city (rural households are together).
        debug_assert!(h.has(flags::RES_URBAN));
        let from = Place { unit: origin, urban: false };
        let to = Place { unit: res, urban: h.has(flags::RES_URBAN) };
        tally.relocate(from, to, u64::from(joining), Reason::AdultsJoin, ctx.province_of);
        if h.has(flags::HUKOU_URBAN) {
            // Joining a settled household is a hukou transfer to the family (投靠): a
            // settlement of its own, outside any quota.
            tally.units[res].settlements += u64::from(joining);
            tally.units[res].family_settlements += u64::from(joining);
        }
    }

    let birth = match first.mode(stage::BIRTH) {
        Mode::Skip => false,
        Mode::Force => {
            debug_assert!(fertile && h.adults > 0, "only a household that can have a birth has it first");
            true
        }
        Mode::Normal => fertile && h.adults > 0 && ctx.birth_chance(h).sample(&mut d),
    };
    if birth {
        // Migrant parents without school and service access send newborns to the village.
        let access = if h.is_rural_hukou_urban() {
            ctx.cities.school_access[usize::from(h.res_unit)]
                * ctx.services_for(usize::from(h.res_unit), h.years_in_city)
        } else {
            1.0
        };
        if d.random_bool(access.clamp(0.0, 1.0)) {
            h.children += 1;
            if h.has(flags::HUKOU_URBAN) {
                tally.national.births_urban_hukou += 1;
            }
            if h.has(flags::RES_URBAN) {
                tally.units[res].births_urban += 1;
            } else {
                tally.units[res].births_rural += 1;
            }
        } else {
            h.children_left += 1;
            tally.units[origin].births_rural += 1;
        }
        tally.national.births += 1;
    }
    age_head(h);
}

/// The head grows a year older. Headship passes to the next generation: when the head reaches
/// 65 and a younger adult is there (two working-age adults, or one beside an elderly member),
/// the household is the younger generation's, a generation younger. Births and ageing follow the
/// head, so without this they would fade as every head ages (docs/model.md, "Horizon").
#[inline(always)]
fn age_head(h: &mut Household) {
    h.head_age = h.head_age.saturating_add(1).min(100);
    if h.head_age >= HEADSHIP_PASSES_AT && (h.adults >= 2 || (h.adults >= 1 && h.elderly >= 1)) {
        h.head_age -= GENERATION_GAP_YEARS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean and variance of draws, for the distribution tests.
    fn moments(values: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = values.collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64)
    }

    #[test]
    fn thinned_deaths_are_independent_binomials_per_group() {
        // Rates far above real ones so every path (several candidates, several groups) is taken.
        let rates = [0.1, 0.4, 0.05];
        let deaths = Deaths::new(rates);
        let groups = [2u8, 1, 1, 2, 3, 1];
        let n = 200_000u64;
        let key = YearKey::new(11, 2024);
        let samples: Vec<[u8; 6]> =
            (0..n).map(|id| deaths.sample(groups, &mut key.household(id).draws(Purpose::Demography))).collect();
        for g in 0..6 {
            let p = rates[g / 2];
            let trials = f64::from(groups[g]);
            let (mean, variance) = moments(samples.iter().map(|s| f64::from(s[g])));
            let expected_variance = trials * p * (1.0 - p);
            // Four standard errors of the mean; the variance within 5%.
            assert!((mean - trials * p).abs() < 4.0 * (expected_variance / n as f64).sqrt(), "group {g}: mean {mean}");
            assert!((variance / expected_variance - 1.0).abs() < 0.05, "group {g}: variance {variance}");
        }
        // Independence across groups: two groups of one household do not co-vary.
        let (m0, _) = moments(samples.iter().map(|s| f64::from(s[0])));
        let (m2, _) = moments(samples.iter().map(|s| f64::from(s[2])));
        let covariance =
            samples.iter().map(|s| (f64::from(s[0]) - m0) * (f64::from(s[2]) - m2)).sum::<f64>() / n as f64;
        assert!(covariance.abs() < 0.002, "covariance {covariance}");
        assert!(samples.iter().all(|s| (0..6).all(|g| s[g] <= groups[g])));
    }

    #[test]
    fn at_least_one_success_follows_the_zero_truncated_binomial() {
        let (n, p) = (5u8, 0.2);
        let binomials = Binomials::new(p);
        let key = YearKey::new(3, 2025);
        let draws = 200_000u64;
        let mut counts = [0u64; 6];
        for id in 0..draws {
            counts[usize::from(binomials.at_least_one(n, &mut key.household(id).draws(Purpose::Demography)))] += 1;
        }
        assert_eq!(counts[0], 0);
        let choose = |k: u32| (1..=k).fold(1.0, |c, i| c * f64::from(u32::from(n) + 1 - i) / f64::from(i));
        let truncated = 1.0 - (1.0 - p).powi(i32::from(n));
        for k in 1..=u32::from(n) {
            let expected = choose(k) * p.powi(k as i32) * (1.0 - p).powi((u32::from(n) - k) as i32) / truncated;
            let share = counts[k as usize] as f64 / draws as f64;
            let se = (expected * (1.0 - expected) / draws as f64).sqrt();
            assert!((share - expected).abs() < 4.0 * se + 1e-9, "k = {k}: {share} against {expected}");
        }
    }

    #[test]
    fn the_first_event_falls_on_each_stage_with_its_exact_chance() {
        let mut none = [1.0; stage::COUNT];
        none[usize::from(stage::MOVE)] = 0.9;
        none[usize::from(stage::DEATHS) + 2] = 0.5;
        none[usize::from(stage::GROW_UP)] = 0.8;
        none[usize::from(stage::IN_PLACE)] = 0.95;
        let key = YearKey::new(9, 2026);
        let draws = 200_000u64;
        let mut counts = [0u64; stage::COUNT + 1];
        for id in 0..draws {
            counts[usize::from(first_event(&none, key.household(id), stage::QUIET).0)] += 1;
        }
        let mut left = 1.0;
        for (stage, &q) in none.iter().enumerate() {
            let expected = left * (1.0 - q);
            let share = counts[stage] as f64 / draws as f64;
            let se = (expected * (1.0 - expected) / draws as f64).sqrt();
            assert!((share - expected).abs() < 4.0 * se + 1e-12, "stage {stage}: {share} against {expected}");
            left *= q;
        }
        let quiet = counts[usize::from(stage::QUIET)] as f64 / draws as f64;
        assert!(
            (quiet - left).abs() < 4.0 * (left * (1.0 - left) / draws as f64).sqrt(),
            "quiet {quiet} against {left}"
        );
        // A stage with no chance of an event is never the first.
        assert!(
            counts
                .iter()
                .enumerate()
                .all(|(stage, &c)| c == 0 || stage == usize::from(stage::QUIET) || none[stage] < 1.0)
        );
    }

    #[test]
    fn stages_before_the_first_event_are_skipped_and_after_it_drawn() {
        let first = FirstEvent(stage::GROW_UP);
        assert_eq!(first.mode(stage::AGEING), Mode::Skip);
        assert_eq!(first.mode(stage::GROW_UP), Mode::Force);
        assert_eq!(first.mode(stage::BIRTH), Mode::Normal);
        // A year whose demography was quiet still draws its in-place urbanization.
        assert_eq!(FirstEvent(stage::DEMOGRAPHY_QUIET).mode(stage::IN_PLACE), Mode::Normal);
        assert_eq!(FirstEvent(stage::QUIET).mode(stage::IN_PLACE), Mode::Skip);
    }

    #[test]
    fn picks_fall_on_groups_in_proportion_to_their_members() {
        let key = YearKey::new(5, 2030);
        let n = 100_000u64;
        let picks: Vec<[u8; 3]> =
            (0..n).map(|id| pick_members([1, 3, 4], 2, &mut key.household(id).draws(Purpose::Demography))).collect();
        // Two picks of eight without replacement: hypergeometric means 2 × size / 8.
        for (g, size) in [1.0, 3.0, 4.0].iter().enumerate() {
            let (mean, _) = moments(picks.iter().map(|p| f64::from(p[g])));
            assert!((mean - 2.0 * size / 8.0).abs() < 0.01, "group {g}: mean {mean}");
        }
        assert!(picks.iter().all(|p| p.iter().sum::<u8>() == 2 && p[0] <= 1));
        // One non-empty group takes every pick without a draw.
        assert_eq!(pick_members([0, 5, 0], 3, &mut key.household(0).draws(Purpose::Demography)), [0, 3, 0]);
    }

    #[test]
    fn the_marginal_bin_is_the_first_that_does_not_fit() {
        let mut histogram = vec![0u64; SCORE_BINS];
        histogram[200] = 10;
        histogram[150] = 20;
        histogram[100] = 40;
        assert_eq!(marginal_bin(&histogram, 1000.0), None);
        assert_eq!(marginal_bin(&histogram, 20.0), Some((150, 10.0)));
        assert_eq!(marginal_bin(&histogram, 0.0), Some((200, 0.0)));
    }

    #[test]
    fn cutoffs_admit_candidates_in_key_order_within_the_room() {
        let marginal = vec![Some((150u8, 7.0)), None];
        let candidates = [
            Candidate { unit: 0, key: (1, 9), persons: 3 },
            Candidate { unit: 0, key: (2, 4), persons: 3 },
            Candidate { unit: 0, key: (3, 1), persons: 2 },
        ];
        let t = cutoffs(&marginal, &candidates);
        // 3 + 3 fit in 7; the third (2 more) would make 8.
        assert_eq!(t[0].bin, 150);
        assert_eq!(t[0].cutoff, (3, 1));
        assert_eq!(t[1], Threshold::ADMIT_ALL);
    }
}
