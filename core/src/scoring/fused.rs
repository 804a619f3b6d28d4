//! Products of compact embeddings (float16, int8) with a few float32 columns, read straight
//! from their stored form: each 16 values of a row are widened to float32 in a register
//! (`vcvtph2ps`, or `vpmovsxbd` + `vcvtdq2ps`) and enter fused multiply-adds at once, so no
//! float32 copy of the block is written and read back. A tile of four rows by up to four
//! columns keeps sixteen independent sums in registers; an int8 row's sums are multiplied by
//! its scale at the end, so its columns are not rounded (unlike integer dot products).
//!
//! AVX-512F only, with a dimension that is a multiple of 16 (384, 512, 768 all are): other
//! CPUs and shapes use the kernel's converted blocks ([`super::kernel`]).
//!
//! Hand-written against DESIGN.md's rule (numerics through a SIMD/GEMM crate) because no
//! crate in the tree does this product: `gemm` takes float32 only (the converted blocks
//! cost as much as reading them), and simsimd's and NumKong's dot products take both sides
//! in one type, so the tag vectors would be rounded to the rows' (int8 tags cost 1.2e-2 of
//! score where these float32 ones cost 7.7e-3, `bench compact`). NumKong's packed f16
//! products (f32 sums) are the candidate to measure against this kernel. The tests below
//! check every tile shape against the converted rows.

use crate::model::dataset::vectors::Vectors;

/// Values per register.
const LANES: usize = 16;

/// Whether [`products`] can run for rows of dimension `dim` on this CPU.
pub(super) fn available(dim: usize) -> bool {
    dim > 0 && dim.is_multiple_of(LANES) && cpu()
}

fn cpu() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Asks for row `i` of `x` (dimension `dim`) to be fetched into the L1 cache, every line of
/// it, without waiting: a caller that reads rows at scattered places (a search's candidates)
/// asks for the next few while it multiplies this one, so that their memory latencies
/// overlap. Rows out of range are not asked for.
pub(super) fn prefetch_row(x: &Vectors<'_>, i: usize, dim: usize) {
    if i >= x.rows(dim) {
        return;
    }
    let (base, width) = x.address();
    let (start, end) = (base + i * dim * width, base + (i + 1) * dim * width);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let mut line = start & !63;
        while line < end {
            // SAFETY: a prefetch reads nothing the program sees and cannot fault; the
            // addresses are inside `x` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) };
            line += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, end);
}

/// `out (rows × cols, row-major) = x · wᵀ` for float16 or int8 rows `x` of dimension `dim`
/// and float32 columns `w` (row-major `cols × dim`). Returns `false` (and leaves `out`
/// alone) when it cannot: float32 rows, or not [`available`].
pub(super) fn products(
    x: &Vectors<'_>,
    dim: usize,
    w: &[f32],
    cols: usize,
    out: &mut [f32],
) -> bool {
    if matches!(x, Vectors::F32(_)) || !available(dim) {
        return false;
    }
    let rows = x.rows(dim);
    assert!(
        w.len() >= cols * dim && out.len() >= rows * cols,
        "product sizes"
    );
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `available` checked AVX-512F; the sizes are checked above and each kernel
        // reads rows `0..rows` of `x`, columns `0..cols` of `w`, and writes `out[..rows × cols]`.
        unsafe {
            match *x {
                Vectors::F16(bits) => {
                    assert!(bits.len() >= rows * dim);
                    avx512::half(bits, rows, dim, w, cols, out)
                }
                Vectors::I8 { codes, scales } => {
                    assert!(codes.len() >= rows * dim);
                    avx512::int8(codes, scales, rows, dim, w, cols, out)
                }
                Vectors::F32(_) => unreachable!("returned above"),
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (rows, out);
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::LANES;

    /// Rows per tile.
    const R: usize = 4;
    /// Columns per tile, at most.
    const C: usize = 4;
    /// How far ahead of the rows it reads a tile asks for them to be fetched into the L2
    /// cache, in bytes. With the hardware prefetcher alone a core read half floats at 11.4
    /// GB/s on the development machine, with this at 14.0 (8 KiB as well as any distance
    /// from 2 to 16 KiB; `T1`
    /// beat `T0`, and `NTA` halved the speed). `examples/kernel_bandwidth.rs` measures the
    /// kernel against a plain read of the same memory.
    const AHEAD: usize = 8 << 10;

    /// How a tile reads 16 values of a row as float32.
    trait Widen: Copy {
        /// # Safety
        /// `p` points at 16 readable values; the CPU has AVX-512F.
        unsafe fn widen(p: *const Self) -> __m512;
    }

    impl Widen for u16 {
        #[inline(always)]
        unsafe fn widen(p: *const u16) -> __m512 {
            // SAFETY: 16 half floats are 32 bytes from `p`; AVX-512F (caller).
            unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
        }
    }

    impl Widen for i8 {
        #[inline(always)]
        unsafe fn widen(p: *const i8) -> __m512 {
            // SAFETY: 16 codes are 16 bytes from `p`; AVX-512F (caller).
            unsafe {
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p as *const __m128i)))
            }
        }
    }

    /// # Safety
    /// AVX-512F; `bits` holds `rows × dim` values, `w` `cols × dim`, `out` `rows × cols`;
    /// `dim` is a multiple of 16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn half(
        bits: &[u16],
        rows: usize,
        dim: usize,
        w: &[f32],
        cols: usize,
        out: &mut [f32],
    ) {
        // SAFETY: passed on from the caller.
        unsafe { tiles(bits.as_ptr(), rows, dim, w, cols, out, |_| 1.0) }
    }

    /// # Safety
    /// As [`half`], and `scales` holds `rows` values.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn int8(
        codes: &[i8],
        scales: &[f32],
        rows: usize,
        dim: usize,
        w: &[f32],
        cols: usize,
        out: &mut [f32],
    ) {
        assert!(scales.len() >= rows);
        // SAFETY: passed on from the caller.
        unsafe { tiles(codes.as_ptr(), rows, dim, w, cols, out, |r| scales[r]) }
    }

    /// Every tile of the product: four rows at a time (then one), four columns at a time
    /// (then the rest); `scale(row)` multiplies each of the row's sums.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tiles<T: Widen>(
        x: *const T,
        rows: usize,
        dim: usize,
        w: &[f32],
        cols: usize,
        out: &mut [f32],
        scale: impl Fn(usize) -> f32,
    ) {
        // A single row (a search's re-rank) is fetched by its caller: reading ahead of it
        // would fetch memory nobody asked for.
        let ahead = rows > 1;
        let mut r = 0;
        while r < rows {
            let take = if rows - r >= R { R } else { 1 };
            let mut c = 0;
            while c < cols {
                let width = (cols - c).min(C);
                // SAFETY: rows `r..r + take` and columns `c..c + width` are in bounds
                // (caller's sizes).
                let sums = unsafe {
                    let xr = x.add(r * dim);
                    let wc = w.as_ptr().add(c * dim);
                    match (take, width) {
                        (R, 1) => tile::<T, R, 1>(xr, wc, dim, ahead),
                        (R, 2) => tile::<T, R, 2>(xr, wc, dim, ahead),
                        (R, 3) => tile::<T, R, 3>(xr, wc, dim, ahead),
                        (R, _) => tile::<T, R, C>(xr, wc, dim, ahead),
                        (_, 1) => tile::<T, 1, 1>(xr, wc, dim, ahead),
                        (_, 2) => tile::<T, 1, 2>(xr, wc, dim, ahead),
                        (_, 3) => tile::<T, 1, 3>(xr, wc, dim, ahead),
                        (_, _) => tile::<T, 1, C>(xr, wc, dim, ahead),
                    }
                };
                for i in 0..take {
                    let s = scale(r + i);
                    for j in 0..width {
                        out[(r + i) * cols + c + j] = sums[i][j] * s;
                    }
                }
                c += width;
            }
            r += take;
        }
    }

    /// The dot products of `RR` rows from `x` with `CC` columns from `w`, the rows `dim`
    /// apart (as the columns are); the sums of the unused slots of the `R × C` result are 0.
    /// `ahead`: the rows that follow are fetched [`AHEAD`] bytes ahead.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<T: Widen, const RR: usize, const CC: usize>(
        x: *const T,
        w: *const f32,
        dim: usize,
        ahead: bool,
    ) -> [[f32; C]; R] {
        let mut acc = [[_mm512_setzero_ps(); CC]; RR];
        let mut k = 0;
        while k < dim {
            // SAFETY: `k + 16 <= dim` for every row and column read (the caller's bounds).
            unsafe {
                let mut wv = [_mm512_setzero_ps(); CC];
                for (j, v) in wv.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(w.add(j * dim + k));
                }
                for (i, a) in acc.iter_mut().enumerate() {
                    if ahead && (k * size_of::<T>()).is_multiple_of(64) {
                        let distance = AHEAD / size_of::<T>();
                        _mm_prefetch::<_MM_HINT_T1>(
                            x.wrapping_add(i * dim + k + distance) as *const i8
                        );
                    }
                    let xv = T::widen(x.add(i * dim + k));
                    for (a, v) in a.iter_mut().zip(&wv) {
                        *a = _mm512_fmadd_ps(xv, *v, *a);
                    }
                }
            }
            k += LANES;
        }
        let mut sums = [[0f32; C]; R];
        for (s, a) in sums.iter_mut().zip(&acc) {
            for (s, a) in s.iter_mut().zip(a) {
                *s = _mm512_reduce_add_ps(*a);
            }
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::dataset::encoding::{Encoding, decode_array, encode_values};
    use crate::model::dataset::vectors::vectors;

    #[test]
    fn agrees_with_the_converted_rows_for_every_tile_shape() {
        if !available(48) {
            eprintln!("no AVX-512F: the fused kernel does not run on this CPU");
            return;
        }
        let dim = 48;
        // No rows, whole tiles of four and single rows; columns 1..=9 every width.
        for rows in [0, 1, 3, 4, 5, 9] {
            let x: Vec<f32> = (0..rows * dim)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 70.0)
                .collect();
            for cols in 1..=9 {
                let w: Vec<f32> = (0..cols * dim)
                    .map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0)
                    .collect();
                for e in [Encoding::Float16, Encoding::Int8] {
                    let arr = decode_array(&encode_values(&x, dim, e), dim, e);
                    let (v, _) = vectors(arr.as_ref()).unwrap();
                    let values = v.to_f32(dim);
                    let mut got = vec![f32::NAN; rows * cols];
                    assert!(products(&v, dim, &w, cols, &mut got));
                    for r in 0..rows {
                        for c in 0..cols {
                            let want: f32 = values[r * dim..(r + 1) * dim]
                                .iter()
                                .zip(&w[c * dim..(c + 1) * dim])
                                .map(|(a, b)| a * b)
                                .sum();
                            let g = got[r * cols + c];
                            assert!(
                                (g - want).abs() < 1e-4,
                                "{e} {rows}x{cols} [{r},{c}]: {g} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn declines_float32_rows_and_odd_dimensions() {
        let x = vec![0.5f32; 2 * 20];
        let w = vec![1f32; 20];
        let mut out = vec![0f32; 2];
        assert!(!products(&Vectors::F32(&x), 20, &w, 1, &mut out));
        let bits = vec![0u16; 2 * 20];
        assert!(
            !products(&Vectors::F16(&bits), 20, &w, 1, &mut out),
            "20 is not a multiple of 16"
        );
        assert_eq!(out, [0.0, 0.0]);
    }
}
