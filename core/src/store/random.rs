//! The one source of randomness: SplitMix64, seeded for reproducible samples (tests, a
//! preview's `seed`) or from the operating system's entropy (back-off jitter, fresh seeds).

/// A small, fast, seedable generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    /// A generator whose sequence is fixed by `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator seeded from the operating system.
    pub fn from_entropy() -> Self {
        Self(fresh_seed())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `k` items of `v` chosen uniformly without replacement (partial Fisher–Yates).
    pub fn choose<T>(&mut self, mut v: Vec<T>, k: usize) -> Vec<T> {
        let k = k.min(v.len());
        for i in 0..k {
            let j = i + self.below((v.len() - i) as u64) as usize;
            v.swap(i, j);
        }
        v.truncate(k);
        v
    }
}

/// A seed from the operating system's entropy (for callers that were given none).
pub fn fresh_seed() -> u64 {
    uuid::Uuid::new_v4().as_u128() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_fixes_the_sequence_and_choose_takes_distinct_items() {
        let a: Vec<u64> = (0..5)
            .scan(Random::seeded(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .scan(Random::seeded(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
        let mut picked = Random::seeded(1).choose((0..100).collect::<Vec<u32>>(), 10);
        picked.sort();
        picked.dedup();
        assert_eq!(picked.len(), 10);
    }
}
