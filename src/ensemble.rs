//! Replicates: runs of one plan with seeds derived from the scenario seed, one run at a time
//! (`run_one`, the unit of work spread over MPI ranks) or one after another. What a run's records
//! say, and their bands over runs, live in `results`.
//!
//! Replicate 0 uses the scenario seed itself, so one replicate is exactly a plain run. Scenario
//! comparisons reuse the same seeds for every scenario (common random numbers), so a difference
//! between scenarios is the policy's effect, not noise.

use crate::engine::{Plan, Simulation, Timings, YearRecord};
use crate::geo::Geography;
use crate::population::SynthesisReport;

/// Seeds of `replicates` runs: the scenario seed first, then derived ones.
pub fn replicate_seeds(seed: u64, replicates: u32) -> Vec<u64> {
    (0..u64::from(replicates))
        .map(|r| {
            if r == 0 {
                seed
            } else {
                // SplitMix64 of (seed, r): well spread, reproducible, documented.
                let mut z = seed ^ r.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
        })
        .collect()
}

/// One finished run: what the outputs need, without the households.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunResult {
    pub seed: u64,
    pub records: Vec<YearRecord>,
    pub persons_per_member: f64,
    pub synthesis: SynthesisReport,
    pub timings: Timings,
}

/// Runs `plan` once per seed, one after another (each run is itself parallel). The geography
/// and the parsed plan are shared; only the households are rebuilt.
pub fn run_replicates(
    geo: &Geography,
    plan: &Plan,
    seeds: &[u64],
    mut progress: impl FnMut(usize, i32),
) -> Vec<RunResult> {
    seeds.iter().enumerate().map(|(r, &seed)| run_one(geo, plan, seed, |year| progress(r, year))).collect()
}

/// One run of `plan` with `seed` in place of the scenario's seed; `progress` hears each year.
pub fn run_one(geo: &Geography, plan: &Plan, seed: u64, progress: impl FnMut(i32)) -> RunResult {
    let mut plan = plan.clone();
    plan.scenario.run.seed = seed;
    let mut sim = Simulation::new(geo, plan);
    sim.run(progress);
    RunResult {
        seed,
        persons_per_member: sim.persons_per_member,
        synthesis: sim.synthesis.clone(),
        timings: sim.timings.clone(),
        records: std::mem::take(&mut sim.records),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_start_with_the_scenario_seed_and_are_distinct() {
        let seeds = replicate_seeds(42, 10);
        assert_eq!(seeds[0], 42);
        let mut unique = seeds.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_eq!(replicate_seeds(42, 10), seeds, "derivation is reproducible");
    }
}
