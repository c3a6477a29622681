//! The vector kernels of validation and aggregation, with runtime dispatch to the CPU's
//! vector units.
//!
//! Release builds target the baseline x86-64 instruction set (SSE2) so that the binary
//! runs anywhere; the kernels here are compiled a second time with AVX2 enabled
//! (`#[target_feature]`) and the best version is chosen once per process from what the
//! CPU reports ([`Isa::detect`]). Every version performs the same operations in the same
//! order — comparisons and integer min/max, no floating-point arithmetic whose rounding
//! could differ (and Rust never contracts `a * b + c` into an FMA) — so results are
//! identical whatever the CPU. `[Isa::Baseline]` stays callable so that benchmarks can
//! show what the vector path buys.

use std::sync::OnceLock;

/// An instruction-set level the kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// The build's target (x86-64 baseline: SSE2).
    Baseline,
    /// x86-64 with AVX2 (256-bit vectors).
    Avx2,
}

impl Isa {
    /// The best level this CPU supports (detected once).
    pub fn detect() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
            Isa::Baseline
        })
    }

    /// Every level this CPU can run, baseline first.
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::Baseline];
        if Isa::detect() == Isa::Avx2 {
            v.push(Isa::Avx2);
        }
        v
    }
}

/// Values per block between early exits.
const BLOCK: usize = 1024;

/// Whether every value is in `[lo, hi]` (NaN never is).
pub fn all_in_range(values: &[f64], lo: f64, hi: f64) -> bool {
    all_in_range_with(Isa::detect(), values, lo, hi)
}

/// Whether every value is finite.
pub fn all_finite(values: &[f64]) -> bool {
    all_in_range(values, f64::MIN, f64::MAX)
}

/// [`all_in_range`] on a chosen instruction set (falls back to the baseline when the CPU
/// lacks it).
pub fn all_in_range_with(isa: Isa, values: &[f64], lo: f64, hi: f64) -> bool {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 && Isa::detect() == Isa::Avx2 {
        // SAFETY: the CPU supports AVX2 (checked by `Isa::detect`).
        return unsafe { all_in_range_avx2(values, lo, hi) };
    }
    let _ = isa;
    all_in_range_kernel(values, lo, hi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn all_in_range_avx2(values: &[f64], lo: f64, hi: f64) -> bool {
    all_in_range_kernel(values, lo, hi)
}

/// Branch-free inside a block, with integer masks in lanes, so that the compiler turns it
/// into vector compares.
#[inline(always)]
fn all_in_range_kernel(values: &[f64], lo: f64, hi: f64) -> bool {
    const LANES: usize = 8;
    for block in values.chunks(BLOCK) {
        let mut bad = [0u64; LANES];
        let lanes = block.chunks_exact(LANES);
        let rest = lanes.remainder();
        for c in lanes {
            for j in 0..LANES {
                bad[j] |= u64::from(!((c[j] >= lo) & (c[j] <= hi)));
            }
        }
        for &v in rest {
            bad[0] |= u64::from(!((v >= lo) & (v <= hi)));
        }
        if bad.iter().any(|&b| b != 0) {
            return false;
        }
    }
    true
}

/// The smallest and largest value (`(i64::MAX, i64::MIN)` when empty).
pub fn min_max(values: &[i64]) -> (i64, i64) {
    min_max_with(Isa::detect(), values)
}

/// [`min_max`] on a chosen instruction set.
pub fn min_max_with(isa: Isa, values: &[i64]) -> (i64, i64) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 && Isa::detect() == Isa::Avx2 {
        // SAFETY: the CPU supports AVX2 (checked by `Isa::detect`).
        return unsafe { min_max_avx2(values) };
    }
    let _ = isa;
    min_max_kernel(values)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn min_max_avx2(values: &[i64]) -> (i64, i64) {
    min_max_kernel(values)
}

#[inline(always)]
fn min_max_kernel(values: &[i64]) -> (i64, i64) {
    const LANES: usize = 8;
    let mut lo = [i64::MAX; LANES];
    let mut hi = [i64::MIN; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            lo[j] = lo[j].min(c[j]);
            hi[j] = hi[j].max(c[j]);
        }
    }
    let mut l = lo.iter().copied().min().unwrap_or(i64::MAX);
    let mut h = hi.iter().copied().max().unwrap_or(i64::MIN);
    for &v in rest {
        l = l.min(v);
        h = h.max(v);
    }
    (l, h)
}

/// Maps `keys` through `table` (`out[i] = table[keys[i]]`) and reports whether every
/// result is below `limit` (the resolved-key sentinels are at the top of the `u32`
/// range). Keys must be in bounds of `table`.
pub fn gather_below(table: &[u32], keys: &[u32], limit: u32, out: &mut Vec<u32>) -> bool {
    gather_below_with(Isa::detect(), table, keys, limit, out)
}

/// [`gather_below`] on a chosen instruction set.
pub fn gather_below_with(
    isa: Isa,
    table: &[u32],
    keys: &[u32],
    limit: u32,
    out: &mut Vec<u32>,
) -> bool {
    out.clear();
    out.reserve(keys.len());
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 && Isa::detect() == Isa::Avx2 {
        // SAFETY: the CPU supports AVX2 (checked by `Isa::detect`).
        return unsafe { gather_below_avx2(table, keys, limit, out) };
    }
    let _ = isa;
    gather_below_kernel(table, keys, limit, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gather_below_avx2(table: &[u32], keys: &[u32], limit: u32, out: &mut Vec<u32>) -> bool {
    gather_below_kernel(table, keys, limit, out)
}

#[inline(always)]
fn gather_below_kernel(table: &[u32], keys: &[u32], limit: u32, out: &mut Vec<u32>) -> bool {
    out.extend(keys.iter().map(|&k| table[k as usize]));
    out.iter().fold(true, |ok, &v| ok & (v < limit))
}

/// Whether `owner[user[i]] == service[i]` for every row (every visit made by its user's
/// service). Indices must be in bounds of `owner`.
pub fn all_owned(owner: &[u32], user: &[u32], service: &[u32]) -> bool {
    all_owned_with(Isa::detect(), owner, user, service)
}

/// [`all_owned`] on a chosen instruction set.
pub fn all_owned_with(isa: Isa, owner: &[u32], user: &[u32], service: &[u32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 && Isa::detect() == Isa::Avx2 {
        // SAFETY: the CPU supports AVX2 (checked by `Isa::detect`).
        return unsafe { all_owned_avx2(owner, user, service) };
    }
    let _ = isa;
    all_owned_kernel(owner, user, service)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn all_owned_avx2(owner: &[u32], user: &[u32], service: &[u32]) -> bool {
    all_owned_kernel(owner, user, service)
}

#[inline(always)]
fn all_owned_kernel(owner: &[u32], user: &[u32], service: &[u32]) -> bool {
    let mut ok = true;
    for (&u, &s) in user.iter().zip(service) {
        ok &= owner[u as usize] == s;
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_isa_agrees_with_the_plain_definition(
            v in prop::collection::vec(prop_oneof![
                -10.0f64..10.0,
                Just(f64::NAN),
                Just(f64::INFINITY),
            ], 0..3000),
            t in prop::collection::vec(-1_000_000i64..1_000_000, 0..3000),
        ) {
            let plain = v.iter().all(|&x| (0.0..=5.0).contains(&x));
            let finite = v.iter().all(|x| x.is_finite());
            let mm = (
                t.iter().copied().min().unwrap_or(i64::MAX),
                t.iter().copied().max().unwrap_or(i64::MIN),
            );
            for isa in Isa::available() {
                prop_assert_eq!(all_in_range_with(isa, &v, 0.0, 5.0), plain);
                prop_assert_eq!(all_in_range_with(isa, &v, f64::MIN, f64::MAX), finite);
                prop_assert_eq!(min_max_with(isa, &t), mm);
            }
        }

        #[test]
        fn gathers_agree(keys in prop::collection::vec(0u32..50, 0..500)) {
            let table: Vec<u32> = (0..50).map(|i| if i % 7 == 3 { u32::MAX } else { i * 3 }).collect();
            let plain: Vec<u32> = keys.iter().map(|&k| table[k as usize]).collect();
            let all_ok = plain.iter().all(|&x| x < u32::MAX - 1);
            let service: Vec<u32> = keys.iter().map(|&k| k % 5).collect();
            let owner: Vec<u32> = (0..50).map(|i| i % 5).collect();
            for isa in Isa::available() {
                let mut out = Vec::new();
                prop_assert_eq!(gather_below_with(isa, &table, &keys, u32::MAX - 1, &mut out), all_ok);
                prop_assert_eq!(&out, &plain);
                prop_assert!(all_owned_with(isa, &owner, &keys, &service));
            }
        }
    }
}
