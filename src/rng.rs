//! Counter-based random streams keyed by (seed, year, household, purpose), as `rand_core`
//! generators: every distribution is drawn through `rand` and `rand_distr` from these streams.
//!
//! A draw never depends on which thread made it or on how many draws other households made, so
//! results are bit-identical at any thread count and two scenarios with the same seed share their
//! random numbers (common random numbers). The key is derived in three steps so the hot loop pays
//! for little of it: a [`YearKey`] from the seed and the year (once a year), a [`HouseholdKey`]
//! from it and the household id (one SplitMix64 finaliser per household and pass), and a
//! stream per purpose at a fixed counter offset within the household's key (free). A stream is
//! SplitMix64: a Weyl counter through the finaliser, one finaliser per 64-bit output.

use rand::rand_core::{self, Infallible, TryRng};

/// Why a household draws; each purpose has its own stream so adding draws to one decision does
/// not shift the numbers another decision sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    Synthesis = 1,
    Move = 2,
    Settle = 3,
    Demography = 4,
    InPlace = 5,
    Admission = 6,
    Reunify = 7,
    Accrual = 8,
    Destination = 9,
    Housing = 10,
    Relocation = 11,
    /// Proposals of the posterior ensemble (`calibrate --ensemble`), not households.
    Ensemble = 12,
    /// Whether, and where first, anything happens to a household this year (`step::first_event`).
    Gate = 13,
}

/// SplitMix64's increment (the golden ratio in 64 bits): odd, so counters map one to one.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
/// Counter offset between purposes: a stream may take 2^32 draws before it reaches the next.
const PURPOSE_STRIDE: u64 = 1 << 32;

/// SplitMix64's finaliser (Stafford's Mix13): a bijection on 64 bits with full avalanche.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The part of a key fixed by the seed and the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearKey(u64);

impl YearKey {
    pub fn new(seed: u64, year: i32) -> YearKey {
        YearKey(
            mix(seed ^ 0x632b_e59b_d9b4_e019) ^ mix((year as u64).wrapping_add(0xa076_1d64_78bd_642f)).rotate_left(17),
        )
    }

    /// The key of household (or item) `id` in this year. The finaliser is a bijection, so two ids
    /// of one year never share a key.
    #[inline]
    pub fn household(self, id: u64) -> HouseholdKey {
        HouseholdKey(mix(self.0 ^ id.wrapping_mul(0xd1b5_4a32_d192_ed03)))
    }
}

/// The key of one household in one year; streams for each purpose derive from it at no cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HouseholdKey(u64);

impl HouseholdKey {
    /// The household's stream for `purpose`: counters `purpose × 2^32 + 1, + 2, …` of its key.
    #[inline]
    pub fn draws(self, purpose: Purpose) -> Draws {
        Draws { state: self.0.wrapping_add((purpose as u64 * PURPOSE_STRIDE).wrapping_mul(GAMMA)) }
    }
}

/// A stream of random words for one household, year and purpose: a `rand_core` generator, so
/// `rand`'s and `rand_distr`'s distributions sample from it (`RngExt::random`, `sample`).
#[derive(Debug, Clone)]
pub struct Draws {
    state: u64,
}

impl Draws {
    /// The stream of (seed, year, id, purpose) with the whole key derived here: for draws outside
    /// the household passes, which hold their [`YearKey`] instead.
    pub fn new(seed: u64, year: i32, id: u64, purpose: Purpose) -> Draws {
        YearKey::new(seed, year).household(id).draws(purpose)
    }

    #[inline]
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }
}

impl TryRng for Draws {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        // The upper half: the finaliser's best-mixed bits.
        Ok((self.next() >> 32) as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        rand_core::utils::fill_bytes_via_next_word(dst, || Ok(self.next()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use rand::RngExt;

    #[test]
    fn same_key_same_numbers_different_key_different_numbers() {
        let a: Vec<u64> = {
            let mut d = Draws::new(7, 2024, 42, Purpose::Move);
            (0..4).map(|_| d.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut d = Draws::new(7, 2024, 42, Purpose::Move);
            (0..4).map(|_| d.next_u64()).collect()
        };
        assert_eq!(a, b);
        for other in [
            Draws::new(8, 2024, 42, Purpose::Move),
            Draws::new(7, 2025, 42, Purpose::Move),
            Draws::new(7, 2024, 43, Purpose::Move),
            Draws::new(7, 2024, 42, Purpose::Settle),
        ] {
            let mut o = other;
            assert_ne!(o.next_u64(), a[0]);
        }
    }

    #[test]
    fn the_staged_key_is_the_whole_key() {
        let year = YearKey::new(7, 2024);
        let mut staged = year.household(42).draws(Purpose::Demography);
        let mut whole = Draws::new(7, 2024, 42, Purpose::Demography);
        assert_eq!(staged.next_u64(), whole.next_u64());
    }

    #[test]
    fn purposes_of_one_household_do_not_share_numbers() {
        let key = YearKey::new(1, 2024).household(5);
        let streams = [Purpose::Move, Purpose::Settle, Purpose::Demography, Purpose::Accrual];
        let words: Vec<Vec<u64>> = streams
            .iter()
            .map(|&p| {
                let mut d = key.draws(p);
                (0..64).map(|_| d.next_u64()).collect()
            })
            .collect();
        for i in 0..words.len() {
            for j in i + 1..words.len() {
                assert!(words[i].iter().all(|w| !words[j].contains(w)), "streams {i} and {j} overlap");
            }
        }
    }

    #[test]
    fn uniform_draws_are_uniform_enough() {
        let n = 200_000;
        let mut buckets = [0u32; 10];
        let mut sum = 0.0;
        let year = YearKey::new(1, 2024);
        for id in 0..n {
            let u: f64 = year.household(id).draws(Purpose::Move).random();
            assert!((0.0..1.0).contains(&u));
            buckets[(u * 10.0) as usize] += 1;
            sum += u;
        }
        let mean = sum / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
        for b in buckets {
            let share = b as f64 / n as f64;
            assert!((share - 0.1).abs() < 0.005, "bucket share {share}");
        }
    }

    #[test]
    fn successive_households_are_uncorrelated() {
        // Neighbouring ids feed the finaliser keys one step apart: their first uniforms must
        // not move together.
        let year = YearKey::new(3, 2025);
        let u: Vec<f64> = (0..100_000u64).map(|id| year.household(id).draws(Purpose::Settle).random()).collect();
        let mean = u.iter().sum::<f64>() / u.len() as f64;
        let var = u.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / u.len() as f64;
        let lag1 = u.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>() / (u.len() - 1) as f64;
        assert!((lag1 / var).abs() < 0.01, "lag-1 correlation {}", lag1 / var);
    }
}
