//! Geography: the 367 prefecture-level units, their provinces, tiers and great-circle distances.
//!
//! The table is `data/units.csv` (derived from the 2020 census by `tools/derive_data.py`, see
//! `docs/data.md`), embedded in the binary so a run works from any directory.

use serde::Deserialize;
use std::sync::OnceLock;

/// Index of a unit in [`Geography::units`] (also its position in every per-unit array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitId(pub u16);

impl UnitId {
    #[inline]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

const UNITS_CSV: &str = include_str!("../data/units.csv");

/// NBS macro-regions, used for the wage levels of the migrant-worker survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroRegion {
    East,
    Central,
    West,
    Northeast,
}

impl MacroRegion {
    fn of_province(province_code: u32) -> MacroRegion {
        match province_code / 10_000 {
            11 | 12 | 13 | 31 | 32 | 33 | 35 | 37 | 44 | 46 => MacroRegion::East,
            14 | 34 | 36 | 41 | 42 | 43 => MacroRegion::Central,
            21..=23 => MacroRegion::Northeast,
            _ => MacroRegion::West,
        }
    }
}

/// City size classes of the 2014 State Council standard (by urban-district population), the
/// model's city tiers.
pub const TIERS: [&str; 8] = ["super_large", "mega", "large_I", "large_II", "medium", "small_I", "small_II", "none"];

#[derive(Debug, Clone, Deserialize)]
struct UnitRow {
    code: u32,
    name_zh: String,
    name_en: String,
    province_code: u32,
    province_zh: String,
    province_en: String,
    lat: f64,
    lon: f64,
    pop_2020: f64,
    pop_urban_2020: f64,
    urban_growth_2010_2020_pct: Option<f64>,
    pop_chengqu_2020: f64,
    size_class: String,
    household_size: f64,
    share_0_14_pct: f64,
    share_65p_pct: f64,
    elsewhere_same_county: f64,
    elsewhere_other_county_same_prov: f64,
    elsewhere_other_province: f64,
    avg_years_schooling: f64,
    rent_share_pct: f64,
    potential_region: String,
    metro_area: String,
    metro_role: String,
}

#[derive(Debug, Clone)]
pub struct Unit {
    pub code: u32,
    pub name_zh: String,
    pub name_en: String,
    pub province: usize,
    pub lat: f64,
    pub lon: f64,
    pub pop_2020: f64,
    pub pop_urban_2020: f64,
    /// Yearly growth of the urban population 2010→2020 (fraction; local census bulletins), where
    /// the bulletins give a 2010 figure.
    pub urban_growth_2010_2020: Option<f64>,
    /// Urban-district population (城区人口), which sets the settlement regime; 0 when unknown.
    pub pop_urban_district_2020: f64,
    pub tier: usize,
    pub household_size: f64,
    pub share_0_14: f64,
    pub share_65p: f64,
    /// People registered elsewhere: same county, other county of the province, other province.
    pub elsewhere_same_county: f64,
    pub elsewhere_same_province: f64,
    pub elsewhere_other_province: f64,
    pub avg_years_schooling: f64,
    pub rent_share: f64,
    pub macro_region: MacroRegion,
    pub potential_region: Option<String>,
    pub metro_areas: Vec<String>,
    pub metro_core: bool,
}

#[derive(Debug, Clone)]
pub struct Province {
    pub code: u32,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug)]
pub struct Geography {
    pub units: Vec<Unit>,
    pub provinces: Vec<Province>,
    /// Row-major n × n great-circle distances between seats (km).
    distance_km: Vec<f32>,
}

impl Geography {
    /// The embedded census geography, parsed once per process.
    pub fn embedded() -> &'static Geography {
        static GEO: OnceLock<Geography> = OnceLock::new();
        GEO.get_or_init(|| Geography::from_csv(UNITS_CSV).expect("embedded data/units.csv is valid (tested)"))
    }

    pub fn from_csv(text: &str) -> Result<Geography, String> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut units = Vec::new();
        let mut provinces: Vec<Province> = Vec::new();
        for (line, row) in reader.deserialize::<UnitRow>().enumerate() {
            let row = row.map_err(|e| format!("data/units.csv row {}: {e}", line + 2))?;
            let province = match provinces.iter().position(|p| p.code == row.province_code) {
                Some(p) => p,
                None => {
                    provinces.push(Province {
                        code: row.province_code,
                        name_zh: row.province_zh.clone(),
                        name_en: row.province_en.clone(),
                    });
                    provinces.len() - 1
                }
            };
            let tier = TIERS.iter().position(|t| *t == row.size_class).unwrap_or(TIERS.len() - 1);
            units.push(Unit {
                code: row.code,
                name_zh: row.name_zh,
                name_en: row.name_en,
                province,
                lat: row.lat,
                lon: row.lon,
                pop_2020: row.pop_2020,
                pop_urban_2020: row.pop_urban_2020,
                urban_growth_2010_2020: row.urban_growth_2010_2020_pct.map(|g| g / 100.0),
                pop_urban_district_2020: row.pop_chengqu_2020,
                tier,
                household_size: row.household_size,
                share_0_14: row.share_0_14_pct / 100.0,
                share_65p: row.share_65p_pct / 100.0,
                elsewhere_same_county: row.elsewhere_same_county,
                elsewhere_same_province: row.elsewhere_other_county_same_prov,
                elsewhere_other_province: row.elsewhere_other_province,
                avg_years_schooling: row.avg_years_schooling,
                rent_share: row.rent_share_pct / 100.0,
                macro_region: MacroRegion::of_province(row.province_code),
                potential_region: (!row.potential_region.is_empty()).then_some(row.potential_region),
                metro_areas: row.metro_area.split(';').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                metro_core: row.metro_role == "core",
            });
        }
        if units.is_empty() || units.len() > usize::from(u16::MAX) {
            return Err(format!("data/units.csv has {} units", units.len()));
        }
        let n = units.len();
        let mut distance_km = vec![0f32; n * n];
        for a in 0..n {
            for b in 0..n {
                distance_km[a * n + b] = great_circle_km(&units[a], &units[b]) as f32;
            }
        }
        Ok(Geography { units, provinces, distance_km })
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    pub fn unit(&self, id: UnitId) -> &Unit {
        &self.units[id.index()]
    }

    #[inline]
    pub fn distance_km(&self, a: usize, b: usize) -> f64 {
        f64::from(self.distance_km[a * self.units.len() + b])
    }

    /// Finds a unit by administrative code, English or Chinese name (case-insensitive).
    /// English names shared by two units (Suzhou, Taizhou, Fuzhou, Yichun, Yulin) are ambiguous:
    /// the error says so and lists the codes to use.
    pub fn find(&self, key: &str) -> Result<UnitId, String> {
        let key = key.trim();
        if let Ok(code) = key.parse::<u32>() {
            return self
                .units
                .iter()
                .position(|u| u.code == code)
                .map(|i| UnitId(i as u16))
                .ok_or_else(|| format!("no unit has administrative code {code}"));
        }
        let matches: Vec<usize> = self
            .units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.name_en.eq_ignore_ascii_case(key) || u.name_zh == key)
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [one] => Ok(UnitId(*one as u16)),
            [] => Err(format!(
                "no unit is named `{key}`; use an administrative code, English or Chinese name from data/units.csv"
            )),
            many => Err(format!(
                "`{key}` names {} units; use one of the codes {}",
                many.len(),
                many.iter()
                    .map(|&i| format!("{} ({})", self.units[i].code, self.units[i].name_zh))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// How specific a place key is; a more specific place overrides a wider one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PlaceLevel {
    MacroRegion,
    Province,
    UnitList,
    Unit,
}

/// What a place key may be, for error messages.
pub const PLACE_KEYS_ALLOWED: &str = "a macro-region (east, central, west, northeast), a province \
(English or Chinese name, or 2-digit code), a unit (English or Chinese name, or 6-digit code of \
data/units.csv; where a province and a unit share a name, as Jilin does, the name means the province \
and the code the unit) or a comma-separated list of units (\"Shenzhen, Dongguan\")";

impl Geography {
    /// Finds a province by English or Chinese name (case-insensitive; the short forms
    /// "Guangxi", "Inner Mongolia", 河南, 广西 too) or 2-digit code.
    pub fn find_province(&self, key: &str) -> Option<usize> {
        let key = key.trim();
        let exact = self.provinces.iter().position(|p| {
            p.name_en.eq_ignore_ascii_case(key)
                || p.name_zh == key
                || key.parse::<u32>().is_ok_and(|c| c == p.code / 10_000)
        });
        if exact.is_some() || key.chars().count() < 2 {
            return exact;
        }
        // The name without its administrative suffix (省, 市, 自治区; "Autonomous Region").
        let short: Vec<usize> = (0..self.provinces.len())
            .filter(|&i| {
                let p = &self.provinces[i];
                let en = p.name_en.to_ascii_lowercase();
                en.strip_prefix(&key.to_ascii_lowercase()).is_some_and(|rest| rest.starts_with(' '))
                    || p.name_zh.strip_prefix(key).is_some_and(|rest| {
                        ["省", "市", "自治区"].contains(&rest)
                            || (rest.ends_with("自治区") && rest.chars().count() <= 6)
                    })
            })
            .collect();
        match short.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// The units a place key names, and how specific it is: a macro-region, a province, a
    /// comma-separated list of units or one unit. The error names what is allowed.
    pub fn find_place(&self, key: &str) -> Result<(PlaceLevel, Vec<usize>), String> {
        let name = key.trim();
        let region = match name.to_ascii_lowercase().as_str() {
            "east" => Some(MacroRegion::East),
            "central" => Some(MacroRegion::Central),
            "west" => Some(MacroRegion::West),
            "northeast" => Some(MacroRegion::Northeast),
            _ => None,
        };
        if let Some(region) = region {
            let units = (0..self.len()).filter(|&u| self.units[u].macro_region == region).collect();
            return Ok((PlaceLevel::MacroRegion, units));
        }
        if let Some(p) = self.find_province(name) {
            let units = (0..self.len()).filter(|&u| self.units[u].province == p).collect();
            return Ok((PlaceLevel::Province, units));
        }
        if name.contains(',') {
            let mut units = Vec::new();
            for part in name.split(',') {
                let unit =
                    self.find(part).map_err(|m| format!("in the list `{name}`: {m}; allowed: {PLACE_KEYS_ALLOWED}"))?;
                if !units.contains(&unit.index()) {
                    units.push(unit.index());
                }
            }
            return Ok((PlaceLevel::UnitList, units));
        }
        self.find(name)
            .map(|unit| (PlaceLevel::Unit, vec![unit.index()]))
            .map_err(|m| format!("unknown place: {m}; allowed: {PLACE_KEYS_ALLOWED}"))
    }

    /// For keys that differ by place: which entry of `keys` governs each unit (`None` = the
    /// national default), the most specific place winning (unit over list over province over
    /// macro-region; among equals, the later key). An unknown place is an error `(key, message)`.
    pub fn place_entries<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<Vec<Option<usize>>, (String, String)> {
        let mut resolved = Vec::new();
        for (entry, key) in keys.into_iter().enumerate() {
            let (level, units) = self.find_place(key).map_err(|m| (key.to_string(), m))?;
            resolved.push((level, entry, units));
        }
        resolved.sort_by_key(|(level, entry, _)| (*level, *entry));
        let mut governing = vec![None; self.len()];
        for (_, entry, units) in resolved {
            for u in units {
                governing[u] = Some(entry);
            }
        }
        Ok(governing)
    }
}

fn great_circle_km(a: &Unit, b: &Unit) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_matches_census_totals() {
        let geo = Geography::embedded();
        assert_eq!(geo.len(), 367);
        assert_eq!(geo.provinces.len(), 31);
        let pop: f64 = geo.units.iter().map(|u| u.pop_2020).sum();
        assert_eq!(pop, 1_409_778_724.0);
        let urban: f64 = geo.units.iter().map(|u| u.pop_urban_2020).sum();
        assert_eq!(urban, 899_991_162.0);
        let other_province: f64 = geo.units.iter().map(|u| u.elsewhere_other_province).sum();
        assert_eq!(other_province, 124_837_153.0);
        assert!(geo.units.iter().all(|u| u.tier < TIERS.len() - 1));
    }

    #[test]
    fn distances_are_great_circle() {
        let geo = Geography::embedded();
        let beijing = geo.find("Beijing").unwrap().index();
        let shanghai = geo.find("310000").unwrap().index();
        let d = geo.distance_km(beijing, shanghai);
        assert!((1050.0..1100.0).contains(&d), "Beijing–Shanghai {d} km");
        assert_eq!(geo.distance_km(beijing, beijing), 0.0);
    }

    #[test]
    fn ambiguous_and_unknown_names_are_reported() {
        let geo = Geography::embedded();
        assert!(geo.find("Suzhou").unwrap_err().contains("320500"));
        assert!(geo.find("Atlantis").is_err());
        assert_eq!(geo.find("深圳市").unwrap(), geo.find("Shenzhen").unwrap());
    }
}
