//! Year tables: scenario values that change over time (`0.9` or `{ 2024 = 0.9, 2027 = 0.95 }`).
//!
//! Interpolation is linear between listed years and flat outside them, so a planner can state a
//! ramp with two points and a constant with a plain number.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// A number that may change by year.
#[derive(Debug, Clone, PartialEq)]
pub enum YearValue {
    Constant(f64),
    /// Points sorted by year (the map keeps them sorted); never empty.
    Table(BTreeMap<i32, f64>),
}

impl YearValue {
    /// The value in `year`: linear between listed years, the nearest listed value outside them.
    pub fn at(&self, year: i32) -> f64 {
        match self {
            YearValue::Constant(v) => *v,
            YearValue::Table(points) => {
                let mut before: Option<(i32, f64)> = None;
                for (&y, &v) in points {
                    if y == year {
                        return v;
                    }
                    if y > year {
                        return match before {
                            None => v,
                            Some((y0, v0)) => {
                                let t = f64::from(year - y0) / f64::from(y - y0);
                                v0 + t * (v - v0)
                            }
                        };
                    }
                    before = Some((y, v));
                }
                before.map(|(_, v)| v).unwrap_or(0.0)
            }
        }
    }

    /// Every number written in the table, for range checks.
    pub fn values(&self) -> Vec<f64> {
        match self {
            YearValue::Constant(v) => vec![*v],
            YearValue::Table(points) => points.values().copied().collect(),
        }
    }

    /// The table with `f` applied to every value written (a shift or a scale of the whole path).
    pub fn map(&self, f: impl Fn(f64) -> f64) -> YearValue {
        match self {
            YearValue::Constant(v) => YearValue::Constant(f(*v)),
            YearValue::Table(points) => YearValue::Table(points.iter().map(|(&y, &v)| (y, f(v))).collect()),
        }
    }

    /// Every year written in the table.
    pub fn years(&self) -> Vec<i32> {
        match self {
            YearValue::Constant(_) => Vec::new(),
            YearValue::Table(points) => points.keys().copied().collect(),
        }
    }
}

/// Zero, as the numbers it replaces default to.
impl Default for YearValue {
    fn default() -> Self {
        YearValue::Constant(0.0)
    }
}

impl From<f64> for YearValue {
    fn from(v: f64) -> Self {
        YearValue::Constant(v)
    }
}

impl Serialize for YearValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            YearValue::Constant(v) => serializer.serialize_f64(*v),
            YearValue::Table(points) => {
                // TOML keys are strings; years are written as bare keys (`2024 = 0.9`).
                let as_strings: BTreeMap<String, f64> = points.iter().map(|(y, v)| (y.to_string(), *v)).collect();
                as_strings.serialize(serializer)
            }
        }
    }
}

struct YearValueVisitor;

const EXPECTED: &str = "a number or a year table like { 2024 = 0.9, 2027 = 0.95 }";

impl<'de> Visitor<'de> for YearValueVisitor {
    type Value = YearValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<YearValue, E> {
        Ok(YearValue::Constant(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<YearValue, E> {
        Ok(YearValue::Constant(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<YearValue, E> {
        Ok(YearValue::Constant(v as f64))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YearValue, A::Error> {
        let mut points = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let year: i32 = key
                .parse()
                .map_err(|_| de::Error::custom(format!("year table key `{key}` is not a year; expected {EXPECTED}")))?;
            if !(1949..=2100).contains(&year) {
                return Err(de::Error::custom(format!("year table key {year} is outside 1949..=2100")));
            }
            let value: NumberOnly = map.next_value()?;
            points.insert(year, value.0);
        }
        if points.is_empty() {
            return Err(de::Error::custom(format!("empty year table; expected {EXPECTED}")));
        }
        Ok(YearValue::Table(points))
    }
}

impl<'de> Deserialize<'de> for YearValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YearValueVisitor)
    }
}

/// A plain number inside a year table (integers accepted).
struct NumberOnly(f64);

impl<'de> Deserialize<'de> for NumberOnly {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = NumberOnly;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumberOnly, E> {
                Ok(NumberOnly(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumberOnly, E> {
                Ok(NumberOnly(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumberOnly, E> {
                Ok(NumberOnly(v as f64))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_linearly_and_holds_flat_outside() {
        let v = YearValue::Table(BTreeMap::from([(2024, 0.9), (2027, 0.96)]));
        assert_eq!(v.at(2020), 0.9);
        assert_eq!(v.at(2024), 0.9);
        assert!((v.at(2025) - 0.92).abs() < 1e-12);
        assert!((v.at(2026) - 0.94).abs() < 1e-12);
        assert_eq!(v.at(2027), 0.96);
        assert_eq!(v.at(2035), 0.96);
        assert_eq!(YearValue::Constant(3.5).at(1999), 3.5);
    }

    #[test]
    fn parses_numbers_and_tables_and_rejects_bad_keys() {
        #[derive(Deserialize)]
        struct T {
            a: YearValue,
            b: YearValue,
            c: YearValue,
        }
        let t: T = toml::from_str("a = 2\nb = 0.5\nc = { 2024 = 1, 2026 = 2.5 }").unwrap();
        assert_eq!(t.a, YearValue::Constant(2.0));
        assert_eq!(t.b, YearValue::Constant(0.5));
        assert_eq!(t.c.at(2025), 1.75);
        let err = toml::from_str::<T>("a = 1\nb = 1\nc = { soon = 1 }").err().unwrap();
        assert!(err.to_string().contains("not a year"), "{err}");
        let err = toml::from_str::<T>("a = 1\nb = 1\nc = \"x\"").err().unwrap();
        assert!(err.to_string().contains("year table"), "{err}");
    }

    #[test]
    fn serializes_back_to_the_same_value() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct T {
            c: YearValue,
        }
        let t = T { c: YearValue::Table(BTreeMap::from([(2024, 1.0), (2026, 2.5)])) };
        let text = toml::to_string(&t).unwrap();
        assert_eq!(toml::from_str::<T>(&text).unwrap(), t);
    }
}

/// A year table that may differ by place: a national value (a number or a year table), or a
/// table with a `default` and overrides for macro-regions (`east`, `central`, `west`,
/// `northeast`), provinces (English name or 2-digit code) and units (name or 6-digit code), each a
/// number or a year table. The most specific place wins: unit, then province, then macro-region.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaceValue {
    National(YearValue),
    ByPlace {
        default: YearValue,
        /// Place name as written → its value.
        places: BTreeMap<String, YearValue>,
    },
}

impl PlaceValue {
    /// The national (default) value.
    pub fn default_value(&self) -> &YearValue {
        match self {
            PlaceValue::National(v) => v,
            PlaceValue::ByPlace { default, .. } => default,
        }
    }

    /// The table with `f` applied to every value written, the default's and every place's.
    pub fn map(&self, f: impl Fn(f64) -> f64 + Copy) -> PlaceValue {
        match self {
            PlaceValue::National(v) => PlaceValue::National(v.map(f)),
            PlaceValue::ByPlace { default, places } => PlaceValue::ByPlace {
                default: default.map(f),
                places: places.iter().map(|(k, v)| (k.clone(), v.map(f))).collect(),
            },
        }
    }

    /// Every value written, for range checks.
    pub fn values(&self) -> Vec<f64> {
        match self {
            PlaceValue::National(v) => v.values(),
            PlaceValue::ByPlace { default, places } => {
                default.values().into_iter().chain(places.values().flat_map(YearValue::values)).collect()
            }
        }
    }
}

impl Default for PlaceValue {
    fn default() -> Self {
        PlaceValue::National(YearValue::default())
    }
}

impl From<f64> for PlaceValue {
    fn from(v: f64) -> Self {
        PlaceValue::National(YearValue::Constant(v))
    }
}

impl From<YearValue> for PlaceValue {
    fn from(v: YearValue) -> Self {
        PlaceValue::National(v)
    }
}

impl Serialize for PlaceValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PlaceValue::National(v) => v.serialize(serializer),
            PlaceValue::ByPlace { default, places } => {
                let mut all: BTreeMap<&str, &YearValue> = BTreeMap::new();
                all.insert("default", default);
                for (place, value) in places {
                    all.insert(place.as_str(), value);
                }
                all.serialize(serializer)
            }
        }
    }
}

struct PlaceValueVisitor;

const PLACE_EXPECTED: &str = "a number, a year table like { 2024 = 0.9, 2027 = 0.95 }, or a place table like { default = 1.0, west = { 2025 = 2.0 }, Henan = 1.5 }";

impl<'de> Visitor<'de> for PlaceValueVisitor {
    type Value = PlaceValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(PLACE_EXPECTED)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<PlaceValue, E> {
        Ok(PlaceValue::National(YearValue::Constant(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PlaceValue, E> {
        Ok(PlaceValue::National(YearValue::Constant(v as f64)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PlaceValue, E> {
        Ok(PlaceValue::National(YearValue::Constant(v as f64)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PlaceValue, A::Error> {
        let mut years = BTreeMap::new();
        let mut places = BTreeMap::new();
        let mut default = None;
        while let Some(key) = map.next_key::<String>()? {
            if let Ok(year) = key.parse::<i32>() {
                if !(1949..=2100).contains(&year) {
                    return Err(de::Error::custom(format!("year table key {year} is outside 1949..=2100")));
                }
                let value: NumberOnly = map.next_value()?;
                years.insert(year, value.0);
            } else if key == "default" {
                default = Some(map.next_value::<YearValue>()?);
            } else {
                let value: YearValue = map.next_value()?;
                places.insert(key, value);
            }
        }
        match (years.is_empty(), default, places.is_empty()) {
            (false, None, true) => Ok(PlaceValue::National(YearValue::Table(years))),
            (true, Some(default), _) => Ok(PlaceValue::ByPlace { default, places }),
            (true, None, false) => Err(de::Error::custom(format!(
                "a place table needs `default` (the value everywhere else); expected {PLACE_EXPECTED}"
            ))),
            (false, _, _) => Err(de::Error::custom(format!(
                "a table mixes years and places; write years inside a place (`west = {{ 2025 = 2.0 }}`); expected {PLACE_EXPECTED}"
            ))),
            (true, None, true) => Err(de::Error::custom(format!("empty table; expected {PLACE_EXPECTED}"))),
        }
    }
}

impl<'de> Deserialize<'de> for PlaceValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PlaceValueVisitor)
    }
}
