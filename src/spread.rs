//! Spreading independent units of work over processes: one process (the default), or the ranks
//! of an MPI job (`cargo build --features mpi`, started with `mpirun -n K migrasim …`).
//!
//! Every rank runs the same command: it reads and checks the same inputs, then [`agree`]s with
//! the others that every rank is ready (or that one is not, and why) before any work starts.
//! [`map`] and [`map_to_root`] take a list of units of work (scenario × parameter set ×
//! replicate, a particle, a design point), give unit `i` to rank `i mod K` (a fixed assignment
//! that depends on nothing but `i` and K), and bring the per-unit aggregates back in unit order,
//! serialized with postcard (exact for every `f64`): a result is the same bytes whatever K is.
//! Rank 0 alone writes outputs. Households never leave the rank that simulates them.
//!
//! Without MPI (or outside `mpirun`) there is one rank and the maps are the plain local loops.
//! The global world is set once by [`launch`] in `main`; library callers (tests included) that
//! never launch see one rank.

use serde::{Serialize, de::DeserializeOwned};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// How a rank runs its own share of the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// One unit after another: each unit is itself parallel (a whole simulation).
    Serial,
    /// Units side by side on the rank's threads (small runs such as backcasts).
    Parallel,
}

/// A failure every rank knows about: the message to print (by rank 0) and the exit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

struct World {
    rank: usize,
    size: usize,
    /// Ranks sharing this rank's machine (they share its memory).
    on_node: usize,
    #[cfg(feature = "mpi")]
    comm: std::sync::Mutex<mpi_world::Comm>,
}

static WORLD: OnceLock<World> = OnceLock::new();
static QUIET: AtomicBool = AtomicBool::new(false);
static READY: AtomicBool = AtomicBool::new(false);

/// This process's rank (0 outside an MPI job).
pub fn rank() -> usize {
    WORLD.get().map_or(0, |w| w.rank)
}

/// Ranks in the job (1 outside an MPI job).
pub fn size() -> usize {
    WORLD.get().map_or(1, |w| w.size)
}

/// Whether this rank writes outputs and prints results.
pub fn is_root() -> bool {
    rank() == 0
}

/// Ranks of this job on this machine, which share its memory.
pub fn ranks_on_node() -> usize {
    WORLD.get().map_or(1, |w| w.on_node)
}

/// Silences the per-rank lines naming the units each rank starts.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether this rank has passed [`agree`] (its inputs were checked with every other rank's).
pub fn agreed() -> bool {
    READY.load(Ordering::Relaxed)
}

/// The launcher's rank count when this process was started by `mpirun`/`srun` (OpenMPI, PMI or
/// PMIx variables), so a build without MPI can refuse instead of running K copies that race for
/// the same output.
fn launched_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// Joins the MPI job this process was started in, if any. Keep the returned session alive until
/// the process ends: dropping it finalizes MPI.
pub fn launch() -> Result<Session, Failure> {
    match launched_size() {
        Some(k) if k > 1 => launch_mpi(k),
        _ => Ok(Session { _mpi: None }),
    }
}

/// Keeps MPI initialized while alive.
pub struct Session {
    #[cfg(feature = "mpi")]
    _mpi: Option<mpi::environment::Universe>,
    #[cfg(not(feature = "mpi"))]
    _mpi: Option<()>,
}

#[cfg(not(feature = "mpi"))]
fn launch_mpi(k: usize) -> Result<Session, Failure> {
    Err(Failure {
        code: 2,
        message: format!(
            "this process was started as one of {k} MPI ranks, but this migrasim was built without MPI, so each rank would run the whole job alone; allowed: one process, or a build with `cargo build --release --features mpi` (README, \"Running on a cluster\")"
        ),
    })
}

#[cfg(feature = "mpi")]
fn launch_mpi(_k: usize) -> Result<Session, Failure> {
    let (universe, world) = mpi_world::init()?;
    WORLD.set(world).map_err(|_| failure(1, "MPI was initialized twice".to_string()))?;
    Ok(Session { _mpi: Some(universe) })
}

fn failure(code: i32, message: String) -> Failure {
    Failure { code, message }
}

/// Every rank says whether its inputs passed (`status`); every rank learns the outcome. Call it
/// once, after the input checks and before any work. With one rank it returns `status`.
pub fn agree(status: Result<(), Failure>) -> Result<(), Failure> {
    READY.store(true, Ordering::Relaxed);
    if size() == 1 {
        return status;
    }
    let mine = postcard::to_allocvec(&status.err()).expect("a status serializes");
    let all = exchange(mine, false);
    let mut failed: Vec<(usize, Failure)> = Vec::new();
    for (rank, bytes) in all.iter().enumerate() {
        let theirs: Option<Failure> = postcard::from_bytes(bytes)
            .unwrap_or_else(|e| Some(failure(1, format!("rank {rank}'s status did not decode: {e}"))));
        if let Some(f) = theirs {
            failed.push((rank, f));
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(combine(&failed, size()))
}

/// One message for failures on several ranks: identical messages once, with the ranks named.
fn combine(failed: &[(usize, Failure)], k: usize) -> Failure {
    let mut groups: Vec<(Vec<usize>, &Failure)> = Vec::new();
    for (rank, f) in failed {
        match groups.iter_mut().find(|(_, g)| g.message == f.message) {
            Some((ranks, _)) => ranks.push(*rank),
            None => groups.push((vec![*rank], f)),
        }
    }
    let message = groups
        .iter()
        .map(|(ranks, f)| {
            let who = if ranks.len() == k {
                format!("every rank (of {k})")
            } else {
                let names: Vec<String> = ranks.iter().map(|r| r.to_string()).collect();
                format!("rank{} {} of {k}", if ranks.len() > 1 { "s" } else { "" }, names.join(", "))
            };
            format!("{who}: {}", f.message)
        })
        .collect::<Vec<_>>()
        .join("\n");
    // Bad input anywhere is bad input (2); otherwise the first failure's code.
    let code = if groups.iter().any(|(_, f)| f.code == 2) { 2 } else { groups[0].1.code };
    failure(code, message)
}

/// The units rank `rank` of `size` runs: `rank`, `rank + size`, …
fn share(n: usize, rank: usize, size: usize) -> Vec<usize> {
    (rank..n).step_by(size).collect()
}

/// Runs units `0..n` with `work`, spread over the ranks, and returns every unit's result in unit
/// order on every rank (for searches whose next step every rank must compute). `what(i)` names
/// unit `i` in messages. Fails on every rank, naming the rank and the unit, when any unit fails
/// (an error or a panic).
pub fn map<T, F>(n: usize, local: Local, what: impl Fn(usize) -> String + Sync, work: F) -> Result<Vec<T>, String>
where
    T: Serialize + DeserializeOwned + Send,
    F: Fn(usize) -> Result<T, String> + Sync + Send,
{
    spread(n, local, &what, &work, false).map(|r| r.expect("every rank receives the results"))
}

/// As [`map`], but only rank 0 receives the results (`Some` there, `None` elsewhere): for runs
/// whose aggregates only the writer needs. A failed unit fails rank 0 (naming the rank and the
/// unit); the other ranks end normally and the job's exit code is rank 0's.
pub fn map_to_root<T, F>(
    n: usize,
    local: Local,
    what: impl Fn(usize) -> String + Sync,
    work: F,
) -> Result<Option<Vec<T>>, String>
where
    T: Serialize + DeserializeOwned + Send,
    F: Fn(usize) -> Result<T, String> + Sync + Send,
{
    spread(n, local, &what, &work, true)
}

fn spread<T, F>(
    n: usize,
    local: Local,
    what: &(dyn Fn(usize) -> String + Sync),
    work: &F,
    to_root: bool,
) -> Result<Option<Vec<T>>, String>
where
    T: Serialize + DeserializeOwned + Send,
    F: Fn(usize) -> Result<T, String> + Sync + Send,
{
    let (rank, k) = (rank(), size());
    if k == 1 {
        return run_local(&(0..n).collect::<Vec<_>>(), local, work, |_| {})
            .into_iter()
            .collect::<Result<Vec<T>, String>>()
            .map(Some);
    }
    let mine = share(n, rank, k);
    let loud = !QUIET.load(Ordering::Relaxed);
    if loud && local == Local::Parallel && !mine.is_empty() {
        eprintln!(
            "rank {rank}/{k}: {} units of {n}, every {k}th from {} ({} … {})",
            mine.len(),
            mine[0],
            what(mine[0]),
            what(mine[mine.len() - 1])
        );
    }
    // A serial unit is named as it starts, so that a rank the system kills (which cannot report
    // anything itself) is known by the unit it was running. The line goes out in one write:
    // `eprintln!` writes each formatted piece separately to the unbuffered stderr, so a kill
    // between two pieces would leave the unit unnamed.
    let started = |i: usize| {
        if loud {
            let line = format!("rank {rank}/{k}: starting unit {i} of {n} ({})\n", what(i));
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        }
    };
    let results = run_local(&mine, local, work, started);
    let bytes = postcard::to_allocvec(&results).map_err(|e| format!("rank {rank}: {e}"))?;
    drop(results);
    let all = exchange(bytes, to_root);
    if to_root && rank != 0 {
        return Ok(None);
    }
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut first_failure: Option<(usize, usize, String)> = None;
    for (from, bytes) in all.iter().enumerate() {
        let theirs: Vec<Result<T, String>> =
            postcard::from_bytes(bytes).map_err(|e| format!("rank {from}'s results did not decode: {e}"))?;
        for (i, r) in share(n, from, k).into_iter().zip(theirs) {
            match r {
                Ok(v) => slots[i] = Some(v),
                Err(e) => {
                    if first_failure.as_ref().is_none_or(|(u, _, _)| i < *u) {
                        first_failure = Some((i, from, e));
                    }
                }
            }
        }
    }
    if let Some((unit, from, e)) = first_failure {
        return Err(format!("rank {from} of {k} failed on unit {unit} of {n} ({}): {e}", what(unit)));
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.ok_or_else(|| format!("no result came back for unit {i} ({})", what(i))))
        .collect::<Result<Vec<T>, String>>()
        .map(Some)
}

/// Runs `units` here, one after another or side by side; a panic becomes the unit's error.
fn run_local<T, F>(units: &[usize], local: Local, work: &F, started: impl Fn(usize)) -> Vec<Result<T, String>>
where
    T: Send,
    F: Fn(usize) -> Result<T, String> + Sync + Send,
{
    let guarded = |i: usize| -> Result<T, String> {
        if size() == 1 {
            return work(i);
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(i))).unwrap_or_else(|p| {
            let text = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(format!("panicked: {text}"))
        })
    };
    match local {
        Local::Serial => {
            let mut out = Vec::with_capacity(units.len());
            for &i in units {
                started(i);
                let r = guarded(i);
                let failed = r.is_err();
                out.push(r);
                // Later units would be wasted: the job fails on this one.
                if failed {
                    break;
                }
            }
            out
        }
        Local::Parallel => {
            use rayon::prelude::*;
            units.par_iter().map(|&i| guarded(i)).collect()
        }
    }
}

/// Every rank's `mine`, in rank order: on every rank, or (`to_root`) on rank 0 only (empty
/// elsewhere). One process: just `mine`.
fn exchange(mine: Vec<u8>, to_root: bool) -> Vec<Vec<u8>> {
    #[cfg(feature = "mpi")]
    if let Some(world) = WORLD.get()
        && world.size > 1
    {
        let comm = world.comm.lock().unwrap_or_else(|e| e.into_inner());
        return comm.exchange(&mine, to_root);
    }
    let _ = to_root;
    vec![mine]
}

#[cfg(feature = "mpi")]
mod mpi_world {
    //! The MPI calls, behind one lock (MPI is initialized as MPI_THREAD_SERIALIZED: any thread
    //! may call, one at a time, which the lock guarantees).

    use super::{Failure, World, failure};
    use mpi::Count;
    use mpi::datatype::PartitionMut;
    use mpi::environment::Universe;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;

    /// Largest piece one collective call moves per rank (MPI counts are 32-bit).
    const PIECE: usize = 1 << 30;

    pub struct Comm(SimpleCommunicator);

    // SAFETY: the communicator is a handle that MPI lets any thread use when calls are
    // serialized (MPI_THREAD_SERIALIZED, checked at init); `World` keeps it behind a Mutex.
    unsafe impl Send for Comm {}

    pub fn init() -> Result<(Universe, World), Failure> {
        let (universe, threading) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .ok_or_else(|| failure(1, "MPI could not be initialized".to_string()))?;
        if threading < mpi::Threading::Serialized {
            return Err(failure(
                1,
                format!("this MPI library offers only {threading:?} threading; migrasim needs MPI_THREAD_SERIALIZED"),
            ));
        }
        let world = universe.world();
        let rank = world.rank() as usize;
        let size = world.size() as usize;
        let on_node = world.split_shared(0).size() as usize;
        Ok((universe, World { rank, size, on_node, comm: std::sync::Mutex::new(Comm(world)) }))
    }

    impl Comm {
        /// Every rank's bytes in rank order (all ranks, or rank 0 only), moved in pieces of at
        /// most [`PIECE`] bytes per rank.
        pub fn exchange(&self, mine: &[u8], to_root: bool) -> Vec<Vec<u8>> {
            let world = &self.0;
            let k = world.size() as usize;
            let is_root = world.rank() == 0;
            let mut lengths = vec![0u64; k];
            world.all_gather_into(&(mine.len() as u64), &mut lengths[..]);
            let mut out: Vec<Vec<u8>> = lengths
                .iter()
                .map(|&l| if !to_root || is_root { Vec::with_capacity(l as usize) } else { Vec::new() })
                .collect();
            let longest = lengths.iter().copied().max().unwrap_or(0) as usize;
            let mut offset = 0usize;
            loop {
                let counts: Vec<Count> =
                    lengths.iter().map(|&l| (l as usize).saturating_sub(offset).min(PIECE) as Count).collect();
                let mut displs = Vec::with_capacity(k);
                let mut total = 0 as Count;
                for &c in &counts {
                    displs.push(total);
                    total += c;
                }
                let send = &mine[offset.min(mine.len())..(offset + PIECE).min(mine.len())];
                if !to_root || is_root {
                    let mut buf = vec![0u8; total as usize];
                    {
                        let mut part = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
                        if to_root {
                            world.process_at_rank(0).gather_varcount_into_root(send, &mut part);
                        } else {
                            world.all_gather_varcount_into(send, &mut part);
                        }
                    }
                    for (r, o) in out.iter_mut().enumerate() {
                        let start = displs[r] as usize;
                        o.extend_from_slice(&buf[start..start + counts[r] as usize]);
                    }
                } else {
                    world.process_at_rank(0).gather_varcount_into(send);
                }
                offset += PIECE;
                if offset >= longest {
                    break;
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_unit_once_for_any_rank_count() {
        for n in [0usize, 1, 5, 12, 13] {
            for k in 1..=4 {
                let mut all: Vec<usize> = (0..k).flat_map(|r| share(n, r, k)).collect();
                all.sort_unstable();
                assert_eq!(all, (0..n).collect::<Vec<_>>(), "n = {n}, K = {k}");
            }
        }
    }

    #[test]
    fn one_rank_runs_every_unit_in_order_and_reports_the_first_failure() {
        let squares = map(6, Local::Parallel, |i| format!("unit {i}"), |i| Ok(i * i)).unwrap();
        assert_eq!(squares, vec![0, 1, 4, 9, 16, 25]);
        let failed: Result<Vec<usize>, String> =
            map(6, Local::Serial, |i| format!("unit {i}"), |i| if i == 3 { Err("bad".into()) } else { Ok(i) });
        assert_eq!(failed.unwrap_err(), "bad");
    }

    #[test]
    fn failures_on_several_ranks_are_named_once_with_their_ranks() {
        let f = |code, m: &str| failure(code, m.to_string());
        let combined = combine(&[(1, f(1, "disk")), (2, f(2, "no file")), (3, f(1, "disk"))], 4);
        assert_eq!(combined.code, 2);
        assert!(combined.message.contains("ranks 1, 3 of 4: disk"));
        assert!(combined.message.contains("rank 2 of 4: no file"));
    }
}
