//! Reading scenarios: files read safely (regular files, at most 1 MiB, UTF-8), `extends` chains
//! merged key by key onto the defaults, `--set` settings applied over them, and the file and line
//! (or setting) that set each key, for messages.

use super::*;

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
        let invalid =
            |message: String| ScenarioError::Invalid { location: "--set".to_string(), key: text.to_string(), message };
        let Some((key, value)) = text.split_once('=') else {
            return Err(invalid(
                "no `=`; allowed: KEY=VALUE, e.g. settlement.willingness.procedure_ease=0.5".to_string(),
            ));
        };
        let key = key.trim();
        let valid_part = |p: &str| {
            !p.is_empty() && p.len() <= 64 && p.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-'))
        };
        if key.split('.').any(|p| !valid_part(p)) || key.len() > 200 {
            return Err(invalid(format!(
                "`{key}` is not a dotted key; allowed: names of letters, digits, `_` and `-` joined by `.` (docs/scenarios.md lists every key)"
            )));
        }
        let value_text = value.trim();
        if value_text.len() > 4096 {
            return Err(invalid("the value is longer than 4096 characters".to_string()));
        }
        let value = match toml::from_str::<toml::Table>(&format!("v = {value_text}")) {
            Ok(mut t) => t.remove("v").expect("parsed as v"),
            Err(_) => toml::Value::String(value_text.to_string()),
        };
        Ok(Setting { key: key.to_string(), value, text: format!("{key}={value_text}") })
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
        let entry = current.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
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
            current_section = line.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let Some((lhs, _)) = line.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().trim_matches('"');
        let full = if current_section.is_empty() { lhs.to_string() } else { format!("{current_section}.{lhs}") };
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
            row[j + 1] = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(above + 1);
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
    let chain = read_chain(path)?;
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
        merged = with_sets(merged, sets)?;
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
    let loaded = LoadedScenario { scenario, chain, sets: sets.to_vec() };
    validate(&loaded)?;
    Ok(loaded)
}

/// The file at `path` and the files its `extends` chain names, the named file first. Refuses a
/// cycle and a chain longer than `MAX_EXTENDS_DEPTH`.
fn read_chain(path: &Path) -> Result<Vec<SourceFile>, ScenarioError> {
    let mut chain = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut next = Some(path.to_path_buf());
    while let Some(current) = next.take() {
        let canonical = current.canonicalize().map_err(|e| {
            named_by(&chain, ScenarioError::Read { path: current.display().to_string(), reason: e.to_string() })
        })?;
        if seen.contains(&canonical) {
            let mut names: Vec<String> = chain.iter().map(|f: &SourceFile| f.path.display().to_string()).collect();
            names.push(current.display().to_string());
            return Err(ScenarioError::Cycle { path: current.display().to_string(), chain: names.join(" → ") });
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
    Ok(chain)
}

/// A file named by `extends` that cannot be read is reported at the line naming it, with the
/// path it resolves to and the closest file name there.
fn named_by(chain: &[SourceFile], error: ScenarioError) -> ScenarioError {
    match (error, chain.last()) {
        (ScenarioError::Read { path, reason }, Some(parent)) => {
            let named = parent.table.get("extends").and_then(|v| v.as_str()).unwrap_or("");
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
    }
}

/// The merged table with the `--set` keys applied; refuses a key that belongs to the file and
/// settings that together do not make a scenario.
fn with_sets(merged: toml::Table, sets: &[Setting]) -> Result<toml::Table, ScenarioError> {
    let mut set = merged;
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
            key: sets.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" "),
            message: format!("{}; keys and types: docs/scenarios.md", e.message().trim()),
        });
    }
    Ok(set)
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
    let read_error = |reason: String| ScenarioError::Read { path: shown.clone(), reason };
    let metadata = std::fs::metadata(path).map_err(|e| read_error(e.to_string()))?;
    // Devices, pipes and sockets could block or never end; folders are a common slip.
    if !metadata.is_file() {
        let kind = if metadata.is_dir() { "a folder" } else { "not a regular file (a device, pipe or socket)" };
        return Err(read_error(format!(
            "is {kind}; allowed: a TOML file of at most {} KiB",
            MAX_SCENARIO_BYTES / 1024
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SCENARIO_BYTES + 1).read_to_end(&mut bytes).map_err(|e| read_error(e.to_string()))?;
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
        read_error(format!("line {line}, column {column}: not valid UTF-8; allowed: TOML text in UTF-8"))
    })?;
    if text.contains('\0') {
        return Err(read_error("contains a NUL byte; allowed: TOML text in UTF-8".to_string()));
    }
    // Parsing the file on its own, against the full schema, gives precise line numbers for
    // unknown keys and wrong types; every key has a default, so partial files parse.
    let typed: Scenario = toml::from_str(&text).map_err(|e| parse_error(&shown, &text, &e))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| parse_error(&shown, &text, &e))?;
    Ok(ReadSource { source: SourceFile { path: path.to_path_buf(), text, table }, extends: typed.extends })
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
        .replace("u64 value was too large", "the number is too large; allowed: 0 ..= 9223372036854775807")
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
    ScenarioError::Parse { path: path.to_string(), line, column, message }
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
    let column = before.len() - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
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
            (Some(toml::Value::Table(existing)), toml::Value::Table(new)) if !is_year_table(new) => {
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
        && table.values().all(|v| matches!(v, toml::Value::Integer(_) | toml::Value::Float(_)))
}

/// Parses a scenario from text (no `extends`), for tests and embedded use.
pub fn from_str(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    // Parsed alone first for precise errors, then merged onto the defaults like a file.
    let own: Scenario = toml::from_str(text).map_err(|e| parse_error(name, text, &e))?;
    let table: toml::Table = toml::from_str(text).map_err(|e| parse_error(name, text, &e))?;
    let mut merged = defaults_table();
    merge_into(&mut merged, &table);
    let mut scenario: Scenario = merged.try_into().map_err(|e: toml::de::Error| ScenarioError::Parse {
        path: name.to_string(),
        line: 0,
        column: 0,
        message: e.message().to_string(),
    })?;
    scenario.name = if own.name.is_empty() { name.to_string() } else { own.name };
    scenario.description = own.description;
    let loaded = LoadedScenario {
        scenario,
        chain: vec![SourceFile { path: PathBuf::from(name), text: text.to_string(), table }],
        sets: Vec::new(),
    };
    validate(&loaded)?;
    Ok(loaded.scenario)
}
