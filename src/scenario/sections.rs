//! The scenario schema: every section's keys with their documented defaults (`Scenario` and its
//! sections, all `deny_unknown_fields`), regimes and their settings, the memberships of potential
//! regions and metropolitan areas, and the limits on names, labels and sizes.

use super::*;

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
                Regime::deserialize(serde::de::value::StrDeserializer::<E>::new(v)).map(RegimeSetting::Fixed)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RegimeSetting, A::Error> {
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
        RegimeWeights { open: 1.0, relaxed: 1.0, points: 1.0 }
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
            let codes =
                r.get(codes_at).unwrap_or("").split(';').filter(|c| !c.is_empty()).map(str::to_string).collect();
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
        Run { first_year: 2024, last_year: 2029, households: 5_000_000, seed: 20_240_731 }
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
        SocialInsurance { coverage_pct: YearValue::Constant(30.0), portable: true }
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
        InPlace { rate_pct: YearValue::Constant(0.7) }
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
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The name a scenario without `name` gets from its file name: the stem with every character
/// a name may not hold replaced by `-`, shortened to [`MAX_NAME_CHARS`].
pub fn name_from_file_stem(stem: &str) -> String {
    let mut name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(MAX_NAME_CHARS)
        .collect();
    while name.starts_with('.') {
        name.remove(0);
    }
    if name.is_empty() { "scenario".to_string() } else { name }
}

/// A value shown in an error message, cut to a readable length.
pub(super) fn shorten(text: &str) -> String {
    if text.chars().count() <= 80 { text.to_string() } else { text.chars().take(77).collect::<String>() + "..." }
}

/// Largest household count accepted: an 18-byte household plus working memory must fit in RAM.
pub const MAX_HOUSEHOLDS: u64 = 500_000_000;
