//! Deterministic fuzzing of scenario input: the shipped scenarios (`scenarios/*.toml`), mutated
//! with byte flips, deleted, duplicated and moved lines, swapped value types, huge and
//! non-finite numbers, long strings, deep nesting, odd encodings, broken `extends` and extra
//! override sections, must never make the program panic.
//!
//! For every case, in-process: `scenario::load` does not panic, and an error is non-empty and
//! names the mutated file (or an existing file of its `extends` chain, for a value set there);
//! an accepted scenario prints as TOML that reads back to the same scenario; `Plan::new` does not
//! panic and its errors name the file too; an accepted plan runs (1000 households, at most 3
//! years) without panicking, with persons conserved apart from births and deaths, rates within
//! [0, 100] and every household in a valid unit (the checks of `tests/invariants.rs`). For a
//! spread-out subset, through the binary: `migrasim validate FILE` exits 0, or 2 with stderr
//! starting `error:` and naming the file; nothing else, never a panic.
//!
//! Every case is derived from its number alone (SplitMix64 seeded with the case number), so a
//! failure reported as `case 1234` is replayed, with its mutated text printed, by
//!
//! ```sh
//! MIGRASIM_FUZZ_CASE=1234 cargo test --test fuzz -- --nocapture
//! ```
//!
//! Defaults: 1500 cases in-process, of which the first 60 distinct accepted scenarios are
//! simulated, and 60 through the binary (under 10 s). A long run, simulating every distinct
//! accepted scenario:
//!
//! ```sh
//! MIGRASIM_FUZZ_CASES=100000 cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! `--release` is faster; the default test profile (`cargo test --test fuzz`) is slower but keeps
//! overflow checks and debug assertions in the simulator, so it can find more.
//! `MIGRASIM_FUZZ_FIRST=K` starts at case K (to split a long run into shards);
//! `MIGRASIM_FUZZ_BINARY_CASES=N` sets the binary subset (default: cases ÷ 25);
//! `MIGRASIM_FUZZ_SIMULATIONS=N` caps the simulated scenarios.
//! Failing mutants are copied to `$TMPDIR/migrasim-fuzz-failures/`. Case numbers refer to the
//! current contents of `scenarios/`: adding a scenario renumbers them.

use assert_cmd::Command;
use migrasim::engine::{Plan, Simulation, YearRecord};
use migrasim::geo::Geography;
use migrasim::results::national_row;
use migrasim::scenario::{self, Scenario};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

const DEFAULT_CASES: u64 = 1500;
/// Distinct accepted scenarios simulated by default (each takes ~75 ms); all when
/// `MIGRASIM_FUZZ_CASES` is set.
const DEFAULT_SIMULATIONS: u64 = 60;
/// One binary case per this many in-process cases, unless `MIGRASIM_FUZZ_BINARY_CASES` says.
const BINARY_EVERY: u64 = 25;
const SIM_HOUSEHOLDS: u64 = 1000;
/// Simulated years at most (first_year ..= first_year + 2).
const SIM_YEARS: i32 = 3;
/// A case (or a `validate` process) running longer than this is a hang.
const CASE_TIME_LIMIT: Duration = Duration::from_secs(120);
/// Failures printed in full; the rest are counted by kind.
const FAILURES_SHOWN: usize = 40;

// ---------------------------------------------------------------------------------------------
// Reproducible randomness.

/// SplitMix64: tiny, well mixed, and the same everywhere.
struct SplitMix(u64);

impl SplitMix {
    fn for_case(case: u64) -> SplitMix {
        SplitMix(case.wrapping_mul(0xd1b5_4a32_d192_ed03) ^ 0x6d69_6772_6173_696d)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations. Each works on raw bytes (earlier mutations may have broken UTF-8) and returns a
// description for the failure report.

#[derive(Clone, Copy)]
enum Kind {
    FlipBytes,
    DeleteLine,
    DuplicateLine,
    MoveLine,
    Truncate,
    SwapType,
    Huge,
    NonFinite,
    Interesting,
    YearTable,
    LongString,
    DeepNesting,
    Encoding,
    Extends,
    Splice,
    AppendSection,
    Header,
    ScaleMany,
    Name,
}

/// Mutation kinds, repeated by weight.
const KINDS: &[Kind] = &[
    Kind::FlipBytes,
    Kind::FlipBytes,
    Kind::DeleteLine,
    Kind::DeleteLine,
    Kind::DuplicateLine,
    Kind::MoveLine,
    Kind::Truncate,
    Kind::SwapType,
    Kind::SwapType,
    Kind::Huge,
    Kind::Huge,
    Kind::NonFinite,
    Kind::Interesting,
    Kind::Interesting,
    Kind::Interesting,
    Kind::Interesting,
    Kind::YearTable,
    Kind::YearTable,
    Kind::LongString,
    Kind::DeepNesting,
    Kind::Encoding,
    Kind::Encoding,
    Kind::Extends,
    Kind::Splice,
    Kind::AppendSection,
    Kind::AppendSection,
    Kind::AppendSection,
    Kind::Header,
    Kind::ScaleMany,
    Kind::ScaleMany,
    Kind::Name,
];

const STRINGS: &[&str] = &["\"text\"", "\"5\"", "\"\"", "'literal'", "\"\"\"multi\nline\"\"\"", "\"2024\"", "\"open\""];
const NUMBERS: &[&str] = &["0", "1", "-1", "42", "0.5", "1e3", "0x10", "0o17", "0b101", "1_000", "-0.0", "+7", "2024"];
const BOOLS: &[&str] = &["true", "false"];
const ARRAYS: &[&str] = &["[]", "[1, 2]", "[\"a\", 1]", "[[1], [2]]", "[true]", "[{ a = 1 }]", "[\"Beijing\"]"];
const TABLES: &[&str] = &["{}", "{ a = 1 }", "{ 2024 = 1 }", "{ 2024 = \"x\" }", "{ 2024 = true }", "{ open = 1 }"];
const DATES: &[&str] = &["1979-05-27", "1979-05-27T07:32:00Z", "07:32:00", "1979-05-27 07:32:00.999+08:00"];
const HUGE: &[&str] = &[
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e309",
    "1e19",
    "-1e19",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551615",
    "4294967295",
    "4294967296",
    "2147483647",
    "2147483648",
    "-2147483649",
    "99999999999999999999999999",
    "1e-308",
    "5e-324",
];
const NON_FINITE: &[&str] = &["inf", "+inf", "-inf", "nan", "+nan", "-nan"];
const INTERESTING: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "10",
    "20",
    "30",
    "31",
    "50",
    "100",
    "200",
    "255",
    "256",
    "0.1",
    "0.5",
    "0.999",
    "1.0",
    "-0.5",
    "-20",
    "999",
    "1000",
    "2019",
    "2020",
    "2021",
    "2023",
    "2024",
    "2029",
    "2030",
    "2031",
    "2060",
    "2061",
    "1000000",
    "100000000",
    "100000001",
    "2000000000",
    "500000000",
    "500000001",
    "1e-300",
    "5e-324",
    "-0.0",
];
const YEAR_TABLES: &[&str] = &[
    "{ 1948 = 1 }",
    "{ 1949 = 0 }",
    "{ 2100 = 1 }",
    "{ 2101 = 1 }",
    "{ \"2024\" = 0.5 }",
    "{ 2024 = 0.5, 2024 = 0.6 }",
    "{ 02024 = 0.5 }",
    "{ -2024 = 0.5 }",
    "{ 2024.5 = 1 }",
    "{ 2024 = 1, 2029 = 2, 2060 = 3 }",
    "{ 1949 = 0, 2100 = 1 }",
    "{ 0x7E8 = 1 }",
    "{ 4294967296 = 1 }",
    "{ 2147483648 = 1 }",
    "{ 2024 = { 2025 = 1 } }",
    "{ 2024 = [1] }",
    "{ 2024 = 9223372036854775807 }",
    "{ 2023 = 0, 2029 = 1e308 }",
    "{ \" 2024\" = 1 }",
    "{ \"+2024\" = 1, \"2024\" = 2 }",
    "{ 2024 = 0.5, 2025 = nan }",
    "{ 2030 = 0.1, 2021 = 0.9 }",
];
/// Unit names and codes: valid, ambiguous, missing, odd.
const UNITS: &[&str] = &[
    "\"Beijing\"",
    "\"beijing\"",
    "\" Beijing \"",
    "\"110000\"",
    "\"北京市\"",
    "\"Shanghai\"",
    "\"310000\"",
    "\"Suzhou\"",
    "\"Taizhou\"",
    "\"130100\"",
    "\"340300\"",
    "\"Chongqing\"",
    "\"540100\"",
    "\"Nowhere\"",
    "\"\"",
    "\"0\"",
    "\"-1\"",
    "\"4294967296\"",
    "\"99999999999999999999\"",
    "1",
];

struct Base {
    name: String,
    bytes: Vec<u8>,
}

struct Mutant {
    base: String,
    bytes: Vec<u8>,
    steps: Vec<String>,
}

impl Mutant {
    fn describe(&self) -> String {
        format!("from {}: {}", self.base, self.steps.join("; "))
    }
}

fn make_mutant(case: u64, bases: &[Base], own_name: &str) -> Mutant {
    let mut rng = SplitMix::for_case(case);
    let base = rng.pick(bases);
    let mut bytes = base.bytes.clone();
    let count = *rng.pick(&[1, 1, 1, 2, 2, 3]);
    let steps = (0..count).map(|_| mutate(&mut rng, &mut bytes, bases, own_name)).collect();
    Mutant { base: base.name.clone(), bytes, steps }
}

fn mutate(rng: &mut SplitMix, bytes: &mut Vec<u8>, bases: &[Base], own_name: &str) -> String {
    match *rng.pick(KINDS) {
        Kind::FlipBytes => flip_bytes(rng, bytes),
        Kind::DeleteLine => {
            let mut lines = split_lines(bytes);
            let at = rng.below(lines.len());
            let removed = lines.remove(at);
            *bytes = join_lines(&lines);
            format!("deleted line {} `{}`", at + 1, show(&removed))
        }
        Kind::DuplicateLine => {
            let mut lines = split_lines(bytes);
            let from = rng.below(lines.len());
            let to = if rng.chance(50) { from + 1 } else { rng.below(lines.len() + 1) };
            let line = lines[from].clone();
            lines.insert(to, line.clone());
            *bytes = join_lines(&lines);
            format!("duplicated line {} `{}` as line {}", from + 1, show(&line), to + 1)
        }
        Kind::MoveLine => {
            let mut lines = split_lines(bytes);
            let from = rng.below(lines.len());
            let line = lines.remove(from);
            let to = rng.below(lines.len() + 1);
            lines.insert(to, line.clone());
            *bytes = join_lines(&lines);
            format!("moved line {} `{}` to line {}", from + 1, show(&line), to + 1)
        }
        Kind::Truncate => {
            let at = rng.below(bytes.len() + 1);
            bytes.truncate(at);
            format!("truncated to {at} bytes")
        }
        Kind::SwapType => {
            let lines = split_lines(bytes);
            let current = pick_assignment(rng, &lines, |_| true).map(|i| value_class(&lines[i]));
            let pools: Vec<(Class, &[&str])> = [
                (Class::String, STRINGS),
                (Class::Number, NUMBERS),
                (Class::Bool, BOOLS),
                (Class::Array, ARRAYS),
                (Class::Table, TABLES),
                (Class::Other, DATES),
            ]
            .into_iter()
            .filter(|(class, _)| Some(*class) != current)
            .collect();
            let pool: &[&str] = rng.pick(&pools).1;
            let value = rng_pick_str(rng, pool);
            set_some_value(rng, bytes, &value, |_| true, "swapped type")
        }
        Kind::Huge => {
            let number = rng_pick_str(rng, HUGE);
            let value = wrap_number(rng, number);
            set_some_value(rng, bytes, &value, is_numeric, "huge number")
        }
        Kind::NonFinite => {
            let number = rng_pick_str(rng, NON_FINITE);
            let value = wrap_number(rng, number);
            set_some_value(rng, bytes, &value, is_numeric, "non-finite")
        }
        Kind::Interesting => interesting_number(rng, bytes),
        Kind::YearTable => {
            let value = rng_pick_str(rng, YEAR_TABLES);
            set_some_value(rng, bytes, &value, is_numeric, "year table")
        }
        Kind::LongString => long_string(rng, bytes),
        Kind::DeepNesting => deep_nesting(rng, bytes),
        Kind::Encoding => encoding(rng, bytes),
        Kind::Extends => extends(rng, bytes, own_name),
        Kind::Splice => {
            let other = rng.pick(bases);
            let other_lines = split_lines(&other.bytes);
            let line = rng.pick(&other_lines).clone();
            let mut lines = split_lines(bytes);
            let at = rng.below(lines.len() + 1);
            lines.insert(at, line.clone());
            *bytes = join_lines(&lines);
            format!("inserted `{}` from {} as line {}", show(&line), other.name, at + 1)
        }
        Kind::AppendSection => append_section(rng, bytes),
        Kind::ScaleMany => scale_many(rng, bytes),
        Kind::Name => {
            let value = rng_pick_str(
                rng,
                &[
                    "\"../escaped\"",
                    "\"/\"",
                    "\"a/b\"",
                    "\".\"",
                    "\"..\"",
                    "\"\"",
                    "\" \"",
                    "\"nul\\u0000name\"",
                    "\"--out\"",
                    "\"名字\"",
                    "\"tab\\tname\"",
                    "\"line\\nbreak\"",
                    "\"a\\\\b\"",
                ],
            );
            set_top_level(bytes, "name", &value);
            format!("name = {value}")
        }
        Kind::Header => {
            let header = rng_pick_str(
                rng,
                &[
                    "[run]",
                    "[[run]]",
                    "[run.households]",
                    "[settlement.points.annual_quota_pct]",
                    "[services.nonhukou_share]",
                    "[fuzz]",
                    "[]",
                    "[run",
                    "[ run ]",
                    "[\"run\"]",
                    "[settlement.open]",
                    "[potential_regions.members.\"North Anhui\"]",
                    "[metro_areas]",
                    "[settlement.regime_overrides]",
                    "[behaviour.education_wage_premium]",
                ],
            );
            let mut lines = split_lines(bytes);
            let at = rng.below(lines.len() + 1);
            lines.insert(at, header.clone().into_bytes());
            *bytes = join_lines(&lines);
            format!("inserted header `{header}` as line {}", at + 1)
        }
    }
}

fn rng_pick_str(rng: &mut SplitMix, items: &[&str]) -> String {
    rng.pick(items).to_string()
}

/// A number as itself, or inside a year table or an array.
fn wrap_number(rng: &mut SplitMix, number: String) -> String {
    match rng.below(10) {
        0..=5 => number,
        6..=8 => format!("{{ 2024 = {number} }}"),
        _ => format!("[{number}]"),
    }
}

fn flip_bytes(rng: &mut SplitMix, bytes: &mut Vec<u8>) -> String {
    let flips = 1 + rng.below(4);
    let mut done = Vec::new();
    for _ in 0..flips {
        if bytes.is_empty() {
            bytes.push(b'=');
            done.push("inserted `=` into an empty file".to_string());
            continue;
        }
        let at = rng.below(bytes.len());
        let before = bytes[at];
        bytes[at] = if rng.chance(50) { before ^ (1 << rng.below(8)) } else { rng.next_u64() as u8 };
        done.push(format!("byte {at}: {before:#04x}→{:#04x}", bytes[at]));
    }
    format!("flipped {}", done.join(", "))
}

fn interesting_number(rng: &mut SplitMix, bytes: &mut Vec<u8>) -> String {
    let lines = split_lines(bytes);
    let current = pick_assignment(rng, &lines, is_numeric).and_then(|i| value_text(&lines[i])).and_then(|text| {
        let integer = !text.contains(['.', 'e', 'E']);
        text.replace('_', "").parse::<f64>().ok().map(|v| (v, integer))
    });
    let value = match (rng.below(10), current) {
        (0..=3, Some((v, integer))) => {
            let scaled = v * *rng.pick(&[0.0, 0.5, 0.9, 1.1, 2.0, 10.0, -1.0]);
            if integer && scaled.fract() == 0.0 && scaled.abs() < 9.0e15 {
                format!("{}", scaled as i64)
            } else {
                format!("{scaled:?}")
            }
        }
        (4..=5, _) => format!("{{ 2024 = {}, 2029 = {} }}", rng.pick(INTERESTING), rng.pick(INTERESTING)),
        (6, _) => format!("{{ {} = {} }}", rng.pick(&[1949, 2020, 2100]), rng.pick(INTERESTING)),
        _ => rng_pick_str(rng, INTERESTING),
    };
    set_some_value(rng, bytes, &value, is_numeric, "number")
}

/// Scales a few plain numbers at once (0, ¼, ½, 2×, 4×; whole numbers stay whole), so that
/// several values sit at unusual but often allowed levels together.
fn scale_many(rng: &mut SplitMix, bytes: &mut Vec<u8>) -> String {
    let mut lines = split_lines(bytes);
    let numeric: Vec<usize> =
        assignments(&lines).into_iter().filter(|&i| value_class(&lines[i]) == Class::Number).collect();
    if numeric.is_empty() {
        return "scaled nothing (no plain numbers)".to_string();
    }
    let mut changed = Vec::new();
    for _ in 0..1 + rng.below(6) {
        let i = *rng.pick(&numeric);
        let Some(text) = value_text(&lines[i]) else {
            continue;
        };
        let Ok(v) = text.replace('_', "").parse::<f64>() else {
            continue;
        };
        let scaled = v * *rng.pick(&[0.0, 0.25, 0.5, 2.0, 4.0]);
        let integer = !text.contains(['.', 'e', 'E']);
        let value = if integer && scaled.fract() == 0.0 && scaled.abs() < 9.0e15 {
            format!("{}", scaled as i64)
        } else {
            format!("{scaled:?}")
        };
        let eq = lines[i].iter().position(|&b| b == b'=').unwrap_or(0);
        let mut new = lines[i][..eq].to_vec();
        new.extend_from_slice(b"= ");
        new.extend_from_slice(value.as_bytes());
        changed.push(format!("line {} `{}`", i + 1, show(&new)));
        lines[i] = new;
    }
    *bytes = join_lines(&lines);
    format!("scaled {}", changed.join(", "))
}

fn long_text(rng: &mut SplitMix) -> String {
    match rng.below(9) {
        0 | 1 => "x".repeat(10_000),
        2 => "中".repeat(10_000),
        3 => "é".repeat(10_000),
        4 => "\\\"".repeat(5_000),
        5 => "x".repeat(100_000),
        // Either side of the 64-character limit on names and labels, and of the 1000 on
        // descriptions.
        6 => "x".repeat(*rng.pick(&[63, 64, 65])),
        7 => "中".repeat(*rng.pick(&[64, 65])),
        _ => "x".repeat(*rng.pick(&[1000, 1001])),
    }
}

fn long_string(rng: &mut SplitMix, bytes: &mut Vec<u8>) -> String {
    let text = long_text(rng);
    let shown = show(text.as_bytes());
    match rng.below(11) {
        0 => {
            set_top_level(bytes, "name", &format!("\"{text}\""));
            format!("name = \"{shown}\"")
        }
        1 => {
            set_top_level(bytes, "description", &format!("\"{text}\""));
            format!("description = \"{shown}\"")
        }
        2 => {
            set_top_level(bytes, "extends", &format!("\"{text}\""));
            format!("extends = \"{shown}\"")
        }
        3 => append(bytes, &format!("[settlement.regime_overrides]\n\"{text}\" = \"open\"")),
        4 => append(bytes, &format!("[settlement.quota_overrides]\n\"{text}\" = 1.0")),
        5 => append(bytes, &format!("[potential_regions.members]\n\"Fuzz region\" = [\"{text}\"]")),
        6 => append(bytes, &format!("[potential_regions.members]\n\"{text}\" = [\"Beijing\"]")),
        7 => append(bytes, &format!("[metro_areas.members]\n\"{text}\" = [\"Beijing\", \"Tianjin\"]")),
        8 => {
            let key = "k".repeat(text.chars().count());
            insert_line(bytes, 0, &format!("{key} = 1"));
            format!("top-level key of {} characters", key.len())
        }
        9 => append(bytes, &format!("# {text}")),
        _ => {
            let key = "s".repeat(text.chars().count());
            append(bytes, &format!("[{key}]\nx = 1"))
        }
    }
}

fn deep_nesting(rng: &mut SplitMix, bytes: &mut Vec<u8>) -> String {
    let depth = *rng.pick(&[10usize, 60, 120, 127, 128, 129, 200, 1000]);
    match rng.below(6) {
        0 => {
            let value = format!("{}1{}", "{ a = ".repeat(depth), " }".repeat(depth));
            set_some_value(rng, bytes, &value, |_| true, "nested inline tables") + &format!(" (depth {depth})")
        }
        1 => {
            let value = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            set_some_value(rng, bytes, &value, |_| true, "nested arrays") + &format!(" (depth {depth})")
        }
        2 => {
            let value = format!("{}1{}", "[{ a = ".repeat(depth), " }]".repeat(depth));
            set_some_value(rng, bytes, &value, |_| true, "nested arrays of tables") + &format!(" (depth {depth})")
        }
        3 => {
            let key = vec!["a"; depth].join(".");
            insert_line(bytes, 0, &format!("{key} = 1"));
            format!("dotted key of depth {depth}")
        }
        4 => {
            let key = vec!["a"; depth].join(".");
            append(bytes, &format!("[{key}]\nb = 1"));
            format!("table header of depth {depth}")
        }
        _ => {
            let key = vec!["fuzz"; depth].join(".");
            append(bytes, &format!("[settlement.regime_overrides]\n{key} = \"open\""));
            format!("dotted unit name of depth {depth} in regime_overrides")
        }
    }
}

fn encoding(rng: &mut SplitMix, bytes: &mut Vec<u8>) -> String {
    let at = rng.below(bytes.len() + 1);
    match rng.below(12) {
        0 | 1 => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let big = rng.chance(30);
            let mut out = if big { vec![0xfe, 0xff] } else { vec![0xff, 0xfe] };
            for unit in text.encode_utf16() {
                out.extend(if big { unit.to_be_bytes() } else { unit.to_le_bytes() });
            }
            *bytes = out;
            format!("re-encoded as UTF-16{} with BOM", if big { "BE" } else { "LE" })
        }
        2 => {
            bytes.splice(0..0, [0xef, 0xbb, 0xbf]);
            "UTF-8 BOM prepended".to_string()
        }
        3 => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            *bytes = text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect();
            "re-encoded as Latin-1".to_string()
        }
        4 => {
            let byte = *rng.pick(&[0xe9u8, 0xb0, 0xa0, 0xfc, 0xff, 0xa7]);
            bytes.insert(at, byte);
            format!("Latin-1 byte {byte:#04x} at {at}")
        }
        5 => {
            bytes.insert(at, 0);
            format!("NUL byte at {at}")
        }
        6 => {
            if rng.chance(50) {
                let text = std::mem::take(bytes);
                for &b in &text {
                    if b == b'\n' {
                        bytes.push(b'\r');
                    }
                    bytes.push(b);
                }
                "CRLF line endings".to_string()
            } else {
                match bytes[at.min(bytes.len())..].iter().position(|&b| b == b'\n') {
                    Some(offset) => {
                        bytes[at + offset] = b'\r';
                        format!("lone CR instead of LF at {}", at + offset)
                    }
                    None => {
                        bytes.push(b'\r');
                        "trailing lone CR".to_string()
                    }
                }
            }
        }
        7 | 8 => {
            const INVALID: &[&[u8]] = &[
                &[0x80],
                &[0xc0, 0xaf],
                &[0xed, 0xa0, 0x80],
                &[0xf8, 0x88, 0x80, 0x80, 0x80],
                &[0xc3],
                &[0xf4, 0x90, 0x80, 0x80],
                &[0xe4, 0xb8],
            ];
            let sequence: &&[u8] = rng.pick(INVALID);
            bytes.splice(at..at, sequence.iter().copied());
            format!("invalid UTF-8 {sequence:02x?} at {at}")
        }
        9 => {
            let odd = rng_pick_str(
                rng,
                &["\u{a0}", "\u{200b}", "\u{feff}", "\u{2028}", "\u{202e}", "\t", "\x0c", "\x7f", "\x01", "\x1b[31m"],
            );
            bytes.splice(at..at, odd.bytes());
            format!("inserted {odd:?} at {at}")
        }
        _ => {
            let value = rng_pick_str(
                rng,
                &[
                    "\"\\uD800\"",
                    "\"\\U00110000\"",
                    "\"\\x41\"",
                    "\"a\\u0000b\"",
                    "\"\\e\"",
                    "\"a\u{0}b\"",
                    "\"line\\nbreak\"",
                    "\"\\\\\"",
                ],
            );
            let key = rng_pick_str(rng, &["name", "description"]);
            set_top_level(bytes, &key, &value);
            format!("{key} = {value}")
        }
    }
}

fn extends(rng: &mut SplitMix, bytes: &mut Vec<u8>, own_name: &str) -> String {
    let value = match rng.below(20) {
        0 => format!("\"{own_name}\""),
        1 => format!("\"./{own_name}\""),
        2 => "\"missing.toml\"".to_string(),
        3 => "\"\"".to_string(),
        4 => "\".\"".to_string(),
        5 => "\"..\"".to_string(),
        6 => "\"/\"".to_string(),
        7 => "\"/nonexistent/parent.toml\"".to_string(),
        8 => "\"baseline.toml\\u0000\"".to_string(),
        9 => format!("\"{}\"", "a/".repeat(5_000)),
        10 => "1".to_string(),
        11 => "[\"baseline.toml\"]".to_string(),
        12 => "\"/dev/null\"".to_string(),
        13 => "\"tiny.toml/\"".to_string(),
        14 => "\"BASELINE.TOML\"".to_string(),
        _ => format!(
            "\"{}\"",
            rng.pick(&["baseline.toml", "calibration.toml", "tiny.toml", "status-quo.toml", "./backcast-2020.toml",])
        ),
    };
    set_top_level(bytes, "extends", &value);
    format!("extends = {}", show(value.as_bytes()))
}

fn append_section(rng: &mut SplitMix, bytes: &mut Vec<u8>) -> String {
    let unit = rng_pick_str(rng, UNITS);
    let section = match rng.below(10) {
        0 | 1 => format!(
            "[settlement.regime_overrides]\n{unit} = {}",
            rng.pick(&["\"open\"", "\"relaxed\"", "\"points\"", "\"Open\"", "\"closed\"", "1", "\"\""])
        ),
        2 | 3 => format!(
            "[settlement.quota_overrides]\n{unit} = {}",
            rng.pick(&["0", "100", "0.5", "101", "-1", "nan", "{ 2024 = 0, 2029 = 100 }", "\"x\""])
        ),
        4 | 5 => {
            let units: Vec<String> = (0..rng.below(4)).map(|_| rng_pick_str(rng, UNITS)).collect();
            format!(
                "[potential_regions.members]\n\"{}\" = [{}]",
                rng.pick(&["North Anhui", "Fuzz region", "", "South-central Hebei"]),
                units.join(", ")
            )
        }
        6 | 7 => {
            let units: Vec<String> = (0..rng.below(4)).map(|_| rng_pick_str(rng, UNITS)).collect();
            format!("[metro_areas.members]\n\"{}\" = [{}]", rng.pick(&["Shenyang", "Fuzz metro", ""]), units.join(", "))
        }
        8 => {
            // Many groups, or many units in one (limits: 100 groups, 400 units).
            let n = *rng.pick(&[100, 101, 400, 401, 2000]);
            let section = rng_pick_str(rng, &["potential_regions", "metro_areas"]);
            if rng.chance(50) {
                let groups: Vec<String> = (0..n).map(|g| format!("\"g{g}\" = []")).collect();
                format!("[{section}.members]\n{}", groups.join("\n"))
            } else {
                format!("[{section}.members]\n\"Big\" = [{}]", vec![unit; n].join(", "))
            }
        }
        _ => rng_pick_str(
            rng,
            &[
                "[services.nonhukou_share]\n2024 = 0.7\n2029 = 0.9",
                "[jobs.growth_pct]\n2024 = 1",
                "[run.seed]\n2024 = 1",
                "[settlement.points.annual_quota_pct]\n2024 = 0.5\n2026 = 0",
                "[demography.birth_rate_permille]\n2024 = 50\n2025 = 0",
            ],
        ),
    };
    append(bytes, &section)
}

// ---------------------------------------------------------------------------------------------
// Line helpers on raw bytes.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    String,
    Number,
    Bool,
    Array,
    Table,
    Other,
}

fn is_numeric(class: Class) -> bool {
    class == Class::Number || class == Class::Table
}

fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

fn join_lines(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// Lines of the form `key = value` (not comments, not headers).
fn assignments(lines: &[Vec<u8>]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| {
            let trimmed = line.trim_ascii_start();
            !trimmed.is_empty() && trimmed[0] != b'#' && trimmed[0] != b'[' && line.contains(&b'=')
        })
        .map(|(i, _)| i)
        .collect()
}

fn value_text(line: &[u8]) -> Option<String> {
    let eq = line.iter().position(|&b| b == b'=')?;
    let value = std::str::from_utf8(&line[eq + 1..]).ok()?;
    let value = value.split('#').next().unwrap_or("").trim();
    Some(value.to_string())
}

fn value_class(line: &[u8]) -> Class {
    let Some(value) = value_text(line) else {
        return Class::Other;
    };
    match value.chars().next() {
        Some('"' | '\'') => Class::String,
        Some('{') => Class::Table,
        Some('[') => Class::Array,
        _ if value == "true" || value == "false" => Class::Bool,
        Some(c) if c.is_ascii_digit() || "+-in".contains(c) => Class::Number,
        _ => Class::Other,
    }
}

/// An assignment line, preferring those whose value class satisfies `prefer`.
fn pick_assignment(rng: &mut SplitMix, lines: &[Vec<u8>], prefer: impl Fn(Class) -> bool) -> Option<usize> {
    let all = assignments(lines);
    let preferred: Vec<usize> = all.iter().copied().filter(|&i| prefer(value_class(&lines[i]))).collect();
    if !preferred.is_empty() && rng.chance(85) {
        Some(*rng.pick(&preferred))
    } else if !all.is_empty() {
        Some(*rng.pick(&all))
    } else {
        None
    }
}

/// Replaces the value of an assignment line (preferring classes `prefer` accepts); without one,
/// sets `name` instead.
fn set_some_value(
    rng: &mut SplitMix,
    bytes: &mut Vec<u8>,
    value: &str,
    prefer: impl Fn(Class) -> bool,
    what: &str,
) -> String {
    let mut lines = split_lines(bytes);
    match pick_assignment(rng, &lines, prefer) {
        Some(i) => {
            let line = &lines[i];
            let eq = line.iter().position(|&b| b == b'=').unwrap_or(line.len());
            let mut new = line[..eq].to_vec();
            new.extend_from_slice(b"= ");
            new.extend_from_slice(value.as_bytes());
            let description = format!("{what}: line {} `{}`", i + 1, show(&new));
            lines[i] = new;
            *bytes = join_lines(&lines);
            description
        }
        None => {
            set_top_level(bytes, "name", value);
            format!("{what}: name = {}", show(value.as_bytes()))
        }
    }
}

/// Sets a top-level key: replaces its line before the first header, or inserts it first.
fn set_top_level(bytes: &mut Vec<u8>, key: &str, value: &str) {
    let mut lines = split_lines(bytes);
    let mut target = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_ascii_start();
        if trimmed.starts_with(b"[") {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key.as_bytes())
            && matches!(rest.trim_ascii_start().first(), Some(b'='))
        {
            target = Some(i);
            break;
        }
    }
    let line = format!("{key} = {value}").into_bytes();
    match target {
        Some(i) => lines[i] = line,
        None => lines.insert(0, line),
    }
    *bytes = join_lines(&lines);
}

fn insert_line(bytes: &mut Vec<u8>, at: usize, line: &str) {
    let mut lines = split_lines(bytes);
    lines.insert(at.min(lines.len()), line.as_bytes().to_vec());
    *bytes = join_lines(&lines);
}

fn append(bytes: &mut Vec<u8>, text: &str) -> String {
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    format!("appended `{}`", show(text.as_bytes()))
}

/// Bytes for a one-line report: lossy UTF-8, escaped, cut at 100 characters.
fn show(bytes: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(bytes).escape_debug().collect();
    let count = text.chars().count();
    if count <= 100 {
        text
    } else {
        let head: String = text.chars().take(100).collect();
        format!("{head}… ({count} characters)")
    }
}

// ---------------------------------------------------------------------------------------------
// Panics: caught per case, with the message and location the hook saw (also on rayon workers).

static CAPTURING: AtomicBool = AtomicBool::new(false);
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

fn install_panic_hook() {
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.load(Ordering::SeqCst) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_else(|| "unknown location".to_string());
                let message = info.payload_as_str().unwrap_or("(non-string payload)");
                PANICS.lock().unwrap_or_else(|e| e.into_inner()).push(format!("panicked at {at}: {message}"));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into `Err("panicked at FILE:LINE: message")`.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    PANICS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    CAPTURING.store(true, Ordering::SeqCst);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.store(false, Ordering::SeqCst);
    result.map_err(|payload| {
        let seen = std::mem::take(&mut *PANICS.lock().unwrap_or_else(|e| e.into_inner()));
        seen.into_iter().next().unwrap_or_else(|| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string payload)".to_string());
            format!("panicked: {message}")
        })
    })
}

/// Exits the whole test binary when one case runs too long (a hang cannot be caught).
struct Watchdog {
    current: Arc<Mutex<Option<(String, Instant)>>>,
    done: Arc<AtomicBool>,
}

impl Watchdog {
    fn start() -> Watchdog {
        let current: Arc<Mutex<Option<(String, Instant)>>> = Arc::new(Mutex::new(None));
        let done = Arc::new(AtomicBool::new(false));
        let (watched, finished) = (Arc::clone(&current), Arc::clone(&done));
        std::thread::spawn(move || {
            while !finished.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(500));
                let guard = watched.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((what, since)) = guard.as_ref()
                    && since.elapsed() > CASE_TIME_LIMIT
                {
                    // Written past the test harness's capture: the process ends here.
                    let _ = writeln!(
                        std::io::stderr(),
                        "fuzz: HANG: {what} ran for more than {}s",
                        CASE_TIME_LIMIT.as_secs()
                    );
                    std::process::exit(101);
                }
            }
        });
        Watchdog { current, done }
    }

    fn watch(&self, what: String) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((what, Instant::now()));
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.

struct Failure {
    case: u64,
    /// What went wrong, without case-specific detail, for counting failures by kind.
    kind: String,
    detail: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Rejected,
    Panicked,
}

#[derive(Default)]
struct Stats {
    tried: u64,
    accepted: u64,
    rejected_load: u64,
    rejected_plan: u64,
    simulated: u64,
    panics: u64,
    parent_named: u64,
    binary: u64,
    binary_ok: u64,
    binary_exit2: u64,
    binary_other: u64,
    binary_panicked: u64,
}

/// Where the fuzz cases live: the shipped scenarios copied into a scratch folder, so the
/// mutants' relative `extends` resolve to pristine parents.
struct Workspace {
    dir: tempfile::TempDir,
    bases: Vec<Base>,
}

impl Workspace {
    fn new() -> Workspace {
        let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut names: Vec<String> = std::fs::read_dir(&scenarios)
            .expect("scenarios/ is readable")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".toml"))
            .collect();
        names.sort();
        let dir = tempfile::Builder::new().prefix("migrasim-fuzz-").tempdir().expect("a scratch folder");
        let bases: Vec<Base> = names
            .into_iter()
            .map(|name| {
                let bytes = std::fs::read(scenarios.join(&name)).expect("a shipped scenario");
                std::fs::write(dir.path().join(&name), &bytes).expect("copy a scenario");
                Base { name, bytes }
            })
            .collect();
        assert!(!bases.is_empty(), "no scenarios/*.toml to mutate");
        let mut workspace = Workspace { dir, bases };
        // The baseline fully resolved (as `validate` prints it) states every key, so mutations
        // reach keys the shipped files leave at their defaults.
        let baseline = workspace.dir.path().join("baseline.toml");
        if let Ok(loaded) = scenario::load(&baseline) {
            let name = "resolved-baseline.toml".to_string();
            let bytes = loaded.scenario.to_toml().into_bytes();
            std::fs::write(workspace.dir.path().join(&name), &bytes).expect("write a scenario");
            workspace.bases.push(Base { name, bytes });
        }
        workspace
    }

    fn file_name(case: u64) -> String {
        format!("case-{case:06}.toml")
    }

    fn write(&self, case: u64, mutant: &Mutant) -> PathBuf {
        let path = self.dir.path().join(Workspace::file_name(case));
        std::fs::write(&path, &mutant.bytes).expect("write a mutant");
        path
    }

    /// How an error message names the file: the mutant itself, an existing file of its chain
    /// (a pristine parent, for a value set there), or neither.
    fn names_file(&self, message: &str, case: u64) -> Naming {
        if message.contains(&Workspace::file_name(case)) {
            return Naming::Mutant;
        }
        let parent_named = self.bases.iter().any(|base| {
            let path = self.dir.path().join(&base.name);
            message.contains(&format!("{}:", path.display()))
        });
        if parent_named { Naming::Parent } else { Naming::Neither }
    }

    /// A copy of a failing mutant that outlives the scratch folder.
    fn keep(case: u64, mutant: &Mutant) {
        let dir = failures_dir();
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(Workspace::file_name(case)), &mutant.bytes);
    }
}

fn failures_dir() -> PathBuf {
    std::env::temp_dir().join("migrasim-fuzz-failures")
}

#[derive(PartialEq, Eq)]
enum Naming {
    Mutant,
    Parent,
    Neither,
}

/// The kind of an error message, for grouping: its text after the file and line, cut short.
fn message_kind(message: &str) -> String {
    let message = message.trim();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let after_path = message.split_once(": ").map(|(_, rest)| rest).unwrap_or(message);
    after_path.chars().take(60).collect()
}

struct InProcess<'a> {
    workspace: &'a Workspace,
    geo: &'static Geography,
    /// Scenarios already simulated, and already printed and read back (`scenario_key`).
    simulated: HashSet<u64>,
    round_tripped: HashSet<u64>,
    /// Distinct accepted scenarios simulated at most.
    simulation_budget: u64,
    /// The first error that named a parent file rather than the mutant: case and message.
    parent_example: Option<(u64, String)>,
    stats: Stats,
    failures: Vec<Failure>,
}

impl InProcess<'_> {
    fn fail(&mut self, case: u64, kind: impl Into<String>, detail: impl Into<String>) {
        self.failures.push(Failure { case, kind: kind.into(), detail: detail.into() });
    }

    fn check_error(&mut self, case: u64, stage: &str, message: &str) {
        if message.trim().is_empty() {
            self.fail(case, format!("{stage}: empty error message"), "");
            return;
        }
        match self.workspace.names_file(message, case) {
            Naming::Mutant => {}
            Naming::Parent => {
                self.stats.parent_named += 1;
                if self.parent_example.is_none() {
                    self.parent_example = Some((case, show(message.as_bytes())));
                }
            }
            Naming::Neither => self.fail(
                case,
                format!("{stage}: error does not name the file: {}", message_kind(message)),
                format!("message: {}", show(message.as_bytes())),
            ),
        }
    }

    fn run(&mut self, case: u64, path: &Path) -> Verdict {
        let mut loaded = match guarded(|| scenario::load(path)) {
            Err(panic) => {
                self.stats.panics += 1;
                self.fail(case, format!("scenario::load {}", first_line(&panic)), panic);
                return Verdict::Panicked;
            }
            Ok(Err(error)) => {
                self.stats.rejected_load += 1;
                self.check_error(case, "scenario::load", &error.to_string());
                return Verdict::Rejected;
            }
            Ok(Ok(loaded)) => loaded,
        };

        // What `validate` prints and the manifest records must read back to the same scenario.
        let resolved = loaded.scenario.clone();
        let fresh = self.round_tripped.insert(scenario_key(&resolved, true));
        match guarded(|| {
            if !fresh {
                return Ok(None);
            }
            let text = resolved.to_toml();
            let _ = resolved.hash();
            scenario::from_str("resolved.toml", &text).map(|back| Some((back, text)))
        }) {
            Err(panic) => {
                self.stats.panics += 1;
                self.fail(case, format!("to_toml {}", first_line(&panic)), panic);
                return Verdict::Panicked;
            }
            Ok(Err(error)) => self.fail(
                case,
                format!("resolved TOML does not read back: {}", message_kind(&error.to_string())),
                error.to_string(),
            ),
            Ok(Ok(Some((back, text)))) if back != resolved => self.fail(
                case,
                "resolved TOML reads back to a different scenario",
                format!("resolved: {}", show(text.as_bytes())),
            ),
            Ok(Ok(_)) => {}
        }

        let run = &mut loaded.scenario.run;
        run.households = SIM_HOUSEHOLDS;
        run.last_year = run.last_year.min(run.first_year + SIM_YEARS - 1);
        let geo = self.geo;
        let plan = match guarded(|| Plan::new(&loaded, geo)) {
            Err(panic) => {
                self.stats.panics += 1;
                self.fail(case, format!("Plan::new {}", first_line(&panic)), panic);
                return Verdict::Panicked;
            }
            Ok(Err(error)) => {
                self.stats.rejected_plan += 1;
                self.check_error(case, "Plan::new", &error.to_string());
                return Verdict::Rejected;
            }
            Ok(Ok(plan)) => plan,
        };
        self.stats.accepted += 1;

        if self.stats.simulated >= self.simulation_budget || !self.simulated.insert(scenario_key(&plan.scenario, false))
        {
            return Verdict::Accepted;
        }
        self.stats.simulated += 1;
        match guarded(|| {
            let mut sim = Simulation::new(geo, plan);
            sim.run(|_| {});
            check_run(&sim)
        }) {
            Err(panic) => {
                self.stats.panics += 1;
                self.fail(case, format!("simulation {}", first_line(&panic)), panic);
                Verdict::Panicked
            }
            Ok(Err(broken)) => {
                self.fail(case, "invariant broken", broken);
                Verdict::Accepted
            }
            Ok(Ok(())) => Verdict::Accepted,
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").chars().take(160).collect()
}

/// A hash of a resolved scenario, with or without its name and description (which do not change
/// a simulation): identical inputs behave identically, so each is checked once.
fn scenario_key(scenario: &Scenario, with_name: bool) -> u64 {
    let mut inputs = scenario.clone();
    if !with_name {
        inputs.name.clear();
        inputs.description.clear();
    }
    let mut hasher = DefaultHasher::new();
    format!("{inputs:?}").hash(&mut hasher);
    hasher.finish()
}

/// The invariants of `tests/invariants.rs`: persons conserved apart from births and deaths,
/// rates within [0, 100], every household in a valid unit; plus one record per year.
fn check_run(sim: &Simulation) -> Result<(), String> {
    let scenario = sim.scenario();
    let years = (scenario.run.last_year - scenario.run.first_year + 1) as usize;
    if sim.records.len() != years + 1 {
        return Err(format!(
            "{} records for {years} years (expected the base year plus one per year)",
            sim.records.len()
        ));
    }
    let total = |r: &YearRecord| -> u64 { r.units.iter().map(|u| u.population()).sum() };
    for pair in sim.records.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let expected = (total(before) + after.national.births).checked_sub(after.national.deaths);
        if expected != Some(total(after)) {
            return Err(format!(
                "persons not conserved in {}: {} before + {} births - {} deaths != {} after",
                after.year,
                total(before),
                after.national.births,
                after.national.deaths,
                total(after)
            ));
        }
    }
    for record in &sim.records {
        let row = national_row(record, sim.persons_per_member);
        for (name, rate) in [
            ("urbanization", row.urbanization_rate_pct),
            ("hukou urbanization", row.hukou_urbanization_rate_pct),
            ("public-school share", row.public_school_share_pct),
        ] {
            if !(0.0..=100.0).contains(&rate) {
                return Err(format!("{name} rate {rate} in {}", record.year));
            }
        }
    }
    let units = sim.geo().len();
    if let Some(h) = sim.households.iter().find(|h| {
        usize::from(h.res_unit) >= units || usize::from(h.hukou_unit) >= units || usize::from(h.origin_unit) >= units
    }) {
        return Err(format!("household in an invalid unit: {h:?}"));
    }
    Ok(())
}

/// `migrasim validate FILE`: exit 0, or 2 with `error:` naming the file; nothing else.
fn check_binary(
    workspace: &Workspace,
    case: u64,
    path: &Path,
    verdict: Option<Verdict>,
    stats: &mut Stats,
) -> Result<(), (String, String)> {
    stats.binary += 1;
    let output = Command::cargo_bin("migrasim")
        .expect("the migrasim binary")
        .arg("validate")
        .arg(path)
        .timeout(CASE_TIME_LIMIT)
        .output()
        .map_err(|e| ("validate did not finish".to_string(), e.to_string()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = show(stderr.as_bytes());
    if stderr.contains("panicked") {
        stats.binary_panicked += 1;
        // `thread 'main' panicked at FILE:LINE:COLUMN:` then the message on the next line.
        let mut lines = stderr.lines().skip_while(|l| !l.contains("panicked"));
        let at = lines.next().unwrap_or("").trim();
        let at = at.split_once("panicked ").map_or(at, |(_, rest)| rest);
        let message = lines.next().unwrap_or("").trim();
        return Err((format!("validate panicked {at} {}", first_line(message)), format!("stderr: {shown}")));
    }
    match output.status.code() {
        Some(0) => {
            stats.binary_ok += 1;
            if verdict == Some(Verdict::Rejected) {
                return Err((
                    "validate accepts what scenario::load or Plan::new rejects".to_string(),
                    format!("stderr: {shown}"),
                ));
            }
            Ok(())
        }
        Some(2) => {
            stats.binary_exit2 += 1;
            if !stderr.starts_with("error:") {
                return Err(("validate exit 2 without `error:`".to_string(), format!("stderr: {shown}")));
            }
            if workspace.names_file(&stderr, case) == Naming::Neither {
                return Err((
                    format!("validate error does not name the file: {}", message_kind(&stderr)),
                    format!("stderr: {shown}"),
                ));
            }
            Ok(())
        }
        code => {
            stats.binary_other += 1;
            Err((format!("validate exit code {code:?}"), format!("status {}; stderr: {shown}", output.status)))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The target.

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(value.trim().replace('_', "").parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")))
}

/// In-process cases, the binary subset and the simulation budget, from the environment.
fn plan_cases() -> (Vec<u64>, Vec<u64>, u64, bool) {
    let budget = env_number("MIGRASIM_FUZZ_SIMULATIONS");
    if let Some(case) = env_number("MIGRASIM_FUZZ_CASE") {
        return (vec![case], vec![case], budget.unwrap_or(1), true);
    }
    let first = env_number("MIGRASIM_FUZZ_FIRST").unwrap_or(0);
    let chosen = env_number("MIGRASIM_FUZZ_CASES");
    let count = chosen.unwrap_or(DEFAULT_CASES);
    let budget = budget.unwrap_or(if chosen.is_some() { u64::MAX } else { DEFAULT_SIMULATIONS });
    let binary = env_number("MIGRASIM_FUZZ_BINARY_CASES").unwrap_or(count.div_ceil(BINARY_EVERY)).min(count);
    let cases = (first..first + count).collect();
    // Spread evenly over the in-process cases.
    let binary_cases =
        (0..binary).map(|k| first + (u128::from(k) * u128::from(count) / u128::from(binary)) as u64).collect();
    (cases, binary_cases, budget, false)
}

#[test]
fn mutated_scenarios_never_panic_and_errors_name_the_file() {
    install_panic_hook();
    let (cases, binary_cases, simulation_budget, replay) = plan_cases();
    let workspace = Workspace::new();
    let watchdog = Watchdog::start();
    let started = Instant::now();
    let mut fuzz = InProcess {
        workspace: &workspace,
        geo: Geography::embedded(),
        simulated: HashSet::new(),
        round_tripped: HashSet::new(),
        simulation_budget,
        parent_example: None,
        stats: Stats::default(),
        failures: Vec::new(),
    };
    let binary_wanted: HashSet<u64> = binary_cases.iter().copied().collect();
    let mut verdicts: HashMap<u64, Verdict> = HashMap::new();
    let mut descriptions: BTreeMap<u64, String> = BTreeMap::new();

    let progress_every = (cases.len() / 10).max(1);
    for (done, &case) in cases.iter().enumerate() {
        let name = Workspace::file_name(case);
        let mutant = make_mutant(case, &workspace.bases, &name);
        if replay {
            println!(
                "case {case}: {}\n----- {name} -----\n{}\n-----",
                mutant.describe(),
                String::from_utf8_lossy(&mutant.bytes)
            );
        }
        let path = workspace.write(case, &mutant);
        watchdog.watch(format!("case {case} ({})", mutant.describe()));
        let failures_before = fuzz.failures.len();
        let verdict = fuzz.run(case, &path);
        fuzz.stats.tried += 1;
        if fuzz.failures.len() > failures_before {
            descriptions.insert(case, mutant.describe());
            Workspace::keep(case, &mutant);
        }
        if binary_wanted.contains(&case) {
            verdicts.insert(case, verdict);
        }
        let _ = std::fs::remove_file(&path);
        if cases.len() >= 1000 && (done + 1) % progress_every == 0 {
            println!(
                "fuzz: {} / {} cases, {} failures, {:.1}s",
                done + 1,
                cases.len(),
                fuzz.failures.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let in_process_seconds = started.elapsed().as_secs_f64();

    let InProcess { mut stats, mut failures, parent_example, .. } = fuzz;
    let binary_started = Instant::now();
    for &case in &binary_cases {
        let name = Workspace::file_name(case);
        let mutant = make_mutant(case, &workspace.bases, &name);
        let path = workspace.write(case, &mutant);
        watchdog.watch(format!("validate case {case} ({})", mutant.describe()));
        let verdict = verdicts.get(&case).copied();
        if let Err((kind, detail)) = check_binary(&workspace, case, &path, verdict, &mut stats) {
            failures.push(Failure { case, kind, detail });
            descriptions.insert(case, mutant.describe());
            Workspace::keep(case, &mutant);
        }
        let _ = std::fs::remove_file(&path);
    }
    drop(watchdog);

    println!(
        "fuzz: {} cases in-process in {in_process_seconds:.1}s: {} accepted ({} distinct scenarios simulated), {} rejected by scenario::load, {} by Plan::new, {} panics",
        stats.tried, stats.accepted, stats.simulated, stats.rejected_load, stats.rejected_plan, stats.panics,
    );
    if let Some((case, message)) = parent_example {
        println!(
            "fuzz: {} errors named a file the mutant extends rather than the mutant, e.g. case {case}: {message}",
            stats.parent_named
        );
    }
    println!(
        "fuzz: {} cases through `migrasim validate` in {:.1}s: {} exit 0, {} exit 2, {} other exit codes, {} panicked",
        stats.binary,
        binary_started.elapsed().as_secs_f64(),
        stats.binary_ok,
        stats.binary_exit2,
        stats.binary_other,
        stats.binary_panicked
    );
    if failures.is_empty() {
        return;
    }

    let mut report = String::new();
    for failure in failures.iter().take(FAILURES_SHOWN) {
        report.push_str(&format!(
            "case {} [{}]: {}\n    {}\n    {}\n",
            failure.case,
            descriptions.get(&failure.case).map(String::as_str).unwrap_or(""),
            failure.kind,
            failure.detail.replace('\n', "\n    "),
            format_args!("replay: MIGRASIM_FUZZ_CASE={} cargo test --test fuzz -- --nocapture", failure.case)
        ));
    }
    let mut kinds: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for failure in &failures {
        let entry = kinds.entry(&failure.kind).or_insert((0, failure.case));
        entry.0 += 1;
    }
    report.push_str("failures by kind (count, first case):\n");
    for (kind, (count, first)) in &kinds {
        report.push_str(&format!("  {count:>6}  case {first:<8} {kind}\n"));
    }
    panic!(
        "{} fuzz failures in {} kinds (mutants kept in {}):\n{report}",
        failures.len(),
        kinds.len(),
        failures_dir().display()
    );
}
