//! The workers' random victim choice: a xorshift generator (Marsaglia's
//! 32-bit triple 13, 17, 5), enough to spread steals over victims, with no
//! dependency and a few instructions a draw. Not for anything secret.

/// A xorshift32 generator; its state is never zero.
pub(crate) struct VictimRng(u32);

impl VictimRng {
    /// A generator seeded from `seed` (any value; the bits are mixed so
    /// that nearby seeds, one per worker, start far apart).
    pub(crate) fn new(seed: u64) -> VictimRng {
        // A multiply-xorshift mix (the SplitMix64 finalizer's shape).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let s = (z as u32) ^ ((z >> 32) as u32);
        VictimRng(if s == 0 { 0x6D2B_79F5 } else { s })
    }

    /// The next value.
    #[inline]
    pub(crate) fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;

    #[test]
    fn draws_cover_every_victim_and_seeds_differ() {
        let mut rng = VictimRng::new(7);
        let mut seen = [0u32; 5];
        for _ in 0..5_000 {
            let v = ((u64::from(rng.next_u32()) * 5) >> 32) as usize;
            seen[v] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        let (mut a, mut b) = (VictimRng::new(1), VictimRng::new(2));
        assert_ne!(a.next_u32(), b.next_u32());
        assert_ne!(VictimRng::new(0).next_u32(), 0);
    }
}
