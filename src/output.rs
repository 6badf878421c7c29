//! Output folders: where a run may write, checked before any work starts, and the crash-safe
//! swap that puts a finished output in place.
//!
//! The rule (README, "Where output goes"): migrasim replaces a folder only if migrasim wrote
//! it — recognised by the [`MARKER`] file listing every file of the output (or, for outputs of
//! earlier versions, a `manifest.json` with `migrasim_version` and a `files` list) — and only
//! if nothing else is in it. It never replaces `/`, the current folder or one of its ancestors,
//! the home folder, the project root, or a folder holding one of the scenario files being run,
//! not even with `--force`. An existing migrasim output at a path given with `--out` needs
//! `--force`; the default location `output/<name>/` is migrasim's own and is replaced silently.
//!
//! Every run writes into a fresh staging folder `.NAME.partial-PID` beside the target, created
//! before any work so that an unwritable place is refused at once. On success the staging
//! folder is exchanged with the old output in one atomic `renameat2(RENAME_EXCHANGE)` (Linux),
//! so the final name always holds a complete output; the old one, now under the staging name,
//! is renamed `.NAME.old-PID` and its listed files deleted. Leftovers of killed runs
//! (`.NAME.partial-PID`, `.NAME.old-PID` whose process is gone) are cleared by the next run to
//! the same place.

use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

/// The file in every output folder that says migrasim wrote it, and which files it holds.
pub const MARKER: &str = ".migrasim-output";
/// The file in every staging folder, written first, so a stale one is recognisable.
const STAGING_MARKER: &str = ".migrasim-staging";
/// Folder names longer than this leave no room for the staging suffix within a file name.
const MAX_LEAF_BYTES: usize = 200;
/// Entries examined when deciding whether a folder is a migrasim output.
const MAX_INSPECTED_ENTRIES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output path cannot or must not be used: bad input, exit code 2.
    #[error("{0}")]
    Refused(String),
    /// Writing failed after the checks passed: exit code 1.
    #[error("{0}")]
    Io(String),
}

/// Where a command wants to write, and what must never be replaced.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The output folder as the user gave it (or the default).
    pub path: &'a Path,
    /// The path came from `--out` (an existing migrasim output there needs `force`); otherwise
    /// it is the default location under `output/`, whose parent may be created.
    pub explicit: bool,
    /// Replace an existing migrasim output at an explicit path.
    pub force: bool,
    /// Input files (scenario chain): no folder holding one of them is ever replaced.
    pub inputs: &'a [PathBuf],
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    written_by: String,
    version: String,
    files: Vec<String>,
}

/// What an existing folder holds.
enum Contents {
    Empty,
    /// A migrasim output: only files its marker (or manifest) lists.
    Output,
    /// Anything else: the first few entries migrasim did not write, and how many there are.
    Foreign {
        examples: Vec<String>,
        count: usize,
    },
}

/// A staging folder for one output, removed on drop unless committed.
#[derive(Debug)]
pub struct Staging {
    shown: String,
    final_dir: PathBuf,
    staging: PathBuf,
    parent: PathBuf,
    leaf: String,
    committed: bool,
}

fn refused(text: String) -> OutputError {
    OutputError::Refused(text)
}

fn io(path: &Path, e: impl std::fmt::Display) -> OutputError {
    OutputError::Io(format!("{}: {e}", path.display()))
}

/// Folders that are never replaced, with a phrase saying what each is.
fn protected_places(inputs: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let mut places = vec![(PathBuf::from("/"), "the root folder".to_string())];
    if let Ok(cwd) = std::env::current_dir().and_then(|p| p.canonicalize()) {
        places.push((cwd, "the current folder".to_string()));
    }
    if let Some(home) = std::env::var_os("HOME").and_then(|h| PathBuf::from(h).canonicalize().ok()) {
        places.push((home, "the home folder".to_string()));
    }
    if let Ok(root) = Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize() {
        places.push((root, "the migrasim project folder".to_string()));
    }
    for input in inputs {
        if let Ok(file) = input.canonicalize() {
            places.push((file, format!("the scenario file {}", input.display())));
        }
    }
    places
}

/// True when process `pid` exists (so its staging folder may still be in use).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks whether the process exists; it sends nothing.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Reads the list of files a migrasim output folder holds, from its marker or (outputs of
/// earlier versions) its manifest.
fn listed_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = if let Ok(text) = read_small(&dir.join(MARKER)) {
        let marker: Marker = serde_json::from_str(&text).ok()?;
        if marker.written_by != "migrasim" {
            return None;
        }
        let mut files: Vec<PathBuf> = marker.files.iter().map(PathBuf::from).collect();
        files.push(PathBuf::from(MARKER));
        files
    } else {
        let text = read_small(&dir.join("manifest.json")).ok()?;
        let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
        manifest.get("migrasim_version")?.as_str()?;
        let mut files: Vec<PathBuf> =
            manifest.get("files")?.as_array()?.iter().map(|f| f.as_str().map(PathBuf::from)).collect::<Option<_>>()?;
        files.push(PathBuf::from("manifest.json"));
        files
    };
    // A listed path must stay inside the folder.
    if files.iter().any(|f| f.components().any(|c| !matches!(c, Component::Normal(_)))) {
        return None;
    }
    files.sort();
    files.dedup();
    Some(files)
}

fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(16 * 1024 * 1024).read_to_string(&mut text)?;
    Ok(text)
}

/// Every file (not folder) under `dir`, relative, with symbolic links and special files
/// reported as entries too. Stops after [`MAX_INSPECTED_ENTRIES`].
fn walk(dir: &Path) -> std::io::Result<(Vec<PathBuf>, bool)> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    let mut seen = 0usize;
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(dir.join(&relative))? {
            let entry = entry?;
            seen += 1;
            if seen > MAX_INSPECTED_ENTRIES {
                return Ok((files, true));
            }
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok((files, false))
}

fn inspect(dir: &Path) -> Result<Contents, OutputError> {
    let (present, truncated) = walk(dir).map_err(|e| io(dir, e))?;
    if present.is_empty() && !truncated {
        let any_folder = std::fs::read_dir(dir).map_err(|e| io(dir, e))?.next().is_some();
        if !any_folder {
            return Ok(Contents::Empty);
        }
    }
    let listed = listed_files(dir).unwrap_or_default();
    let foreign: Vec<&PathBuf> = present.iter().filter(|p| listed.binary_search(p).is_err()).collect();
    if listed.is_empty() || !foreign.is_empty() || truncated {
        let mut examples: Vec<String> = foreign.iter().take(5).map(|p| p.display().to_string()).collect();
        if examples.is_empty() {
            examples = present.iter().take(5).map(|p| p.display().to_string()).collect();
        }
        if examples.is_empty() {
            examples.push("empty folders".to_string());
        }
        return Ok(Contents::Foreign {
            examples,
            count: if truncated { MAX_INSPECTED_ENTRIES } else { foreign.len().max(1) },
        });
    }
    Ok(Contents::Output)
}

/// Deletes an output folder migrasim wrote: its listed files, then its folders if empty.
/// Anything not listed stays, and the folder with it (returned as a warning).
fn delete_output(dir: &Path) -> Option<String> {
    let files = listed_files(dir).unwrap_or_default();
    for file in &files {
        // Never through a symbolic link: every folder on the way must be a real folder inside
        // `dir` (a link named like a listed folder could point anywhere).
        let through_real_folders = file
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .all(|a| std::fs::symlink_metadata(dir.join(a)).is_ok_and(|m| m.file_type().is_dir()));
        if through_real_folders {
            let _ = std::fs::remove_file(dir.join(file));
        }
    }
    let mut folders: Vec<PathBuf> = files
        .iter()
        .flat_map(|f| f.ancestors().skip(1).map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    folders.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    folders.dedup();
    for folder in folders {
        let _ = std::fs::remove_dir(dir.join(folder));
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => None,
        Err(_) => Some(format!("kept {}: it holds files migrasim did not write", dir.display())),
    }
}

/// Removes leftovers of killed runs to the same place: `.LEAF.partial-PID` (a staging folder)
/// and `.LEAF.old-PID` (an output set aside for deletion) whose process is gone.
fn clear_stale(parent: &Path, leaf: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let own = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix('.').and_then(|r| r.strip_prefix(leaf)).and_then(|r| r.strip_prefix('.'))
        else {
            continue;
        };
        let (kind, pid) = match rest.split_once('-') {
            Some((kind @ ("partial" | "old"), pid)) => (kind, pid),
            _ => continue,
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == own || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if kind == "partial" {
            // A staging folder holds only what its run wrote; one killed before writing its
            // marker is still empty.
            if path.join(STAGING_MARKER).is_file() {
                let _ = std::fs::remove_dir_all(&path);
            } else if listed_files(&path).is_some() {
                // Killed between the exchange and the rename aside: the old output.
                let _ = delete_output(&path);
            } else {
                let _ = std::fs::remove_dir(&path);
            }
        } else if listed_files(&path).is_some() {
            let _ = delete_output(&path);
        }
    }
}

/// The output folder's own name: a plain, valid UTF-8 name of bounded length (never the root,
/// `.` or `..`).
fn leaf_name(raw: &Path, shown: &str) -> Result<String, OutputError> {
    if raw.as_os_str().is_empty() {
        return Err(refused(
            "--out is empty; allowed: a path to a new folder or to an earlier migrasim output".to_string(),
        ));
    }
    let leaf = match raw.components().next_back() {
        Some(Component::Normal(leaf)) => leaf,
        _ => {
            return Err(refused(format!(
                "output folder `{shown}` names the root, the current folder or a parent folder, which migrasim never replaces; choose a new folder, e.g. `--out {}`",
                Path::new("results").display()
            )));
        }
    };
    let Some(leaf) = leaf.to_str().map(str::to_string) else {
        return Err(refused(format!("output folder `{shown}`: the name is not valid UTF-8")));
    };
    if leaf.len() > MAX_LEAF_BYTES {
        return Err(refused(format!(
            "output folder `{shown}`: the name has {} bytes; allowed: at most {MAX_LEAF_BYTES}",
            leaf.len()
        )));
    }
    Ok(leaf)
}

/// The output folder's parent, canonical. Only the default location's parent is created: an
/// explicit `--out` must name an existing folder's child.
fn parent_folder(raw: &Path, explicit: bool, shown: &str) -> Result<PathBuf, OutputError> {
    let parent_raw = match raw.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !explicit && !parent_raw.exists() {
        std::fs::create_dir_all(&parent_raw)
            .map_err(|e| refused(format!("cannot create the output folder's parent {}: {e}", parent_raw.display())))?;
    }
    match std::fs::metadata(&parent_raw) {
        Ok(m) if m.is_dir() => parent_raw.canonicalize().map_err(|e| refused(format!("output folder `{shown}`: {e}"))),
        Ok(_) => Err(refused(format!(
            "output folder `{shown}`: {} is not a folder; allowed: a path whose parent folder exists",
            parent_raw.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(refused(format!(
            "output folder `{shown}`: its parent folder {} does not exist; create it first or choose another path",
            parent_raw.display()
        ))),
        Err(e) => Err(refused(format!("output folder `{shown}`: cannot use {}: {e}", parent_raw.display()))),
    }
}

/// Refuses an output folder under a system file system, or one that is or holds a place
/// migrasim never replaces (the root, home, current and project folders, the inputs).
fn refuse_protected(final_dir: &Path, inputs: &[PathBuf], shown: &str) -> Result<(), OutputError> {
    for system in ["/proc", "/sys", "/dev"] {
        if final_dir.starts_with(system) {
            return Err(refused(format!(
                "output folder `{shown}` is under {system}, a system file system; choose a folder on a disk"
            )));
        }
    }
    for (place, what) in protected_places(inputs) {
        if place.starts_with(final_dir) {
            let relation = if place == final_dir { "is" } else { "contains" };
            return Err(refused(format!(
                "output folder `{shown}` {relation} {what}, which migrasim never replaces (not even with --force); choose a new folder"
            )));
        }
    }
    Ok(())
}

/// Refuses what is already at the output folder's place unless it is nothing, an empty folder
/// or an earlier migrasim output that may be replaced (by default, or with `--force`).
fn refuse_existing(final_dir: &Path, request: &Request, shown: &str) -> Result<(), OutputError> {
    let meta = match std::fs::symlink_metadata(final_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(refused(format!("output folder `{shown}`: {e}"))),
        Ok(meta) => meta,
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(refused(format!(
            "output folder `{shown}` is a symbolic link; migrasim does not write through links. Choose a new folder"
        )));
    }
    if !kind.is_dir() {
        return Err(refused(format!(
            "output folder `{shown}` exists and is {}, not a folder; migrasim never replaces it. Choose a new folder",
            describe_file_type(&meta)
        )));
    }
    match inspect(final_dir)? {
        Contents::Empty => Ok(()),
        Contents::Foreign { examples, count } => Err(refused(format!(
            "output folder `{shown}` exists and holds {count} file(s) migrasim did not write (e.g. {}); migrasim never replaces it (not even with --force). Choose a new folder",
            examples.join(", ")
        ))),
        Contents::Output if request.explicit && !request.force => Err(refused(format!(
            "output folder `{shown}` holds an earlier migrasim output; pass --force to replace it, or choose a new folder"
        ))),
        Contents::Output => Ok(()),
    }
}

impl Staging {
    /// Checks `request` and creates the staging folder, before any work. Every refusal is
    /// [`OutputError::Refused`] and leaves nothing behind.
    pub fn begin(request: &Request) -> Result<Staging, OutputError> {
        let raw = request.path;
        let shown = raw.display().to_string();
        let leaf = leaf_name(raw, &shown)?;
        let parent = parent_folder(raw, request.explicit, &shown)?;
        let final_dir = parent.join(&leaf);
        refuse_protected(&final_dir, request.inputs, &shown)?;
        refuse_existing(&final_dir, request, &shown)?;
        clear_stale(&parent, &leaf);
        let staging = parent.join(format!(".{leaf}.partial-{}", std::process::id()));
        std::fs::create_dir(&staging)
            .map_err(|e| refused(format!("output folder `{shown}`: cannot write in {}: {e}", parent.display())))?;
        let guard = Staging { shown, final_dir, staging, parent, leaf, committed: false };
        std::fs::write(guard.staging.join(STAGING_MARKER), "a migrasim run is writing here; removed when it ends\n")
            .map_err(|e| {
                refused(format!("output folder `{}`: cannot write in {}: {e}", guard.shown, guard.parent.display()))
            })?;
        Ok(guard)
    }

    /// The folder to write into.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Where the output will be.
    pub fn final_path(&self) -> &Path {
        &self.final_dir
    }

    /// Marks the staging folder as a complete output and puts it in place. Returns the files
    /// written (relative to the output folder) and warnings for the user.
    pub fn commit(mut self) -> Result<(Vec<PathBuf>, Vec<String>), OutputError> {
        let (mut files, _) = walk(&self.staging).map_err(|e| io(&self.staging, e))?;
        files.retain(|f| f != Path::new(STAGING_MARKER));
        let marker = Marker {
            written_by: "migrasim".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            files: files.iter().map(|f| f.display().to_string()).collect(),
        };
        let json = serde_json::to_string_pretty(&marker).map_err(|e| io(&self.staging, e))?;
        // The output marker is written before the staging marker goes, so a killed run's
        // folder always carries one of the two and the next run can clear it.
        std::fs::write(self.staging.join(MARKER), json + "\n").map_err(|e| io(&self.staging, e))?;
        std::fs::remove_file(self.staging.join(STAGING_MARKER)).map_err(|e| io(&self.staging, e))?;

        let mut warnings = Vec::new();
        match std::fs::symlink_metadata(&self.final_dir) {
            Err(_) => {
                rename_no_replace(&self.staging, &self.final_dir).map_err(|e| io(&self.final_dir, e))?;
            }
            Ok(meta) => {
                // Checked again: the folder may have changed while the run worked.
                let replaceable = meta.file_type().is_dir()
                    && matches!(inspect(&self.final_dir)?, Contents::Empty | Contents::Output);
                if !replaceable {
                    self.committed = true;
                    return Err(OutputError::Io(format!(
                        "while this run worked, `{}` changed and now holds something migrasim did not write; it was left alone and the new output is in {}",
                        self.shown,
                        self.staging.display()
                    )));
                }
                let aside = self.parent.join(format!(".{}.old-{}", self.leaf, std::process::id()));
                exchange(&self.staging, &self.final_dir, &aside).map_err(|e| io(&self.final_dir, e))?;
                if let Some(warning) = delete_output(&aside) {
                    warnings.push(warning);
                }
            }
        }
        self.committed = true;
        Ok((files, warnings))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            // The staging folder was created by this process (create_dir fails on an existing
            // one), so everything in it is ours.
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

fn describe_file_type(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_file() {
        "a file"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a folder"
    }
}

/// Moves `from` to `to`, failing if `to` exists.
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        match renameat2(from, to, libc::RENAME_NOREPLACE) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            other => return other,
        }
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "appeared while this run worked"));
    }
    std::fs::rename(from, to)
}

/// Puts `new` at `target` and the old `target` at `aside`. On Linux the swap is one atomic
/// exchange, so `target` always names a complete output; elsewhere the old output is renamed
/// aside first, leaving a moment when `target` is absent (never half-deleted).
fn exchange(new: &Path, target: &Path, aside: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        match renameat2(new, target, libc::RENAME_EXCHANGE) {
            // `new` now names the old output.
            Ok(()) => return std::fs::rename(new, aside),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    std::fs::rename(target, aside)?;
    std::fs::rename(new, target)
}

#[cfg(target_os = "linux")]
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let result = unsafe { libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), flags) };
    if result == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Writes one generated file (`--calibration`, `docs/validation.md`) through a temporary
/// sibling and a rename. An existing file is replaced only if it starts with `header`, the
/// first line migrasim writes into it: never a file migrasim did not write.
pub fn check_generated_file(path: &Path, header: &str) -> Result<(), OutputError> {
    let shown = path.display();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(refused(format!("{shown}: the folder {} does not exist; create it first", parent.display())));
    }
    if path.file_name().is_none_or(|n| n == OsStr::new("")) {
        return Err(refused(format!("{shown}: not a file name")));
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(refused(format!("{shown}: {e}"))),
        Ok(meta) if !meta.file_type().is_file() => Err(refused(format!(
            "{shown} exists and is {}; migrasim replaces only files it generated",
            describe_file_type(&meta)
        ))),
        Ok(_) => {
            let text = read_small(path).unwrap_or_default();
            if text.starts_with(header) {
                Ok(())
            } else {
                Err(refused(format!(
                    "{shown} exists and was not generated by migrasim (it does not start with {header:?}); migrasim never replaces it. Choose another path"
                )))
            }
        }
    }
}

/// Replaces a generated file atomically (after [`check_generated_file`]).
pub fn write_generated_file(path: &Path, contents: &[u8]) -> Result<(), OutputError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = parent.join(format!(".{name}.partial-{}", std::process::id()));
    // `create_new`: never write into a file that happens to have the temporary's name.
    {
        use std::io::Write;
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).open(&temporary).map_err(|e| io(&temporary, e))?;
        file.write_all(contents).map_err(|e| io(&temporary, e))?;
    }
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(path: &'a Path, explicit: bool, force: bool) -> Request<'a> {
        Request { path, explicit, force, inputs: &[] }
    }

    fn write_output(staging: Staging, files: &[(&str, &str)]) -> (Vec<PathBuf>, Vec<String>) {
        for (name, text) in files {
            let path = staging.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        staging.commit().unwrap()
    }

    #[test]
    fn a_new_folder_is_written_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let staging = Staging::begin(&request(&out, true, false)).unwrap();
        let (files, warnings) = write_output(staging, &[("a.csv", "1"), ("charts/b.svg", "2")]);
        assert!(warnings.is_empty());
        assert_eq!(files, vec![PathBuf::from("a.csv"), PathBuf::from("charts/b.svg")]);
        assert!(out.join(MARKER).is_file());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no staging folder left");
    }

    #[test]
    fn replacing_needs_force_at_an_explicit_path_and_removes_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        write_output(
            Staging::begin(&request(&out, true, false)).unwrap(),
            &[("old.csv", "1"), ("charts/old.svg", "2")],
        );
        let error = Staging::begin(&request(&out, true, false)).unwrap_err();
        assert!(matches!(error, OutputError::Refused(ref m) if m.contains("--force")));
        write_output(Staging::begin(&request(&out, true, true)).unwrap(), &[("new.csv", "3")]);
        assert!(out.join("new.csv").is_file());
        assert!(!out.join("old.csv").exists());
        assert!(!out.join("charts").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // The default location needs no --force.
        write_output(Staging::begin(&request(&out, false, false)).unwrap(), &[("newer.csv", "4")]);
        assert!(out.join("newer.csv").is_file());
    }

    #[test]
    fn a_user_file_in_an_output_makes_it_untouchable_even_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        write_output(Staging::begin(&request(&out, true, false)).unwrap(), &[("a.csv", "1")]);
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let error = Staging::begin(&request(&out, true, true)).unwrap_err();
        assert!(matches!(error, OutputError::Refused(ref m) if m.contains("notes.txt")));
        assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    }

    #[test]
    fn a_staging_folder_is_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let staging = Staging::begin(&request(&out, true, false)).unwrap();
        std::fs::write(staging.path().join("x.csv"), "1").unwrap();
        drop(staging);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn stale_leftovers_of_dead_processes_are_cleared_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        // PIDs above the kernel's maximum (4,194,304) never exist.
        let dead = dir.path().join(".run.partial-99999999");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(STAGING_MARKER), "").unwrap();
        std::fs::write(dead.join("half.csv"), "").unwrap();
        let dead_empty = dir.path().join(".run.partial-99999998");
        std::fs::create_dir(&dead_empty).unwrap();
        let parent_pid = std::os::unix::process::parent_id();
        let live_other = dir.path().join(format!(".run.partial-{parent_pid}"));
        std::fs::create_dir(&live_other).unwrap();
        std::fs::write(live_other.join(STAGING_MARKER), "").unwrap();
        let foreign = dir.path().join(".run.partial-99999997");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("user.txt"), "not ours").unwrap();
        write_output(Staging::begin(&request(&out, true, false)).unwrap(), &[("a.csv", "1")]);
        assert!(!dead.exists() && !dead_empty.exists());
        assert!(live_other.exists(), "a live process's staging folder stays");
        assert!(foreign.join("user.txt").exists(), "unmarked folders stay");
    }

    #[test]
    fn deleting_an_old_output_never_follows_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::write(victim.join("x.csv"), "keep").unwrap();
        let old = dir.path().join(".run.old-99999999");
        std::fs::create_dir(&old).unwrap();
        std::os::unix::fs::symlink(&victim, old.join("charts")).unwrap();
        std::fs::write(old.join(MARKER), r#"{"written_by":"migrasim","version":"0","files":["charts/x.csv"]}"#)
            .unwrap();
        assert!(delete_output(&old).is_some(), "kept, with a warning");
        assert_eq!(std::fs::read_to_string(victim.join("x.csv")).unwrap(), "keep");
    }

    #[test]
    fn generated_files_are_replaced_only_when_migrasim_wrote_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calibration.toml");
        check_generated_file(&path, "# generated").unwrap();
        write_generated_file(&path, b"# generated\nx = 1\n").unwrap();
        check_generated_file(&path, "# generated").unwrap();
        std::fs::write(&path, "mine").unwrap();
        assert!(check_generated_file(&path, "# generated").is_err());
        assert!(check_generated_file(&dir.path().join("no/such.toml"), "# generated").is_err());
    }
}
