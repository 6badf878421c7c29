//! Per-year aggregates: integer member counts per unit, province flows and quota histograms.
//!
//! Counts are integers, so summing chunk results in any order gives the same bits: rayon may split
//! the work however it likes and the totals do not change with the thread count.

use crate::household::{Household, flags};

/// Head age from which a household's adults are the generation that turns 65.
pub const OLDER_HEAD_AGE: u8 = 50;

/// Points score bins for quota admission (scores are clamped to 0..=255).
pub const SCORE_BINS: usize = 256;

/// Counts of simulated members (multiply by persons per member for persons).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnitCounts {
    /// Residents of the urban part (members present in households living there).
    pub urban: u64,
    /// Residents of the rural part, including members left behind whose origin is here.
    pub rural: u64,
    /// Residents holding urban hukou (counted where they live).
    pub hukou_urban_residents: u64,
    /// Urban residents without local urban hukou.
    pub nonhukou_urban: u64,
    /// Non-hukou urban households (for housing coverage).
    pub nonhukou_households: u64,
    /// Urban residents holding rural hukou (the gap).
    pub rural_hukou_urban: u64,
    /// Working-age adults living in the urban part.
    pub urban_workers: u64,
    /// Non-hukou children living in the urban part (demand for public-school seats).
    pub nonhukou_children: u64,
    /// Of them, children of households whose hukou is in another unit: migrant children (随迁子女),
    /// whose schooling the public-school places are for.
    pub migrant_children: u64,
    /// Children left behind whose hukou place is here.
    pub left_behind_children: u64,
    /// Members granted local urban hukou here this year.
    pub settlements: u64,
    pub settled_households: u64,
    pub settled_children: u64,
    /// Of `settlements`: left-behind adults who joined a household already settled here, taking
    /// its hukou as family (投靠), outside any quota.
    pub family_settlements: u64,
    /// Members who applied to settle here this year.
    pub applicants: u64,
    /// Members who moved into / out of this unit's urban and rural parts (residence unit
    /// changed, or rural ↔ urban within the unit, or a left-behind member joined the household).
    pub arrivals_urban: u64,
    pub arrivals_rural: u64,
    pub departures_urban: u64,
    pub departures_rural: u64,
    /// Births and deaths in each part (left-behind members live in the origin's rural part).
    pub births_urban: u64,
    pub births_rural: u64,
    pub deaths_urban: u64,
    pub deaths_rural: u64,
    /// Rural residents whose place became urban around them this year (no move).
    pub in_place: u64,
    /// Persons whose hukou is registered here, wherever they live (the official denominator of a
    /// hukou urbanization rate), and of them those holding urban hukou.
    pub registered: u64,
    pub registered_urban_hukou: u64,
    /// Urban residents whose hukou is in another province (the census "registered in another
    /// province" stock, for validation).
    pub other_province_hukou: u64,
    /// Households renting an affordable rental unit here (occupied units), and non-hukou urban
    /// households here waiting for one (renters who neither own nor became urban in place).
    pub affordable_tenants: u64,
    pub affordable_waiting: u64,
    /// Working-age adults of non-hukou urban households renting here (not owners): the workers
    /// who can follow a relocated job.
    pub renting_nonhukou_workers: u64,
    /// Non-hukou households that bought a home here this year.
    pub purchases: u64,
    /// Urban-hukou residents from another unit who transferred their hukou here this year (not
    /// in `settlements`, which count agricultural migrants as the MPS does).
    pub transfers: u64,
    /// Of `settlements` (not family joiners): members whose hukou was in another province, and
    /// members whose hukou was already in this unit (rural hukou of its own countryside): the
    /// reward fund weighs the three kinds of settler differently (财预〔2022〕60号).
    pub settled_cross_province: u64,
    pub settled_same_unit: u64,
}

impl UnitCounts {
    /// Adds stocks and events of another unit's (or chunk's) counts.
    pub fn add(&mut self, other: &UnitCounts) {
        self.urban += other.urban;
        self.rural += other.rural;
        self.hukou_urban_residents += other.hukou_urban_residents;
        self.nonhukou_urban += other.nonhukou_urban;
        self.nonhukou_households += other.nonhukou_households;
        self.rural_hukou_urban += other.rural_hukou_urban;
        self.urban_workers += other.urban_workers;
        self.nonhukou_children += other.nonhukou_children;
        self.migrant_children += other.migrant_children;
        self.left_behind_children += other.left_behind_children;
        self.other_province_hukou += other.other_province_hukou;
        self.affordable_tenants += other.affordable_tenants;
        self.affordable_waiting += other.affordable_waiting;
        self.renting_nonhukou_workers += other.renting_nonhukou_workers;
        self.registered += other.registered;
        self.registered_urban_hukou += other.registered_urban_hukou;
        self.add_events(other);
    }

    /// Adds the year's events (flows, settlements, births, deaths) of `other`, not its stocks:
    /// how pass A's events join pass B's tally.
    pub fn add_events(&mut self, other: &UnitCounts) {
        self.settlements += other.settlements;
        self.settled_households += other.settled_households;
        self.settled_children += other.settled_children;
        self.family_settlements += other.family_settlements;
        self.applicants += other.applicants;
        self.arrivals_urban += other.arrivals_urban;
        self.arrivals_rural += other.arrivals_rural;
        self.departures_urban += other.departures_urban;
        self.departures_rural += other.departures_rural;
        self.births_urban += other.births_urban;
        self.births_rural += other.births_rural;
        self.deaths_urban += other.deaths_urban;
        self.deaths_rural += other.deaths_rural;
        self.in_place += other.in_place;
        self.purchases += other.purchases;
        self.transfers += other.transfers;
        self.settled_cross_province += other.settled_cross_province;
        self.settled_same_unit += other.settled_same_unit;
    }

    pub fn population(&self) -> u64 {
        self.urban + self.rural
    }

    pub fn arrivals(&self) -> u64 {
        self.arrivals_urban + self.arrivals_rural
    }

    pub fn departures(&self) -> u64 {
        self.departures_urban + self.departures_rural
    }
}

/// National counts that have no unit (demography and flows).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NationalCounts {
    pub births: u64,
    pub deaths: u64,
    /// Births and deaths of urban-hukou holders (present members of urban-hukou households):
    /// with settlements, every change of the urban-hukou population.
    pub births_urban_hukou: u64,
    pub deaths_urban_hukou: u64,
    pub movers: u64,
    pub rural_to_urban: u64,
    pub urban_to_rural: u64,
    /// `rural_to_urban` by reason (indexed by [`Reason`]): household moves, left-behind
    /// children joining (reunification, settlement), left-behind adults following.
    pub rural_to_urban_by: [u64; 3],
    pub in_place: u64,
    pub adults: u64,
    pub children: u64,
    pub elderly: u64,
    /// Households able to have a child this year (head 20–40, an adult, fewer than 3 children),
    /// in all and of them those living in an urban part.
    pub fertile_households: u64,
    pub fertile_households_urban: u64,
    pub households: u64,
    /// Working-age adults in households whose head is 50 or older: the generation that turns
    /// 65 (ageing is concentrated there, so young migrant households do not age out).
    pub adults_older_households: u64,
    /// Heads of urban households holding rural hukou, and those with senior secondary
    /// education or more (what vocational training moves).
    pub migrant_heads: u64,
    pub migrant_heads_senior_plus: u64,
    /// Working-age adults of urban households holding rural hukou that moved there (not
    /// urbanized in place): the model's analogue of the migrant-worker survey's outgoing
    /// workers; and those living outside their hukou province.
    pub migrant_adults: u64,
    pub migrant_adults_cross_province: u64,
}

impl NationalCounts {
    /// Adds another chunk's (or pass's) counts.
    pub fn add(&mut self, o: &NationalCounts) {
        self.births += o.births;
        self.deaths += o.deaths;
        self.births_urban_hukou += o.births_urban_hukou;
        self.deaths_urban_hukou += o.deaths_urban_hukou;
        self.movers += o.movers;
        self.rural_to_urban += o.rural_to_urban;
        self.urban_to_rural += o.urban_to_rural;
        for (a, b) in self.rural_to_urban_by.iter_mut().zip(&o.rural_to_urban_by) {
            *a += b;
        }
        self.in_place += o.in_place;
        self.adults += o.adults;
        self.children += o.children;
        self.elderly += o.elderly;
        self.fertile_households += o.fertile_households;
        self.fertile_households_urban += o.fertile_households_urban;
        self.households += o.households;
        self.adults_older_households += o.adults_older_households;
        self.migrant_heads += o.migrant_heads;
        self.migrant_heads_senior_plus += o.migrant_heads_senior_plus;
        self.migrant_adults += o.migrant_adults;
        self.migrant_adults_cross_province += o.migrant_adults_cross_province;
    }
}

/// Why members change place (for the decomposition of the urbanization rate's change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A household moves (the members who go).
    HouseholdMove = 0,
    /// Left-behind children join the household (reunification, settlement).
    ChildrenJoin = 1,
    /// Left-behind adults follow the household.
    AdultsJoin = 2,
}

/// Where members live: a unit's urban or rural part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub unit: usize,
    pub urban: bool,
}

/// Everything one pass over the households counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub units: Vec<UnitCounts>,
    pub national: NationalCounts,
    /// Province × province members who moved (origin residence province → new one).
    pub flows: Vec<u64>,
    /// Hukou unit × residence unit: urban members away from their hukou unit (the migrant
    /// networks the choice model reads).
    pub network: Vec<u32>,
    /// Unit × score bin: members applying to settle with a quota pending.
    pub applications: Vec<u64>,
    /// The households behind `applications` (a few per cent of households): the marginal
    /// score bin's are admitted in keyed order, without another pass over all households.
    pub applied: Vec<Applied>,
    provinces: usize,
}

/// A household waiting for quota admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub id: u64,
    pub persons: u32,
    pub unit: u16,
    pub score: u8,
}

impl Tally {
    pub fn new(units: usize, provinces: usize) -> Tally {
        Tally {
            units: vec![UnitCounts::default(); units],
            national: NationalCounts::default(),
            flows: vec![0; provinces * provinces],
            network: vec![0; units * units],
            applications: vec![0; units * SCORE_BINS],
            applied: Vec::new(),
            provinces,
        }
    }

    /// Adds another tally; integer sums, so the order of merging never matters.
    pub fn merge(mut self, other: Tally) -> Tally {
        for (a, b) in self.units.iter_mut().zip(&other.units) {
            a.add(b);
        }
        self.national.add(&other.national);
        for (a, b) in self.flows.iter_mut().zip(&other.flows) {
            *a += b;
        }
        for (a, b) in self.network.iter_mut().zip(&other.network) {
            *a += b;
        }
        for (a, b) in self.applications.iter_mut().zip(&other.applications) {
            *a += b;
        }
        // Order differs with the thread count; admission sorts by (unit, key) before use.
        self.applied.extend_from_slice(&other.applied);
        self
    }

    /// Counts `members` moving from one part (unit, urban or rural) to another: movers, the
    /// rural ↔ urban flows, each part's arrivals and departures and the province flow. Every
    /// change of place goes through here, whatever its reason (move, return, reunification,
    /// joining on settlement, a left-behind adult following), so each is counted once.
    #[inline]
    pub fn relocate(&mut self, from: Place, to: Place, members: u64, reason: Reason, province_of: &[u16]) {
        if members == 0 {
            return;
        }
        let n = &mut self.national;
        n.movers += members;
        match (from.urban, to.urban) {
            (false, true) => {
                n.rural_to_urban += members;
                n.rural_to_urban_by[reason as usize] += members;
            }
            (true, false) => n.urban_to_rural += members,
            _ => {}
        }
        let origin = &mut self.units[from.unit];
        if from.urban {
            origin.departures_urban += members;
        } else {
            origin.departures_rural += members;
        }
        let destination = &mut self.units[to.unit];
        if to.urban {
            destination.arrivals_urban += members;
        } else {
            destination.arrivals_rural += members;
        }
        self.flows[usize::from(province_of[from.unit]) * self.provinces + usize::from(province_of[to.unit])] += members;
    }

    /// Counts where a household's members live at the end of the year.
    #[inline]
    pub fn count_stock(&mut self, h: &Household, units: usize, province_of: &[u16]) {
        if h.is_empty() {
            return;
        }
        let present = u64::from(h.present());
        let res = usize::from(h.res_unit);
        let hukou = usize::from(h.hukou_unit);
        let urban_hukou = h.has(flags::HUKOU_URBAN);
        let n = &mut self.national;
        n.households += 1;
        n.adults += u64::from(h.adults) + u64::from(h.adults_left);
        if h.head_age >= OLDER_HEAD_AGE {
            n.adults_older_households += u64::from(h.adults) + u64::from(h.adults_left);
        }
        n.children += u64::from(h.children) + u64::from(h.children_left);
        n.elderly += u64::from(h.elderly) + u64::from(h.elderly_left);
        if (20..=40).contains(&h.head_age) && h.adults > 0 && h.children + h.children_left < 3 {
            n.fertile_households += 1;
            n.fertile_households_urban += u64::from(h.has(flags::RES_URBAN));
        }
        // Left-behind members live in the origin's rural part and keep its rural hukou.
        let left = u64::from(h.left_behind());
        if left > 0 {
            let at = &mut self.units[usize::from(h.origin_unit)];
            at.rural += left;
            at.registered += left;
            at.left_behind_children += u64::from(h.children_left);
        }
        let registry = &mut self.units[hukou];
        registry.registered += present;
        if urban_hukou {
            registry.registered_urban_hukou += present;
        }
        let here = &mut self.units[res];
        if h.has(flags::RES_URBAN) {
            here.urban += present;
            here.urban_workers += u64::from(h.adults);
            if urban_hukou {
                here.hukou_urban_residents += present;
            } else {
                here.rural_hukou_urban += present;
                self.national.migrant_heads += 1;
                self.national.migrant_heads_senior_plus += u64::from(h.education() >= 2);
                if !h.has(flags::IN_SITU) {
                    self.national.migrant_adults += u64::from(h.adults);
                    if province_of[res] != province_of[hukou] {
                        self.national.migrant_adults_cross_province += u64::from(h.adults);
                    }
                }
            }
            if province_of[res] != province_of[hukou] {
                here.other_province_hukou += present;
            }
            if h.rents_affordable() {
                here.affordable_tenants += 1;
            }
            if h.is_nonhukou_urban() {
                here.nonhukou_urban += present;
                here.nonhukou_households += 1;
                here.nonhukou_children += u64::from(h.children);
                if !h.rents_affordable() && !h.has(flags::OWNS_HOME) && !h.has(flags::IN_SITU) {
                    here.affordable_waiting += 1;
                }
                if !h.has(flags::OWNS_HOME) {
                    here.renting_nonhukou_workers += u64::from(h.adults);
                }
                if hukou != res {
                    self.network[hukou * units + res] += present as u32;
                    here.migrant_children += u64::from(h.children);
                }
            }
        } else {
            here.rural += present;
            if urban_hukou {
                here.hukou_urban_residents += present;
            }
        }
    }
}
