//! Counter-based random draws keyed by (seed, year, household, purpose).
//!
//! A draw never depends on which thread made it or on how many draws other households made, so
//! results are bit-identical at any thread count and two scenarios with the same seed share their
//! random numbers (common random numbers). SplitMix64's finaliser is a strong 64-bit mixer; a
//! stream advances a counter through it.

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
}

#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A short stream of uniform draws for one household, year and purpose.
#[derive(Debug, Clone)]
pub struct Draws {
    state: u64,
}

impl Draws {
    #[inline]
    pub fn new(seed: u64, year: i32, id: u64, purpose: Purpose) -> Draws {
        let key = mix(seed ^ 0x9e37_79b9_7f4a_7c15)
            ^ mix((year as u64).wrapping_add(0x632b_e59b_d9b4_e019)).rotate_left(17)
            ^ mix(id.wrapping_mul(0xd1b5_4a32_d192_ed03))
            ^ mix(purpose as u64 ^ 0xa076_1d64_78bd_642f).rotate_left(41);
        Draws { state: mix(key) }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// Uniform in [0, 1) with 53 bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Number of successes in `n` trials of probability `p` (n is small: household members).
    #[inline]
    pub fn binomial(&mut self, n: u32, p: f64) -> u32 {
        (0..n).map(|_| u32::from(self.chance(p))).sum()
    }

    /// Approximately normal (Irwin–Hall with 4 terms): enough for ages and schooling years.
    #[inline]
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let sum: f64 = (0..4).map(|_| self.uniform()).sum();
        mean + sd * (sum - 2.0) * (3.0f64).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn uniform_draws_are_uniform_enough() {
        let n = 200_000;
        let mut buckets = [0u32; 10];
        let mut sum = 0.0;
        for id in 0..n {
            let u = Draws::new(1, 2024, id, Purpose::Move).uniform();
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
}
