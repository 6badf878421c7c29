//! Scenario files: the TOML schema, `extends` resolution, year tables and range checks.
//!
//! TOML types stay in this module. Everything else receives a validated [`Scenario`] whose values
//! are in range, so the engine never has to fail on input. Defaults here are the calibrated or
//! cited values documented in `docs/scenarios.md`; scenario files state policy on top of them.

mod year_value;

pub use year_value::{PlaceValue, YearValue};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// `:line:column` of a parse error, or nothing when the parser gave no position.
fn at_line(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}:{column}")
    }
}

/// Everything that can be wrong with a scenario file; every variant is the user's to fix (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read scenario file: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}{}: {message}", at_line(*line, *column))]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: `extends` cycle: {chain}")]
    Cycle { path: String, chain: String },
    #[error("{location}: `{key}` = {value} is out of range; allowed: {allowed}")]
    Range {
        location: String,
        key: String,
        value: String,
        allowed: String,
    },
    #[error("{location}: `{key}`: {message}")]
    Invalid {
        location: String,
        key: String,
        message: String,
    },
}

/// Settlement regime of a unit (plan §2.1): open below 3M urban-district residents, relaxed 3–5M,
/// points-based from 5M.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    Open,
    Relaxed,
    Points,
}

/// A unit's regime override: one regime for the whole run, or regimes from given years on (before
/// the first listed year the unit keeps the regime its urban-district population gives it).
#[derive(Debug, Clone, PartialEq)]
pub enum RegimeSetting {
    Fixed(Regime),
    From(BTreeMap<i32, Regime>),
}

impl RegimeSetting {
    /// The regime in `year`, or `None` when the unit keeps its own regime that year.
    pub fn at(&self, year: i32) -> Option<Regime> {
        match self {
            RegimeSetting::Fixed(regime) => Some(*regime),
            RegimeSetting::From(table) => table.range(..=year).next_back().map(|(_, r)| *r),
        }
    }

    /// The years listed in the table (for range checks).
    pub fn years(&self) -> Vec<i32> {
        match self {
            RegimeSetting::Fixed(_) => Vec::new(),
            RegimeSetting::From(table) => table.keys().copied().collect(),
        }
    }
}

impl Serialize for RegimeSetting {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RegimeSetting::Fixed(regime) => regime.serialize(serializer),
            RegimeSetting::From(table) => table
                .iter()
                .map(|(year, regime)| (year.to_string(), *regime))
                .collect::<BTreeMap<String, Regime>>()
                .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for RegimeSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Setting;
        impl<'de> serde::de::Visitor<'de> for Setting {
            type Value = RegimeSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a regime (\"open\", \"relaxed\" or \"points\") or a table of years to regimes, e.g. { 2025 = \"open\" }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RegimeSetting, E> {
                Regime::deserialize(serde::de::value::StrDeserializer::<E>::new(v))
                    .map(RegimeSetting::Fixed)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RegimeSetting, A::Error> {
                let mut table = BTreeMap::new();
                while let Some((year, regime)) = map.next_entry::<String, Regime>()? {
                    let year: i32 = year.parse().map_err(|_| {
                        serde::de::Error::custom(format!(
                            "{year:?} is not a year: the keys of a regime table are years, e.g. {{ 2025 = \"open\" }}"
                        ))
                    })?;
                    table.insert(year, regime);
                }
                if table.is_empty() {
                    return Err(serde::de::Error::custom(
                        "an empty regime table: list at least one year, e.g. { 2025 = \"open\" }",
                    ));
                }
                Ok(RegimeSetting::From(table))
            }
        }
        deserializer.deserialize_any(Setting)
    }
}

impl Regime {
    pub const ALL: [Regime; 3] = [Regime::Open, Regime::Relaxed, Regime::Points];

    pub fn name(self) -> &'static str {
        match self {
            Regime::Open => "open",
            Regime::Relaxed => "relaxed",
            Regime::Points => "points",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Education levels of a household head, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Education {
    Primary,
    Junior,
    Senior,
    Tertiary,
}

impl Education {
    /// The household's `education` field value for this level.
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// A whole scenario after `extends` has been applied.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Short name used for the output folder; defaults to the file stem, never inherited.
    pub name: String,
    /// The planner's question this scenario answers; never inherited.
    pub description: String,
    /// Path of the parent scenario, relative to this file. Consumed while loading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    pub run: Run,
    pub initial: Initial,
    pub settlement: Settlement,
    pub services: Services,
    pub jobs: Jobs,
    pub housing: Housing,
    pub social_insurance: SocialInsurance,
    pub fiscal: Fiscal,
    pub demography: Demography,
    pub in_place: InPlace,
    pub potential_regions: PotentialRegions,
    pub metro_areas: MetroAreas,
    pub renewal: Renewal,
    pub behaviour: Behaviour,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Run {
    /// First simulated year; the initial population is the state at the end of the year before.
    pub first_year: i32,
    pub last_year: i32,
    /// Simulated households (agents); each stands for population ÷ persons simulated.
    pub households: u64,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Initial {
    /// Year whose end the initial state describes; `run.first_year` must be the year after.
    pub year: i32,
    /// Official year-end total population of the base year (persons).
    pub population: f64,
    /// Official permanent-resident urbanization rate of the base year (%).
    pub urbanization_rate_pct: f64,
    /// Official hukou urbanization rate of the base year (%).
    pub hukou_urbanization_rate_pct: f64,
    /// Share of cross-county migrants whose hukou is rural (census 2020: 249.0M of 375.8M
    /// floating persons moved from rural areas).
    pub rural_origin_share_cross_county: f64,
    /// Share of residents registered in another province who hold rural hukou (calibrated to the
    /// survey's cross-province migrant workers; the same-province share follows so that the
    /// cross-county total keeps `rural_origin_share_cross_county`).
    /// *Year table*, read at `initial.year`: the base-year stock differs by year.
    pub rural_origin_share_other_province: YearValue,
    /// Share of same-county registered-elsewhere residents who are floating rather than moved
    /// within a city's districts (census 2020: (188.5M − 116.9M) / 188.5M).
    pub floating_share_same_county: f64,
    /// Share of migrant households' children left behind at the origin (census 2020, UNICEF:
    /// 66.9M left-behind vs 71.1M migrant children).
    pub left_behind_child_share: f64,
    /// Chance that a rural-hukou migrant household has a second working-age adult with it
    /// (calibrated to the migrant-worker survey's outgoing workers in the base year).
    pub migrant_second_adult_share: f64,
    /// Exponent of distance in the gravity model of migrant origins.
    pub origin_distance_decay: f64,
    /// Distance used for moves inside one unit (km).
    pub own_unit_distance_km: f64,
}

/// Per-regime eligibility rules and quota.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegimeRules {
    /// *Year tables* of whole years, so a rule can phase in ("from 2025": `{ 2024 = 5, 2025 = 0 }`).
    pub min_residence_years: YearValue,
    pub min_insurance_years: YearValue,
    /// Annual settlement quota as % of the unit's non-hukou urban residents; absent = no quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annual_quota_pct: Option<YearValue>,
    /// From this year on the quota no longer applies (plan §2.1: "encouraged to drop quotas").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_quota_from: Option<i32>,
    /// Heads with at least this education are eligible without residence or insurance years or
    /// points (an education alternative, e.g. graduates); absent = no exemption.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub education_exemption: Option<Education>,
    /// Owning a home in the city is enough to apply (购房落户), whatever the years or points.
    pub home_purchase: bool,
}

/// Points formula of points-based cities (plan §2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PointsFormula {
    pub per_insurance_year: f64,
    pub per_residence_year: f64,
    /// Points by education level: primary or less, junior secondary, senior secondary, tertiary.
    pub education: [f64; 4],
    /// Points when the household head is under 45.
    pub age_under_45: f64,
    /// Minimum score to apply.
    pub cutoff: f64,
}

/// How willing an eligible household is to take local hukou (a logit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Willingness {
    pub base: f64,
    /// Per unit of services gained by settling (1 − non-hukou service share).
    pub service_gain: f64,
    pub with_children: f64,
    pub owns_home: f64,
    /// Added when settling would cost land contract, homestead and collective rights.
    pub land_surrender: f64,
    /// Added when the household lives in its own hukou unit (in-situ urbanized).
    pub in_situ: f64,
    /// Added when the household is enrolled in urban employee insurance this year (the year's
    /// accrual of `social_insurance.coverage_pct`).
    pub insured: f64,
    /// Added by the household's education level [primary or less, junior secondary, senior
    /// secondary, tertiary]: better-educated migrants more often take local hukou (the channel
    /// through which vocational training reaches settlement).
    pub education: [f64; 4],
    /// Easier procedures (plan §2.1: national online hukou platform, registration at the
    /// habitual residence), as a shift of the logit; 0 = 2023 procedures.
    pub procedure_ease: YearValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settlement {
    /// Urban-district population below which a unit is open (persons).
    pub open_below_urban_district: f64,
    /// Urban-district population from which a unit is points-based (persons).
    pub points_from_urban_district: f64,
    /// Units moved to another regime, by English/Chinese name or administrative code: a regime,
    /// or a table of the years from which each applies (`{ 2025 = "open" }`).
    pub regime_overrides: BTreeMap<String, RegimeSetting>,
    /// Annual settlement quota of named units (% of their non-hukou urban residents), replacing
    /// their regime's quota.
    pub quota_overrides: BTreeMap<String, YearValue>,
    pub open: RegimeRules,
    pub relaxed: RegimeRules,
    pub points: RegimeRules,
    pub points_formula: PointsFormula,
    pub willingness: Willingness,
    /// Whether settling requires giving up rural land rights (plan §2.(三).2 forbids it).
    pub land_surrender_required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Services {
    /// Share of basic public services a newly arrived non-hukou resident receives (0–1).
    pub nonhukou_share: PlaceValue,
    /// Extra share per year of residence permit (plan §2.2 links services to residence years).
    pub per_residence_year: f64,
    /// Years of residence beyond which no further share is added.
    pub residence_years_counted: u32,
    /// Public-school seats for non-hukou children at the start, as % of those children (2023).
    pub initial_public_school_share_pct: f64,
    /// Growth of public-school places for non-hukou children relative to their number (% per
    /// year). With the fiscal link's places, 0.8 reproduces the rise of the primary public-school
    /// share from 82.2% (2017) to 90.1% (2023), about +1.3 pp a year.
    pub school_seat_growth_pct: PlaceValue,
    /// *Year table.* Share (0–1) of a year's rise in school-age non-hukou children that new
    /// public-school places match within the year, at the current public-school share.
    pub place_response: YearValue,
    /// Yearly chance (%) that a split household reunifies with its children when access is full.
    pub reunify_rate_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Jobs {
    /// Urban job growth (% per year).
    pub growth_pct: PlaceValue,
    /// Nominal wage growth (% per year), all cities.
    pub wage_growth_pct: PlaceValue,
    /// Rural income growth (% per year).
    pub rural_income_growth_pct: YearValue,
    /// Wage response to labour-market tightness (jobs ÷ workers), an elasticity.
    pub tightness_elasticity: f64,
    /// Wage gain from city size: elasticity to urban-district population.
    pub size_elasticity: f64,
    /// Employment rate of urban workers at the start (0–1).
    pub initial_employment_rate: f64,
    /// Vocational training (plan §2.3): yearly chance (%) that an urban rural-hukou household
    /// below tertiary education moves its head up one education level.
    pub skill_upgrade_pct: YearValue,
    /// Employment services (plan §2.3): non-hukou residents' employment rate relative to hukou
    /// residents' (0–1).
    pub nonhukou_job_finding: YearValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Housing {
    /// Housing cost elasticity to urban population across cities.
    pub size_elasticity: f64,
    /// Elasticity of housing cost to urban population relative to the base year (and to the
    /// housing stock left after redevelopment).
    pub pressure_elasticity: f64,
    /// *Year table, by place.* Affordable rental units added per year (units): the default is
    /// the national programme, spread over the units no place key governs by their share of
    /// non-hukou households × regime weight; a place key gives the units built in that place,
    /// spread over its units the same way.
    pub affordable_units_per_year: PlaceValue,
    /// Affordable rental units standing in the base year (units), spread like new ones.
    pub initial_affordable_units: f64,
    /// *Year table.* Yearly chance (%) that a non-hukou renter household in a city of average
    /// housing cost buys a home there; divided by the city's housing-cost index.
    pub purchase_pct: YearValue,
    /// Cost reduction for a household living in an affordable rental unit (0–1).
    pub affordable_discount: f64,
    /// Share of affordable rental units open to non-hukou residents (plan §2.5: who may rent).
    pub affordable_access: YearValue,
    /// Relative weight of each regime's cities when new affordable units are spread.
    pub regime_weights: RegimeWeights,
}

/// A number per settlement regime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegimeWeights {
    pub open: f64,
    pub relaxed: f64,
    pub points: f64,
}

impl Default for RegimeWeights {
    fn default() -> Self {
        RegimeWeights {
            open: 1.0,
            relaxed: 1.0,
            points: 1.0,
        }
    }
}

impl RegimeWeights {
    pub fn get(&self, regime: Regime) -> f64 {
        match regime {
            Regime::Open => self.open,
            Regime::Relaxed => self.relaxed,
            Regime::Points => self.points,
        }
    }
}

/// The plan's potential regions (§3): industrial clusters and county towns for nearby
/// urbanization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PotentialRegions {
    /// Region name → member units (codes or names). Default: `data/potential_regions.csv`.
    pub members: BTreeMap<String, Vec<String>>,
    /// Extra urban job growth in member units (percentage points per year).
    pub job_boost_pct: YearValue,
    /// Extra in-place urbanization in member units from county-town capacity (percentage points
    /// of rural residents per year).
    pub county_town_pct: YearValue,
    /// Extra utility of the own unit's towns for households from member units.
    pub nearby_preference: f64,
}

/// Metropolitan areas (plan §4): core-to-periphery job relocation and commuting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetroAreas {
    /// Metro name → member units, core first (codes or names). Default: `data/metro_areas.csv`.
    pub members: BTreeMap<String, Vec<String>>,
    /// Share of the core's urban jobs moved to member units each year (%).
    pub job_relocation_pct: YearValue,
    /// Share of a member-unit resident's earnings that commuting lets it draw at core wages (0–1).
    pub commute_share: YearValue,
    /// Cost of commuting as a share of core earnings (0–1).
    pub commute_cost: f64,
}

/// Urban renewal (plan §5): urban-village redevelopment and amenity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Renewal {
    /// Renewal applies to units with at least this urban-district population (persons).
    pub min_urban_district: f64,
    /// Cheap (urban-village) housing removed per year, % of the housing stock.
    pub cheap_housing_removed_pct: YearValue,
    /// Utility added per year of renewal (cumulative amenity).
    pub amenity_per_year: f64,
}

impl Default for Renewal {
    fn default() -> Self {
        Renewal {
            min_urban_district: 3_000_000.0,
            cheap_housing_removed_pct: YearValue::Constant(0.0),
            amenity_per_year: 0.0,
        }
    }
}

const POTENTIAL_REGIONS_CSV: &str = include_str!("../../data/potential_regions.csv");
const METRO_AREAS_CSV: &str = include_str!("../../data/metro_areas.csv");

/// Reads `name → codes` from an embedded data table (columns named `name_column`, `codes_column`).
fn memberships(text: &str, name_column: &str, codes_column: &str) -> BTreeMap<String, Vec<String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().cloned().unwrap_or_default();
    let name_at = headers.iter().position(|h| h == name_column);
    let codes_at = headers.iter().position(|h| h == codes_column);
    let (Some(name_at), Some(codes_at)) = (name_at, codes_at) else {
        return BTreeMap::new();
    };
    reader
        .records()
        .filter_map(Result::ok)
        .map(|r| {
            let codes = r
                .get(codes_at)
                .unwrap_or("")
                .split(';')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            (r.get(name_at).unwrap_or("").to_string(), codes)
        })
        .collect()
}

impl Default for PotentialRegions {
    fn default() -> Self {
        PotentialRegions {
            members: memberships(POTENTIAL_REGIONS_CSV, "region_en", "codes"),
            job_boost_pct: YearValue::Constant(0.0),
            county_town_pct: YearValue::Constant(0.0),
            nearby_preference: 0.0,
        }
    }
}

impl Default for MetroAreas {
    fn default() -> Self {
        MetroAreas {
            members: memberships(METRO_AREAS_CSV, "metro_area_en", "member_codes"),
            job_relocation_pct: YearValue::Constant(0.0),
            commute_share: YearValue::Constant(0.04),
            commute_cost: 0.2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocialInsurance {
    /// Yearly chance (%) that an urban rural-hukou household with a working-age adult adds a
    /// year of social insurance.
    pub coverage_pct: YearValue,
    /// Whether paid years carry over when a household moves to another unit.
    pub portable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fiscal {
    /// 人地钱挂钩: whether capacity follows migrants settled the year before.
    pub link: bool,
    /// Public-school places for non-hukou children added per child settled the year before.
    pub seats_per_settled_child: f64,
    /// Affordable rental units added per settled household the year before.
    pub units_per_settled_household: f64,
    /// New urban construction land per person settled the year before (m²), outside points
    /// (super- and mega-) cities, whose central districts get none.
    pub land_m2_per_settled: f64,
    /// The central reward fund for citizenization and its allocation rule, reported in
    /// `fiscal.csv`.
    pub reward: RewardFund,
    /// Yearly public cost of a settled person by item (yuan a year; education per school-age
    /// child), reported in `fiscal.csv` (市民化成本).
    pub cost: CitizenizationCost,
}

/// The central reward fund for citizenization (农业转移人口市民化奖励资金): a yearly budget shared
/// out by the settlers each place takes (财预〔2022〕60号: the core factor is settlers, with
/// different standards for cross-province, intra-province and same-city settlers, earlier years'
/// settlers phased down, and a tilt to fiscally weak regions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardFund {
    /// *Year table.* The fund (yuan a year).
    pub fund_yuan: YearValue,
    /// Weight of a settler from another province, and of one from the unit's own countryside,
    /// against 1 for a settler from elsewhere in the province.
    pub cross_province_weight: f64,
    pub same_unit_weight: f64,
    /// Share of a year's weighted settlers still counted the next year (the phase-down of
    /// earlier years' settlers); 0 = only this year's.
    pub earlier_years_weight: f64,
    /// Multiplier of the settlers in central, western and north-eastern provinces (the tilt to
    /// fiscally weaker regions).
    pub fiscally_weak_weight: f64,
}

impl Default for RewardFund {
    fn default() -> Self {
        RewardFund {
            fund_yuan: YearValue::Constant(40.0e9),
            cross_province_weight: 1.5,
            same_unit_weight: 0.5,
            earlier_years_weight: 0.5,
            fiscally_weak_weight: 1.2,
        }
    }
}

/// Yearly public cost of citizenization by item (yuan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CitizenizationCost {
    /// Public spending per pupil of compulsory school, per school-age child settled.
    pub education_per_pupil: f64,
    /// Per settled person: health care, social-insurance subsidies, housing security and urban
    /// infrastructure and management.
    pub health_per_person: f64,
    pub social_insurance_per_person: f64,
    pub housing_per_person: f64,
    pub infrastructure_per_person: f64,
}

impl CitizenizationCost {
    /// Yearly cost of a settled person besides schooling (yuan a year).
    pub fn per_person(&self) -> f64 {
        self.health_per_person
            + self.social_insurance_per_person
            + self.housing_per_person
            + self.infrastructure_per_person
    }
}

impl Default for CitizenizationCost {
    fn default() -> Self {
        CitizenizationCost {
            education_per_pupil: 14_579.0,
            health_per_person: 1_500.0,
            social_insurance_per_person: 4_000.0,
            housing_per_person: 3_000.0,
            infrastructure_per_person: 3_500.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Demography {
    /// Crude birth rate (per mille).
    pub birth_rate_permille: YearValue,
    /// Crude death rate (per mille).
    pub death_rate_permille: YearValue,
    /// Death risk of a person 65+ relative to a working-age adult.
    pub elderly_mortality_ratio: f64,
    /// % of working-age adults who turn 65 in a year.
    pub ageing_pct: f64,
    /// Crude birth rate of urban residents ÷ that of rural residents: how the national births
    /// split between the parts, by where the parents live (assumption: 1, equal rates).
    pub urban_birth_rate_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InPlace {
    /// % of rural residents whose place becomes urban in a year (towns grow, areas reclassified).
    pub rate_pct: YearValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    pub beta_wage: f64,
    pub beta_housing: f64,
    pub beta_services: f64,
    pub beta_distance: f64,
    pub beta_network: f64,
    /// Preference for the urban part of one's own hukou unit (nearby urbanization).
    pub beta_own_unit: f64,
    pub beta_same_province: f64,
    /// Utility added to every destination in a province, by 2-digit province code ("44" =
    /// Guangdong): where new movers go beyond what the 2020 stock of migrants implies
    /// (calibrated to the provincial urbanization rates 2021–2023).
    pub province_destination_shift: BTreeMap<String, f64>,
    /// Utility added to one unit as a destination, by 6-digit unit code, on top of its
    /// province's shift: how new movers divide between a province's units (calibrated to each
    /// unit's 2010–2020 urban growth relative to its province).
    pub unit_destination_shift: BTreeMap<String, f64>,
    /// % of urban-hukou households living in their hukou city that leave for a city in another
    /// province in a year, by 2-digit province code (inter-city migrants, 城市间流动人口;
    /// calibrated to the provinces' population change 2020–2023).
    pub province_urban_outflow_pct: BTreeMap<String, f64>,
    /// Utility bonus for staying where one is (moving cost).
    pub stay_bonus: f64,
    /// Further utility of staying in the current city for a household enrolled in urban
    /// employee insurance this year.
    pub insured_stay: f64,
    /// Further utility of staying in the current city for a household renting an affordable
    /// rental unit there (rent saving and security of tenure).
    pub tenant_stay: f64,
    /// Further utility of staying in the current city for a household owning its home there.
    pub owner_stay: f64,
    /// % of rural households that weigh a move in a year.
    pub reconsider_rural_pct: f64,
    /// % of non-hukou urban households that weigh a move in a year, before inertia.
    pub reconsider_urban_pct: f64,
    /// Years in a city over which the chance of weighing a move halves.
    pub inertia_half_life_years: f64,
    /// Rural-to-urban moves per year as % of rural households at the start; sets the rural
    /// alternative's constant.
    pub rural_urban_move_rate_pct: YearValue,
    /// Yearly chance (%) that a left-behind young adult (15+) follows the household to the city:
    /// about three years after turning 15, the end of junior secondary school (assumption).
    pub left_behind_adult_follow_pct: f64,
    /// Wage multiplier by education level (primary, junior, senior, tertiary).
    pub education_wage_premium: [f64; 4],
}

impl Default for Run {
    fn default() -> Self {
        Run {
            first_year: 2024,
            last_year: 2029,
            households: 5_000_000,
            seed: 20_240_731,
        }
    }
}

impl Default for Initial {
    fn default() -> Self {
        Initial {
            year: 2023,
            population: 1_409_670_000.0,
            urbanization_rate_pct: 66.16,
            hukou_urbanization_rate_pct: 48.3,
            rural_origin_share_cross_county: 0.663,
            rural_origin_share_other_province: YearValue::Constant(0.663),
            floating_share_same_county: 0.38,
            left_behind_child_share: 0.485,
            migrant_second_adult_share: 0.6,
            origin_distance_decay: 1.0,
            own_unit_distance_km: 30.0,
        }
    }
}

impl Default for PointsFormula {
    fn default() -> Self {
        PointsFormula {
            per_insurance_year: 6.0,
            per_residence_year: 3.0,
            education: [0.0, 5.0, 15.0, 40.0],
            age_under_45: 10.0,
            cutoff: 60.0,
        }
    }
}

impl Default for Willingness {
    fn default() -> Self {
        Willingness {
            base: -3.8,
            service_gain: 1.5,
            with_children: 0.5,
            owns_home: 0.5,
            land_surrender: -1.2,
            in_situ: -0.5,
            insured: 0.18,
            education: [0.0, 0.15, 0.3, 0.6],
            procedure_ease: YearValue::Constant(0.0),
        }
    }
}

impl Default for Settlement {
    fn default() -> Self {
        Settlement {
            open_below_urban_district: 3_000_000.0,
            points_from_urban_district: 5_000_000.0,
            regime_overrides: BTreeMap::new(),
            quota_overrides: BTreeMap::new(),
            open: RegimeRules::default(),
            relaxed: RegimeRules {
                min_residence_years: 3.0.into(),
                min_insurance_years: 3.0.into(),
                ..RegimeRules::default()
            },
            points: RegimeRules {
                min_residence_years: 0.0.into(),
                min_insurance_years: 5.0.into(),
                annual_quota_pct: Some(YearValue::Constant(0.5)),
                ..RegimeRules::default()
            },
            points_formula: PointsFormula::default(),
            willingness: Willingness::default(),
            land_surrender_required: false,
        }
    }
}

impl Default for Services {
    fn default() -> Self {
        Services {
            nonhukou_share: 0.6.into(),
            per_residence_year: 0.04,
            residence_years_counted: 5,
            initial_public_school_share_pct: 90.1,
            school_seat_growth_pct: 0.8.into(),
            place_response: YearValue::Constant(0.5),
            reunify_rate_pct: 4.0,
        }
    }
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            growth_pct: 1.0.into(),
            wage_growth_pct: 3.6.into(),
            rural_income_growth_pct: YearValue::Constant(3.6),
            tightness_elasticity: 0.3,
            size_elasticity: 0.05,
            initial_employment_rate: 0.948,
            skill_upgrade_pct: YearValue::Constant(0.7),
            nonhukou_job_finding: YearValue::Constant(0.95),
        }
    }
}

impl Default for Housing {
    fn default() -> Self {
        Housing {
            size_elasticity: 0.3,
            pressure_elasticity: 1.0,
            affordable_units_per_year: PlaceValue::from(2_130_000.0),
            initial_affordable_units: 5_720_000.0,
            purchase_pct: YearValue::Constant(2.0),
            affordable_discount: 0.15,
            affordable_access: YearValue::Constant(0.5),
            regime_weights: RegimeWeights::default(),
        }
    }
}

impl Default for SocialInsurance {
    fn default() -> Self {
        SocialInsurance {
            coverage_pct: YearValue::Constant(30.0),
            portable: true,
        }
    }
}

impl Default for Fiscal {
    fn default() -> Self {
        Fiscal {
            link: true,
            seats_per_settled_child: 0.1,
            units_per_settled_household: 0.1,
            land_m2_per_settled: 100.0,
            reward: RewardFund::default(),
            cost: CitizenizationCost::default(),
        }
    }
}

impl Default for Demography {
    fn default() -> Self {
        Demography {
            birth_rate_permille: YearValue::Constant(6.39),
            death_rate_permille: YearValue::Constant(7.87),
            elderly_mortality_ratio: 20.0,
            urban_birth_rate_ratio: 1.0,
            ageing_pct: 1.8,
        }
    }
}

impl Default for InPlace {
    fn default() -> Self {
        InPlace {
            rate_pct: YearValue::Constant(0.7),
        }
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            beta_wage: 1.5,
            beta_housing: 0.5,
            beta_services: 1.2,
            beta_distance: 0.5,
            beta_network: 0.25,
            beta_own_unit: 1.0,
            beta_same_province: 0.8,
            province_destination_shift: BTreeMap::new(),
            unit_destination_shift: BTreeMap::new(),
            province_urban_outflow_pct: BTreeMap::new(),
            stay_bonus: 2.5,
            insured_stay: 0.38,
            tenant_stay: 0.3,
            owner_stay: 0.46,
            reconsider_rural_pct: 8.0,
            reconsider_urban_pct: 12.0,
            inertia_half_life_years: 4.0,
            rural_urban_move_rate_pct: 1.2.into(),
            left_behind_adult_follow_pct: 33.3,
            education_wage_premium: [1.0, 1.1, 1.25, 1.6],
        }
    }
}

/// Most simulated years in one run: the demography (no household formation) holds its birth
/// rate for 12 years even at the highest accepted birth rate.
pub const MAX_SIMULATED_YEARS: i32 = 12;
/// Highest accepted crude birth rate (per mille); the highest in data/official_national.csv
/// (2010–2023) is 12.95 (2016).
pub const MAX_BIRTH_RATE_PERMILLE: f64 = 15.0;

/// Longest scenario name: it names the output folder.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest `description`.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Longest group name (potential region, metropolitan area) or unit reference.
pub const MAX_LABEL_CHARS: usize = 64;
/// Most potential regions or metropolitan areas, and most units in one.
pub const MAX_GROUPS: usize = 100;
pub const MAX_GROUP_UNITS: usize = 400;
/// Longest `extends` chain.
pub const MAX_EXTENDS_DEPTH: usize = 32;

/// A scenario name usable as a folder name anywhere: letters, digits, `-`, `_` and `.`, not
/// starting with `.`, at most [`MAX_NAME_CHARS`].
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The name a scenario without `name` gets from its file name: the stem with every character
/// a name may not hold replaced by `-`, shortened to [`MAX_NAME_CHARS`].
pub fn name_from_file_stem(stem: &str) -> String {
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    while name.starts_with('.') {
        name.remove(0);
    }
    if name.is_empty() {
        "scenario".to_string()
    } else {
        name
    }
}

/// A value shown in an error message, cut to a readable length.
fn shorten(text: &str) -> String {
    if text.chars().count() <= 80 {
        text.to_string()
    } else {
        text.chars().take(77).collect::<String>() + "..."
    }
}

/// Largest household count accepted: an 18-byte household plus working memory must fit in RAM.
pub const MAX_HOUSEHOLDS: u64 = 500_000_000;

/// A scenario file chain as read from disk, kept so errors can point at the file and line that
/// set a key.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub scenario: Scenario,
    /// Files from the one named on the command line to the root of the `extends` chain.
    pub chain: Vec<SourceFile>,
    /// Keys set on the command line (`--set KEY=VALUE`), applied over the whole chain.
    pub sets: Vec<Setting>,
}

/// One `--set KEY=VALUE`: a dotted key and the TOML value it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: String,
    pub value: toml::Value,
    /// As given, for messages and the manifest.
    pub text: String,
}

impl Setting {
    /// Reads `KEY=VALUE`: a dotted key of letters, digits, `_` and `-` (a place or year name may
    /// be quoted), and a TOML value (`0.5`, `true`, `{ 2024 = 1.0, 2027 = 2.0 }`, `"open"`); a
    /// value that is not TOML is taken as a string (`relaxed`).
    pub fn parse(text: &str) -> Result<Setting, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            location: "--set".to_string(),
            key: text.to_string(),
            message,
        };
        let Some((key, value)) = text.split_once('=') else {
            return Err(invalid(
                "no `=`; allowed: KEY=VALUE, e.g. settlement.willingness.procedure_ease=0.5"
                    .to_string(),
            ));
        };
        let key = key.trim();
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.len() <= 64
                && p.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-'))
        };
        if key.split('.').any(|p| !valid_part(p)) || key.len() > 200 {
            return Err(invalid(format!(
                "`{key}` is not a dotted key; allowed: names of letters, digits, `_` and `-` joined by `.` (docs/scenarios.md lists every key)"
            )));
        }
        let value_text = value.trim();
        if value_text.len() > 4096 {
            return Err(invalid(
                "the value is longer than 4096 characters".to_string(),
            ));
        }
        let value = match toml::from_str::<toml::Table>(&format!("v = {value_text}")) {
            Ok(mut t) => t.remove("v").expect("parsed as v"),
            Err(_) => toml::Value::String(value_text.to_string()),
        };
        Ok(Setting {
            key: key.to_string(),
            value,
            text: format!("{key}={value_text}"),
        })
    }
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    pub table: toml::Table,
}

impl LoadedScenario {
    /// Where a dotted key was last set: `file:line`, or `file` when the line cannot be found, or
    /// `(default)` when no file sets it.
    pub fn locate(&self, key: &str) -> String {
        let parts: Vec<&str> = key.split('.').collect();
        if let Some(s) = self.sets.iter().rev().find(|s| {
            let mut t = toml::Table::new();
            set_dotted(&mut t, &s.key, s.value.clone());
            lookup(&t, &parts).is_some()
        }) {
            return format!("--set {}", s.text);
        }
        for file in &self.chain {
            if lookup(&file.table, &parts).is_some() {
                let leaf = parts.last().copied().unwrap_or(key);
                let line = find_key_line(&file.text, &parts, leaf);
                return match line {
                    Some(line) => format!("{}:{}", file.path.display(), line),
                    None => file.path.display().to_string(),
                };
            }
        }
        match self.chain.first() {
            Some(file) => format!("{} (default value)", file.path.display()),
            None => "(default value)".to_string(),
        }
    }
}

/// Sets `value` at a dotted `key` of `table`, creating (or replacing by) tables on the way. A
/// table value replaces a year table whole and merges into any other table, as `extends` does.
fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) {
    let parts: Vec<&str> = key.split('.').collect();
    let mut current = table;
    for part in &parts[..parts.len() - 1] {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = entry.as_table_mut().expect("made a table above");
    }
    let leaf = parts[parts.len() - 1].to_string();
    match (current.get_mut(&leaf), value) {
        (Some(toml::Value::Table(existing)), toml::Value::Table(new)) if !is_year_table(&new) => {
            merge_into(existing, &new)
        }
        (_, value) => {
            current.insert(leaf, value);
        }
    }
}

fn lookup<'a>(table: &'a toml::Table, parts: &[&str]) -> Option<&'a toml::Value> {
    let (first, rest) = parts.split_first()?;
    let value = table.get(*first)?;
    if rest.is_empty() {
        return Some(value);
    }
    match value {
        toml::Value::Table(t) => lookup(t, rest),
        _ => None,
    }
}

/// Line (1-based) of `leaf = ...` inside the `[section]` of the key, or anywhere when the key is
/// written inline or dotted.
fn find_key_line(text: &str, parts: &[&str], leaf: &str) -> Option<usize> {
    let section = parts[..parts.len().saturating_sub(1)].join(".");
    let mut current_section = String::new();
    let mut fallback = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') && !line.starts_with("[[") {
            current_section = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            continue;
        }
        let Some((lhs, _)) = line.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().trim_matches('"');
        let full = if current_section.is_empty() {
            lhs.to_string()
        } else {
            format!("{current_section}.{lhs}")
        };
        if full == parts.join(".") {
            return Some(index + 1);
        }
        if current_section == section && lhs == leaf {
            return Some(index + 1);
        }
        if fallback.is_none() && (lhs == leaf || lhs.ends_with(&format!(".{leaf}"))) {
            fallback = Some(index + 1);
        }
    }
    fallback
}

/// `path` made absolute with `.` and `..` removed by name (it may not exist, so not canonicalized).
fn resolved_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The name of the `.toml` file in `path`'s folder whose name is closest to `path`'s (edit
/// distance at most a third of the name, at least 2), for a mistyped `extends`.
fn closest_file(path: &Path) -> Option<String> {
    let wanted = path.file_name()?.to_string_lossy().to_string();
    let folder = path.parent()?;
    let limit = (wanted.chars().count() / 3).max(2);
    std::fs::read_dir(folder)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .map(|name| (edit_distance(&wanted, &name), name))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, name)| name)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Reads a scenario file, applies its `extends` chain and checks every value.
pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    load_with(path, &[])
}

/// [`load`] with keys set on the command line over the whole chain (`--set`); a setting's error
/// names it rather than a file.
pub fn load_with(path: &Path, sets: &[Setting]) -> Result<LoadedScenario, ScenarioError> {
    let mut chain = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut next = Some(path.to_path_buf());
    // A file named by `extends` that cannot be read is reported at the line naming it, with the
    // path it resolves to and the closest file name there.
    let named_by = |chain: &[SourceFile], error: ScenarioError| match (error, chain.last()) {
        (ScenarioError::Read { path, reason }, Some(parent)) => {
            let named = parent
                .table
                .get("extends")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let resolved = resolved_path(Path::new(&path));
            ScenarioError::Read {
                path: format!(
                    "{}:{}",
                    parent.path.display(),
                    find_key_line(&parent.text, &["extends"], "extends").unwrap_or(1)
                ),
                reason: format!(
                    "`extends = {named:?}` resolves to {}: {reason}{}",
                    resolved.display(),
                    closest_file(&resolved)
                        .map(|name| format!("; the closest file there is `{name}`"))
                        .unwrap_or_default()
                ),
            }
        }
        (error, _) => error,
    };
    while let Some(current) = next.take() {
        let canonical = current.canonicalize().map_err(|e| {
            named_by(
                &chain,
                ScenarioError::Read {
                    path: current.display().to_string(),
                    reason: e.to_string(),
                },
            )
        })?;
        if seen.contains(&canonical) {
            let mut names: Vec<String> = chain
                .iter()
                .map(|f: &SourceFile| f.path.display().to_string())
                .collect();
            names.push(current.display().to_string());
            return Err(ScenarioError::Cycle {
                path: current.display().to_string(),
                chain: names.join(" → "),
            });
        }
        seen.push(canonical);
        if chain.len() >= MAX_EXTENDS_DEPTH {
            return Err(ScenarioError::Read {
                path: current.display().to_string(),
                reason: format!(
                    "the `extends` chain is longer than {MAX_EXTENDS_DEPTH} files; allowed: at most {MAX_EXTENDS_DEPTH}"
                ),
            });
        }
        let file = read_source(&current).map_err(|e| named_by(&chain, e))?;
        if let Some(parent) = &file.extends {
            let base = current.parent().unwrap_or(Path::new("."));
            next = Some(base.join(parent));
        }
        chain.push(file.source);
    }

    // Merge from the root of the chain to the named file, key by key.
    let mut merged = defaults_table();
    for file in chain.iter().rev() {
        merge_into(&mut merged, &file.table);
    }
    // Name and description belong to the file named on the command line.
    let top = &chain[0];
    merged.remove("extends");
    merged.remove("name");
    merged.remove("description");
    if !sets.is_empty() {
        let mut set = merged.clone();
        for s in sets {
            if matches!(s.key.as_str(), "extends" | "name" | "description") {
                return Err(ScenarioError::Invalid {
                    location: "--set".to_string(),
                    key: s.text.clone(),
                    message: format!(
                        "`{}` belongs to the scenario file; allowed: any key of a section (docs/scenarios.md)",
                        s.key
                    ),
                });
            }
            set_dotted(&mut set, &s.key, s.value.clone());
        }
        if let Err(e) = set.clone().try_into::<Scenario>() {
            return Err(ScenarioError::Invalid {
                location: "--set".to_string(),
                key: sets
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                message: format!("{}; keys and types: docs/scenarios.md", e.message().trim()),
            });
        }
        merged = set;
    }
    let mut scenario: Scenario = merged.try_into().map_err(|e: toml::de::Error| {
        // Each file parsed on its own already, so this is a conflict between files.
        ScenarioError::Parse {
            path: top.path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("after applying `extends`: {}", e.message()),
        }
    })?;
    let own: Scenario = toml::from_str(&top.text).expect("checked in read_source");
    scenario.name = if own.name.is_empty() {
        top.path
            .file_stem()
            .map(|s| name_from_file_stem(&s.to_string_lossy()))
            .unwrap_or_else(|| "scenario".to_string())
    } else {
        own.name
    };
    scenario.description = own.description;
    scenario.extends = None;
    let loaded = LoadedScenario {
        scenario,
        chain,
        sets: sets.to_vec(),
    };
    validate(&loaded)?;
    Ok(loaded)
}

struct ReadSource {
    source: SourceFile,
    extends: Option<String>,
}

/// Largest scenario file read: far above any real scenario (the library's largest is ~5 KiB),
/// far below what could hurt. Enforced on the bytes read, whatever the file system reports.
pub const MAX_SCENARIO_BYTES: u64 = 1024 * 1024;

fn read_source(path: &Path) -> Result<ReadSource, ScenarioError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let read_error = |reason: String| ScenarioError::Read {
        path: shown.clone(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|e| read_error(e.to_string()))?;
    // Devices, pipes and sockets could block or never end; folders are a common slip.
    if !metadata.is_file() {
        let kind = if metadata.is_dir() {
            "a folder"
        } else {
            "not a regular file (a device, pipe or socket)"
        };
        return Err(read_error(format!(
            "is {kind}; allowed: a TOML file of at most {} KiB",
            MAX_SCENARIO_BYTES / 1024
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(e.to_string()))?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(read_error(format!(
            "file is larger than {} KiB, the limit for scenario files",
            MAX_SCENARIO_BYTES / 1024
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let (line, column) = line_column_bytes(bytes, offset);
        read_error(format!(
            "line {line}, column {column}: not valid UTF-8; allowed: TOML text in UTF-8"
        ))
    })?;
    if text.contains('\0') {
        return Err(read_error(
            "contains a NUL byte; allowed: TOML text in UTF-8".to_string(),
        ));
    }
    // Parsing the file on its own, against the full schema, gives precise line numbers for
    // unknown keys and wrong types; every key has a default, so partial files parse.
    let typed: Scenario = toml::from_str(&text).map_err(|e| parse_error(&shown, &text, &e))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| parse_error(&shown, &text, &e))?;
    Ok(ReadSource {
        source: SourceFile {
            path: path.to_path_buf(),
            text,
            table,
        },
        extends: typed.extends,
    })
}

fn parse_error(path: &str, text: &str, error: &toml::de::Error) -> ScenarioError {
    let (line, column) = match error.span() {
        Some(span) => line_column(text, span.start),
        None => (0, 0),
    };
    let mut message = error
        .message()
        .trim()
        .replace('\n', " ")
        .replace(
            "u64 value was too large",
            "the number is too large; allowed: 0 ..= 9223372036854775807",
        )
        .replace("expected u64", "expected a whole number ≥ 0")
        .replace("expected u32", "expected a whole number ≥ 0")
        .replace("expected i32", "expected a whole number (a year)")
        .replace("expected f64", "expected a number")
        .replace(
            "recursion limit",
            "tables or arrays nested too deeply; allowed: the nesting of docs/scenarios.md (a few levels)",
        );
    if let Some(key) = key_at_line(text, line) {
        message = format!("`{key}`: {message}");
    }
    ScenarioError::Parse {
        path: path.to_string(),
        line,
        column,
        message,
    }
}

/// The dotted key written on a line (`[section]` + `key = ...`), for error messages.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?.trim();
    let (lhs, _) = here.split_once('=')?;
    let key = lhs.trim().trim_matches('"');
    let section = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match section {
        Some(section) if !section.is_empty() => format!("{section}.{key}"),
        _ => key.to_string(),
    })
}

fn line_column_bytes(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.len()
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    (line, column)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

/// The code defaults as a TOML table: the root every scenario merges onto. Merging onto the
/// full defaults (rather than letting serde fill gaps) keeps per-section defaults: a file that
/// writes one key of `[settlement.points]` keeps the points regime's other defaults instead of
/// the generic ones of `RegimeRules`.
fn defaults_table() -> toml::Table {
    toml::from_str(&Scenario::default().to_toml()).expect("the defaults serialize to TOML")
}

/// Child values replace parent values; tables merge recursively (so a file may override one key
/// of a section). Year tables are replaced whole: a planner restating a path means that path.
fn merge_into(base: &mut toml::Table, overlay: &toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(new))
                if !is_year_table(new) =>
            {
                merge_into(existing, new)
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

fn is_year_table(table: &toml::Table) -> bool {
    !table.is_empty()
        && table.keys().all(|k| k.parse::<i32>().is_ok())
        && table
            .values()
            .all(|v| matches!(v, toml::Value::Integer(_) | toml::Value::Float(_)))
}

/// Range checks on the merged scenario. Each failure names the file and line that set the key.
fn validate(loaded: &LoadedScenario) -> Result<(), ScenarioError> {
    run_checks(loaded, None)
}

/// Range checks of a scenario built in code (goal seeking changes keys of a loaded one).
pub fn check(scenario: &Scenario) -> Result<(), ScenarioError> {
    let loaded = LoadedScenario {
        scenario: scenario.clone(),
        chain: Vec::new(),
        sets: Vec::new(),
    };
    run_checks(&loaded, None)
}

/// The allowed range of every numeric key the range checks cover (a year or place table's key
/// once, for all its values), as `docs/scenarios.md` states them.
pub fn allowed_ranges(scenario: &Scenario) -> BTreeMap<String, (f64, f64)> {
    let loaded = LoadedScenario {
        scenario: scenario.clone(),
        chain: Vec::new(),
        sets: Vec::new(),
    };
    let mut ranges = BTreeMap::new();
    let _ = run_checks(&loaded, Some(&mut ranges));
    ranges
}

fn run_checks(
    loaded: &LoadedScenario,
    ranges: Option<&mut BTreeMap<String, (f64, f64)>>,
) -> Result<(), ScenarioError> {
    let s = &loaded.scenario;
    let mut checks = Checks {
        loaded,
        first: None,
        ranges,
    };
    checks.text_labels(s);
    let r = &s.run;
    checks.int("initial.year", f64::from(s.initial.year), 2020.0, 2029.0);
    checks.int("run.first_year", r.first_year as f64, 2021.0, 2030.0);
    // The initial state is the end of one stated year: starting elsewhere would relabel it.
    let start_year = i64::from(s.initial.year) + 1;
    if i64::from(r.first_year) != start_year {
        checks.fail_with(
            "run.first_year",
            r.first_year.to_string(),
            format!(
                "{start_year} (the year after `initial.year` = {}); to start from another year, state that year's initial state: `initial.year`, `initial.population`, `initial.urbanization_rate_pct`, `initial.hukou_urbanization_rate_pct` (as scenarios/backcast-2020.toml does)",
                s.initial.year
            ),
        );
    }
    // Households do not form new households, so births hold their target rate only while
    // the base year's young heads are 20–40: within 1.3% of target in every year of 12 at
    // both the default rate and 15 per mille (docs/model.md, "Horizon").
    let horizon_end = r.first_year.saturating_add(MAX_SIMULATED_YEARS - 1);
    if r.last_year < r.first_year || r.last_year > horizon_end {
        checks.fail_with(
            "run.last_year",
            r.last_year.to_string(),
            format!(
                "{} ..= {horizon_end} (run.first_year to {MAX_SIMULATED_YEARS} simulated years, as far as the demography holds)",
                r.first_year
            ),
        );
    }
    checks.int(
        "run.households",
        r.households as f64,
        1000.0,
        MAX_HOUSEHOLDS as f64,
    );

    let i = &s.initial;
    checks.num("initial.population", i.population, 1.0e6, 2.0e9);
    checks.num(
        "initial.urbanization_rate_pct",
        i.urbanization_rate_pct,
        1.0,
        99.0,
    );
    checks.num(
        "initial.hukou_urbanization_rate_pct",
        i.hukou_urbanization_rate_pct,
        1.0,
        99.0,
    );
    if i.hukou_urbanization_rate_pct > i.urbanization_rate_pct {
        checks.fail_with(
            "initial.hukou_urbanization_rate_pct",
            i.hukou_urbanization_rate_pct.to_string(),
            format!(
                "at most initial.urbanization_rate_pct ({})",
                i.urbanization_rate_pct
            ),
        );
    }
    checks.num(
        "initial.rural_origin_share_cross_county",
        i.rural_origin_share_cross_county,
        0.0,
        1.0,
    );
    checks.year_value(
        "initial.rural_origin_share_other_province",
        &i.rural_origin_share_other_province,
        0.0,
        1.0,
    );
    checks.num(
        "initial.floating_share_same_county",
        i.floating_share_same_county,
        0.0,
        1.0,
    );
    checks.num(
        "initial.left_behind_child_share",
        i.left_behind_child_share,
        0.0,
        1.0,
    );
    checks.num(
        "initial.migrant_second_adult_share",
        i.migrant_second_adult_share,
        0.0,
        1.0,
    );
    checks.num(
        "initial.origin_distance_decay",
        i.origin_distance_decay,
        0.0,
        4.0,
    );
    checks.num(
        "initial.own_unit_distance_km",
        i.own_unit_distance_km,
        1.0,
        500.0,
    );

    let st = &s.settlement;
    checks.num(
        "settlement.open_below_urban_district",
        st.open_below_urban_district,
        0.0,
        1.0e8,
    );
    checks.num(
        "settlement.points_from_urban_district",
        st.points_from_urban_district,
        0.0,
        1.0e8,
    );
    if st.points_from_urban_district < st.open_below_urban_district {
        // Name both keys and where each was set: either file may be the one to fix.
        checks.fail_with(
            "settlement.points_from_urban_district",
            st.points_from_urban_district.to_string(),
            format!(
                "at least `settlement.open_below_urban_district` = {} (set at {})",
                st.open_below_urban_district,
                loaded.locate("settlement.open_below_urban_district")
            ),
        );
    }
    for (name, rules) in [
        ("open", &st.open),
        ("relaxed", &st.relaxed),
        ("points", &st.points),
    ] {
        for (key, table) in [
            ("min_residence_years", &rules.min_residence_years),
            ("min_insurance_years", &rules.min_insurance_years),
        ] {
            for years in table.values() {
                checks.whole(&format!("settlement.{name}.{key}"), years, 0.0, 30.0);
            }
        }
        if let Some(quota) = &rules.annual_quota_pct {
            checks.year_value(
                &format!("settlement.{name}.annual_quota_pct"),
                quota,
                0.0,
                100.0,
            );
        }
        if let Some(year) = rules.no_quota_from {
            checks.int(
                &format!("settlement.{name}.no_quota_from"),
                year as f64,
                2000.0,
                2100.0,
            );
        }
    }
    let pf = &st.points_formula;
    checks.num(
        "settlement.points_formula.per_insurance_year",
        pf.per_insurance_year,
        0.0,
        50.0,
    );
    checks.num(
        "settlement.points_formula.per_residence_year",
        pf.per_residence_year,
        0.0,
        50.0,
    );
    for (level, points) in pf.education.iter().enumerate() {
        checks.num(
            &format!("settlement.points_formula.education[{level}]"),
            *points,
            0.0,
            200.0,
        );
    }
    checks.num(
        "settlement.points_formula.age_under_45",
        pf.age_under_45,
        0.0,
        200.0,
    );
    checks.num("settlement.points_formula.cutoff", pf.cutoff, 0.0, 255.0);
    let w = &st.willingness;
    for (key, value) in [
        ("base", w.base),
        ("service_gain", w.service_gain),
        ("with_children", w.with_children),
        ("owns_home", w.owns_home),
        ("land_surrender", w.land_surrender),
        ("in_situ", w.in_situ),
        ("insured", w.insured),
    ] {
        checks.num(&format!("settlement.willingness.{key}"), value, -20.0, 20.0);
    }
    for (level, value) in w.education.iter().enumerate() {
        checks.num(
            &format!("settlement.willingness.education[{level}]"),
            *value,
            -5.0,
            5.0,
        );
    }
    checks.year_value(
        "settlement.willingness.procedure_ease",
        &w.procedure_ease,
        -5.0,
        5.0,
    );

    let sv = &s.services;
    checks.place_value("services.nonhukou_share", &sv.nonhukou_share, 0.0, 1.0);
    checks.num(
        "services.per_residence_year",
        sv.per_residence_year,
        0.0,
        1.0,
    );
    checks.int(
        "services.residence_years_counted",
        sv.residence_years_counted as f64,
        0.0,
        30.0,
    );
    checks.num(
        "services.initial_public_school_share_pct",
        sv.initial_public_school_share_pct,
        0.0,
        100.0,
    );
    checks.place_value(
        "services.school_seat_growth_pct",
        &sv.school_seat_growth_pct,
        -50.0,
        100.0,
    );
    checks.year_value("services.place_response", &sv.place_response, 0.0, 1.0);
    checks.num("services.reunify_rate_pct", sv.reunify_rate_pct, 0.0, 100.0);

    let j = &s.jobs;
    checks.place_value("jobs.growth_pct", &j.growth_pct, -20.0, 20.0);
    checks.place_value("jobs.wage_growth_pct", &j.wage_growth_pct, -20.0, 30.0);
    checks.year_value(
        "jobs.rural_income_growth_pct",
        &j.rural_income_growth_pct,
        -20.0,
        30.0,
    );
    checks.num(
        "jobs.tightness_elasticity",
        j.tightness_elasticity,
        0.0,
        3.0,
    );
    checks.num("jobs.size_elasticity", j.size_elasticity, 0.0, 0.5);
    checks.num(
        "jobs.initial_employment_rate",
        j.initial_employment_rate,
        0.5,
        1.0,
    );
    checks.year_value("jobs.skill_upgrade_pct", &j.skill_upgrade_pct, 0.0, 20.0);

    let h = &s.housing;
    checks.num("housing.size_elasticity", h.size_elasticity, 0.0, 2.0);
    checks.num(
        "housing.pressure_elasticity",
        h.pressure_elasticity,
        0.0,
        5.0,
    );
    checks.place_value(
        "housing.affordable_units_per_year",
        &h.affordable_units_per_year,
        0.0,
        5.0e7,
    );
    checks.year_value("housing.purchase_pct", &h.purchase_pct, 0.0, 100.0);
    checks.num(
        "housing.initial_affordable_units",
        h.initial_affordable_units,
        0.0,
        1.0e8,
    );
    checks.num(
        "housing.affordable_discount",
        h.affordable_discount,
        0.0,
        1.0,
    );

    checks.year_value(
        "social_insurance.coverage_pct",
        &s.social_insurance.coverage_pct,
        0.0,
        100.0,
    );
    checks.num(
        "fiscal.seats_per_settled_child",
        s.fiscal.seats_per_settled_child,
        0.0,
        10.0,
    );
    checks.num(
        "fiscal.units_per_settled_household",
        s.fiscal.units_per_settled_household,
        0.0,
        10.0,
    );
    checks.num(
        "fiscal.land_m2_per_settled",
        s.fiscal.land_m2_per_settled,
        0.0,
        1000.0,
    );
    let reward = &s.fiscal.reward;
    checks.year_value("fiscal.reward.fund_yuan", &reward.fund_yuan, 0.0, 1.0e13);
    for (key, value, hi) in [
        ("cross_province_weight", reward.cross_province_weight, 10.0),
        ("same_unit_weight", reward.same_unit_weight, 10.0),
        ("earlier_years_weight", reward.earlier_years_weight, 1.0),
        ("fiscally_weak_weight", reward.fiscally_weak_weight, 10.0),
    ] {
        checks.num(&format!("fiscal.reward.{key}"), value, 0.0, hi);
    }
    let cost = &s.fiscal.cost;
    for (key, value) in [
        ("education_per_pupil", cost.education_per_pupil),
        ("health_per_person", cost.health_per_person),
        (
            "social_insurance_per_person",
            cost.social_insurance_per_person,
        ),
        ("housing_per_person", cost.housing_per_person),
        ("infrastructure_per_person", cost.infrastructure_per_person),
    ] {
        checks.num(&format!("fiscal.cost.{key}"), value, 0.0, 1.0e6);
    }

    let d = &s.demography;
    checks.year_value(
        "demography.birth_rate_permille",
        &d.birth_rate_permille,
        0.0,
        MAX_BIRTH_RATE_PERMILLE,
    );
    checks.year_value(
        "demography.death_rate_permille",
        &d.death_rate_permille,
        0.0,
        50.0,
    );
    checks.num(
        "demography.elderly_mortality_ratio",
        d.elderly_mortality_ratio,
        1.0,
        200.0,
    );
    checks.num("demography.ageing_pct", d.ageing_pct, 0.0, 20.0);
    checks.num(
        "demography.urban_birth_rate_ratio",
        d.urban_birth_rate_ratio,
        0.5,
        2.0,
    );
    checks.year_value("in_place.rate_pct", &s.in_place.rate_pct, 0.0, 20.0);

    for (unit, quota) in &st.quota_overrides {
        checks.year_value(
            &format!("settlement.quota_overrides.{unit}"),
            quota,
            0.0,
            100.0,
        );
    }
    checks.year_value(
        "jobs.nonhukou_job_finding",
        &j.nonhukou_job_finding,
        0.1,
        1.0,
    );
    checks.year_value("housing.affordable_access", &h.affordable_access, 0.0, 1.0);
    for (regime, weight) in [
        ("open", h.regime_weights.open),
        ("relaxed", h.regime_weights.relaxed),
        ("points", h.regime_weights.points),
    ] {
        checks.num(
            &format!("housing.regime_weights.{regime}"),
            weight,
            0.0,
            100.0,
        );
    }
    let pr = &s.potential_regions;
    checks.year_value(
        "potential_regions.job_boost_pct",
        &pr.job_boost_pct,
        -10.0,
        20.0,
    );
    checks.year_value(
        "potential_regions.county_town_pct",
        &pr.county_town_pct,
        0.0,
        10.0,
    );
    checks.num(
        "potential_regions.nearby_preference",
        pr.nearby_preference,
        -10.0,
        10.0,
    );
    let ma = &s.metro_areas;
    checks.year_value(
        "metro_areas.job_relocation_pct",
        &ma.job_relocation_pct,
        0.0,
        20.0,
    );
    checks.year_value("metro_areas.commute_share", &ma.commute_share, 0.0, 1.0);
    checks.num("metro_areas.commute_cost", ma.commute_cost, 0.0, 1.0);
    let rn = &s.renewal;
    checks.num(
        "renewal.min_urban_district",
        rn.min_urban_district,
        0.0,
        1.0e8,
    );
    checks.year_value(
        "renewal.cheap_housing_removed_pct",
        &rn.cheap_housing_removed_pct,
        0.0,
        20.0,
    );
    checks.num("renewal.amenity_per_year", rn.amenity_per_year, -2.0, 2.0);

    let b = &s.behaviour;
    for (key, value, lo, hi) in [
        ("beta_wage", b.beta_wage, 0.0, 20.0),
        ("beta_housing", b.beta_housing, 0.0, 20.0),
        ("beta_services", b.beta_services, 0.0, 20.0),
        ("beta_distance", b.beta_distance, 0.0, 20.0),
        ("beta_network", b.beta_network, 0.0, 20.0),
        ("beta_own_unit", b.beta_own_unit, -20.0, 20.0),
        ("beta_same_province", b.beta_same_province, -20.0, 20.0),
        ("stay_bonus", b.stay_bonus, 0.0, 20.0),
        ("insured_stay", b.insured_stay, -20.0, 20.0),
        ("tenant_stay", b.tenant_stay, -20.0, 20.0),
        ("owner_stay", b.owner_stay, -20.0, 20.0),
        ("reconsider_rural_pct", b.reconsider_rural_pct, 0.0, 100.0),
        ("reconsider_urban_pct", b.reconsider_urban_pct, 0.0, 100.0),
        (
            "inertia_half_life_years",
            b.inertia_half_life_years,
            0.1,
            100.0,
        ),
        (
            "left_behind_adult_follow_pct",
            b.left_behind_adult_follow_pct,
            0.0,
            100.0,
        ),
    ] {
        checks.num(&format!("behaviour.{key}"), value, lo, hi);
    }
    for (province, shift) in &b.province_destination_shift {
        checks.num(
            &format!("behaviour.province_destination_shift.{province}"),
            *shift,
            -10.0,
            10.0,
        );
    }
    for (province, rate) in &b.province_urban_outflow_pct {
        checks.num(
            &format!("behaviour.province_urban_outflow_pct.{province}"),
            *rate,
            0.0,
            10.0,
        );
    }
    for (unit, shift) in &b.unit_destination_shift {
        checks.num(
            &format!("behaviour.unit_destination_shift.{unit}"),
            *shift,
            -10.0,
            10.0,
        );
    }
    checks.year_value(
        "behaviour.rural_urban_move_rate_pct",
        &b.rural_urban_move_rate_pct,
        0.0,
        50.0,
    );
    for rate in b.rural_urban_move_rate_pct.values() {
        if rate > 0.0 && rate >= b.reconsider_rural_pct {
            checks.fail_with(
            "behaviour.rural_urban_move_rate_pct",
            rate.to_string(),
            format!(
                "less than behaviour.reconsider_rural_pct ({}): only households weighing a move can move",
                b.reconsider_rural_pct
            ),
        );
        }
    }
    for (level, premium) in b.education_wage_premium.iter().enumerate() {
        checks.num(
            &format!("behaviour.education_wage_premium[{level}]"),
            *premium,
            0.1,
            10.0,
        );
    }
    match checks.first {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

struct Checks<'a> {
    loaded: &'a LoadedScenario,
    first: Option<ScenarioError>,
    /// Where to record every checked key's allowed range (for goal seeking).
    ranges: Option<&'a mut BTreeMap<String, (f64, f64)>>,
}

impl Checks<'_> {
    fn fail_with(&mut self, key: &str, value: String, allowed: String) {
        if self.first.is_none() {
            let base_key = key.split('[').next().unwrap_or(key);
            self.first = Some(ScenarioError::Range {
                location: self.loaded.locate(base_key),
                key: key.to_string(),
                value,
                allowed,
            });
        }
    }

    fn num(&mut self, key: &str, value: f64, lo: f64, hi: f64) {
        if let Some(ranges) = self.ranges.as_deref_mut() {
            ranges.insert(key.to_string(), (lo, hi));
        }
        if !(value.is_finite() && value >= lo && value <= hi) {
            self.fail_with(key, value.to_string(), format!("{lo} ..= {hi}"));
        }
    }

    /// A whole number in lo..=hi (years written in a year table).
    fn whole(&mut self, key: &str, value: f64, lo: f64, hi: f64) {
        if !(value >= lo && value <= hi && value.fract() == 0.0) {
            self.fail_with(
                key,
                format!("{value}"),
                format!("a whole number {lo:.0} ..= {hi:.0}"),
            );
        }
    }

    fn int(&mut self, key: &str, value: f64, lo: f64, hi: f64) {
        if !(value >= lo && value <= hi) {
            self.fail_with(key, format!("{value:.0}"), format!("{lo:.0} ..= {hi:.0}"));
        }
    }

    /// Names that become paths are restricted; every text label is bounded, so no input can
    /// make a path escape its folder or a chart spend long on a label.
    fn text_labels(&mut self, s: &Scenario) {
        if !is_valid_name(&s.name) {
            self.fail_with(
                "name",
                format!("{:?}", shorten(&s.name)),
                format!(
                    "1–{MAX_NAME_CHARS} characters from letters, digits, `-`, `_` and `.`, not starting with `.` (it names the output folder)"
                ),
            );
        }
        if s.description.chars().count() > MAX_DESCRIPTION_CHARS {
            self.fail_with(
                "description",
                format!("a text of {} characters", s.description.chars().count()),
                format!("at most {MAX_DESCRIPTION_CHARS} characters"),
            );
        }
        let label_limit = format!("a label of 1–{MAX_LABEL_CHARS} characters");
        let bad_label = |l: &str| l.trim().is_empty() || l.chars().count() > MAX_LABEL_CHARS;
        for (section, members) in [
            ("potential_regions.members", &s.potential_regions.members),
            ("metro_areas.members", &s.metro_areas.members),
        ] {
            if members.len() > MAX_GROUPS {
                self.fail_with(
                    section,
                    format!("{} groups", members.len()),
                    format!("at most {MAX_GROUPS} groups"),
                );
            }
            for (group, units) in members {
                if bad_label(group) {
                    self.fail_with(
                        section,
                        format!("{:?}", shorten(group)),
                        label_limit.clone(),
                    );
                }
                if units.len() > MAX_GROUP_UNITS {
                    self.fail_with(
                        &format!("{section}.{}", shorten(group)),
                        format!("{} units", units.len()),
                        format!("at most {MAX_GROUP_UNITS} units"),
                    );
                }
                for unit in units {
                    if bad_label(unit) {
                        self.fail_with(
                            &format!("{section}.{}", shorten(group)),
                            format!("{:?}", shorten(unit)),
                            format!("a unit name or code of 1–{MAX_LABEL_CHARS} characters"),
                        );
                    }
                }
            }
        }
        for (section, keys) in [
            (
                "settlement.regime_overrides",
                s.settlement.regime_overrides.keys().collect::<Vec<_>>(),
            ),
            (
                "settlement.quota_overrides",
                s.settlement.quota_overrides.keys().collect(),
            ),
        ] {
            for unit in keys {
                if bad_label(unit) {
                    self.fail_with(
                        section,
                        format!("{:?}", shorten(unit)),
                        format!("a unit name or code of 1–{MAX_LABEL_CHARS} characters"),
                    );
                }
            }
        }
    }

    fn year_value(&mut self, key: &str, value: &YearValue, lo: f64, hi: f64) {
        for v in value.values() {
            self.num(key, v, lo, hi);
        }
    }

    fn place_value(&mut self, key: &str, value: &PlaceValue, lo: f64, hi: f64) {
        for v in value.values() {
            self.num(key, v, lo, hi);
        }
    }
}

impl Scenario {
    /// The scenario as resolved TOML (what `validate` prints and the manifest records).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a scenario always serializes")
    }

    /// SHA-256 of the resolved TOML: two runs with the same hash simulate the same inputs.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.to_toml().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Years simulated, in order.
    pub fn years(&self) -> std::ops::RangeInclusive<i32> {
        self.run.first_year..=self.run.last_year
    }

    pub fn base_year(&self) -> i32 {
        self.run.first_year - 1
    }

    pub fn rules(&self, regime: Regime) -> &RegimeRules {
        match regime {
            Regime::Open => &self.settlement.open,
            Regime::Relaxed => &self.settlement.relaxed,
            Regime::Points => &self.settlement.points,
        }
    }

    /// Settlement quota in `year` as a fraction of non-hukou residents; `None` = unlimited.
    pub fn quota_fraction(&self, regime: Regime, year: i32) -> Option<f64> {
        let rules = self.rules(regime);
        if rules.no_quota_from.is_some_and(|from| year >= from) {
            return None;
        }
        rules.annual_quota_pct.as_ref().map(|q| q.at(year) / 100.0)
    }
}

/// Parses a scenario from text (no `extends`), for tests and embedded use.
pub fn from_str(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    // Parsed alone first for precise errors, then merged onto the defaults like a file.
    let own: Scenario = toml::from_str(text).map_err(|e| parse_error(name, text, &e))?;
    let table: toml::Table = toml::from_str(text).map_err(|e| parse_error(name, text, &e))?;
    let mut merged = defaults_table();
    merge_into(&mut merged, &table);
    let mut scenario: Scenario =
        merged
            .try_into()
            .map_err(|e: toml::de::Error| ScenarioError::Parse {
                path: name.to_string(),
                line: 0,
                column: 0,
                message: e.message().to_string(),
            })?;
    scenario.name = if own.name.is_empty() {
        name.to_string()
    } else {
        own.name
    };
    scenario.description = own.description;
    let loaded = LoadedScenario {
        scenario,
        chain: vec![SourceFile {
            path: PathBuf::from(name),
            text: text.to_string(),
            table,
        }],
        sets: Vec::new(),
    };
    validate(&loaded)?;
    Ok(loaded.scenario)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let s = from_str("t", "").unwrap();
        assert_eq!(s.run.first_year, 2024);
        assert_eq!(s.quota_fraction(Regime::Open, 2025), None);
        assert_eq!(s.quota_fraction(Regime::Points, 2025), Some(0.005));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = from_str("t.toml", "[run]\nhouseholds = 5000\nsede = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("t.toml:3:"), "{text}");
        assert!(text.contains("sede"), "{text}");
        assert!(text.contains("seed"), "lists allowed keys: {text}");
    }

    #[test]
    fn out_of_range_names_key_line_and_allowed_values() {
        let err = from_str("t.toml", "[services]\nreunify_rate_pct = 140\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("t.toml:2"), "{text}");
        assert!(text.contains("services.reunify_rate_pct"), "{text}");
        assert!(text.contains("0 ..= 100"), "{text}");
    }

    #[test]
    fn quota_can_end_in_a_given_year() {
        let s = from_str(
            "t",
            "[settlement.points]\nannual_quota_pct = { 2024 = 0.5, 2026 = 1.5 }\nno_quota_from = 2027\n",
        )
        .unwrap();
        assert_eq!(s.quota_fraction(Regime::Points, 2025), Some(0.01));
        assert_eq!(s.quota_fraction(Regime::Points, 2027), None);
    }

    #[test]
    fn a_partial_section_keeps_that_sections_defaults() {
        let s = from_str("t", "[settlement.points]\nno_quota_from = 2026\n").unwrap();
        assert_eq!(
            s.settlement.points.min_insurance_years,
            YearValue::Constant(5.0)
        );
        assert_eq!(s.quota_fraction(Regime::Points, 2025), Some(0.005));
        assert_eq!(s.quota_fraction(Regime::Points, 2026), None);
        let s = from_str("t", "[potential_regions.members]\n\"North Anhui\" = []\n").unwrap();
        assert_eq!(s.potential_regions.members.len(), 7, "other regions stay");
        assert!(s.potential_regions.members["North Anhui"].is_empty());
    }

    #[test]
    fn resolved_toml_round_trips() {
        let s = from_str("t", "[jobs]\ngrowth_pct = { 2024 = 1.0, 2029 = 2.0 }\n").unwrap();
        let back = from_str("t", &s.to_toml()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.hash(), s.hash());
    }
}
