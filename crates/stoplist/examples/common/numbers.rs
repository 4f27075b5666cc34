//! The benchmarks' deterministic numbers, shared by `bench_seed` and `bench_check`.

/// Valid AU mobiles: +614, then 0-3 or 6, then 7 digits from a fixed LCG of `i`.
pub fn number(i: u64) -> String {
    let x = i
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    let lead = [0, 1, 2, 3, 6][((x >> 13) % 5) as usize];
    format!("+614{lead}{:07}", (x >> 33) % 10_000_000)
}
