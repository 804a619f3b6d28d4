//! [`Vectors`]: a borrowed view of an embedding array in any in-memory encoding (see
//! `encoding.rs`), and the conversion of a block of it to float32 — what the scoring kernel
//! reads a block at a time, so that no float32 copy of a whole column is ever made.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float16Type, Float32Type, Int8Type,
};

/// Row-major embedding values in their in-memory encoding.
#[derive(Debug, Clone, Copy)]
pub enum Vectors<'a> {
    F32(&'a [f32]),
    /// IEEE half-precision bit patterns.
    F16(&'a [u16]),
    /// `value = code × scale`, one scale per row.
    I8 {
        codes: &'a [i8],
        scales: &'a [f32],
    },
}

/// The values of an embedding array (fixed-size list of float32 or float16, or an int8
/// struct of codes and scales) and its dimension; `None` for any other array.
pub fn vectors(array: &dyn Array) -> Option<(Vectors<'_>, usize)> {
    match array.data_type() {
        DataType::FixedSizeList(item, dim) => {
            let list = array.as_fixed_size_list();
            let dim = *dim as usize;
            let start = list.value_offset(0) as usize;
            let range = start..start + list.len() * dim;
            match item.data_type() {
                DataType::Float32 => {
                    let v = list.values().as_primitive_opt::<Float32Type>()?;
                    Some((Vectors::F32(v.values().get(range)?), dim))
                }
                DataType::Float16 => {
                    let v = list.values().as_primitive_opt::<Float16Type>()?;
                    let bits: &[u16] = v.values().inner().typed_data::<u16>();
                    Some((Vectors::F16(bits.get(range)?), dim))
                }
                _ => None,
            }
        }
        DataType::Struct(_) => {
            let s = array.as_struct();
            let codes = s.column_by_name("codes")?.as_fixed_size_list_opt()?;
            let scales = s
                .column_by_name("scale")?
                .as_primitive_opt::<Float32Type>()?;
            let dim = codes.value_length() as usize;
            let start = codes.value_offset(0) as usize;
            let values = codes.values().as_primitive_opt::<Int8Type>()?;
            Some((
                Vectors::I8 {
                    codes: values.values().get(start..start + codes.len() * dim)?,
                    scales: scales.values(),
                },
                dim,
            ))
        }
        _ => None,
    }
}

impl<'a> Vectors<'a> {
    /// The number of rows of dimension `dim`.
    pub fn rows(&self, dim: usize) -> usize {
        let dim = dim.max(1);
        match self {
            Self::F32(v) => v.len() / dim,
            Self::F16(v) => v.len() / dim,
            Self::I8 { scales, .. } => scales.len(),
        }
    }

    /// Rows `start..start + rows`.
    pub fn slice(&self, start: usize, rows: usize, dim: usize) -> Vectors<'a> {
        let r = start * dim..(start + rows) * dim;
        match *self {
            Self::F32(v) => Self::F32(&v[r]),
            Self::F16(v) => Self::F16(&v[r]),
            Self::I8 { codes, scales } => Self::I8 {
                codes: &codes[r],
                scales: &scales[start..start + rows],
            },
        }
    }

    /// The address of the first value and the bytes per value: where the array's values
    /// live, so that a cache can recognise them.
    pub fn address(&self) -> (usize, usize) {
        match self {
            Self::F32(v) => (v.as_ptr() as usize, 4),
            Self::F16(v) => (v.as_ptr() as usize, 2),
            Self::I8 { codes, .. } => (codes.as_ptr() as usize, 1),
        }
    }

    /// The values as float32, borrowed when they are float32 and converted into `scratch`
    /// otherwise.
    pub fn as_f32<'s>(&'s self, dim: usize, scratch: &'s mut Vec<f32>) -> &'s [f32] {
        match self {
            Self::F32(v) => v,
            _ => {
                // Every value is overwritten: only grow, never clear (a memset per block
                // cost as much as the conversion).
                let n = self.rows(dim) * dim;
                if scratch.len() < n {
                    scratch.resize(n, 0.0);
                }
                self.convert(dim, &mut scratch[..n]);
                &scratch[..n]
            }
        }
    }

    /// The values as a new float32 vector (small arrays: labelled rows, one row).
    pub fn to_f32(&self, dim: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.rows(dim) * dim];
        self.convert(dim, &mut out);
        out
    }

    /// Row `i` as float32.
    pub fn row(&self, i: usize, dim: usize) -> Vec<f32> {
        self.slice(i, 1, dim).to_f32(dim)
    }

    fn convert(&self, dim: usize, out: &mut [f32]) {
        match self {
            Self::F32(v) => out.copy_from_slice(v),
            Self::F16(v) => f16_to_f32(v, out),
            Self::I8 { codes, scales } => i8_to_f32(codes, scales, dim, out),
        }
    }
}

/// Half-precision bits to float32: the CPU's conversion instruction (F16C) where it has
/// one, eight values at a time.
fn f16_to_f32(src: &[u16], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has F16C and AVX (checked above).
        unsafe { f16_to_f32_f16c(src, dst) };
        return;
    }
    f16_to_f32_portable(src, dst)
}

fn f16_to_f32_portable(src: &[u16], dst: &mut [f32]) {
    type F16 = <Float16Type as ArrowPrimitiveType>::Native;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = F16::from_bits(*s).to_f32();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn f16_to_f32_f16c(src: &[u16], dst: &mut [f32]) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm256_cvtph_ps, _mm256_storeu_ps};
    let n = src.len().min(dst.len());
    let whole = n - n % 8;
    for i in (0..whole).step_by(8) {
        // SAFETY: `i + 8 <= n` for both slices; unaligned loads and stores.
        unsafe {
            let h = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        }
    }
    f16_to_f32_portable(&src[whole..n], &mut dst[whole..n]);
}

/// int8 codes times their row's scale, in SIMD lanes where the CPU has AVX2.
fn i8_to_f32(codes: &[i8], scales: &[f32], dim: usize, dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe { i8_to_f32_avx2(codes, scales, dim, dst) };
        return;
    }
    i8_to_f32_lanes(codes, scales, dim, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn i8_to_f32_avx2(codes: &[i8], scales: &[f32], dim: usize, dst: &mut [f32]) {
    i8_to_f32_lanes(codes, scales, dim, dst)
}

#[inline(always)]
fn i8_to_f32_lanes(codes: &[i8], scales: &[f32], dim: usize, dst: &mut [f32]) {
    for ((d, c), s) in dst
        .chunks_exact_mut(dim)
        .zip(codes.chunks_exact(dim))
        .zip(scales)
    {
        for (d, c) in d.iter_mut().zip(c) {
            *d = f32::from(*c) * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_half_conversion_matches_the_portable_one() {
        // Every finite half value, and the infinities, in an odd length (a remainder).
        let src: Vec<u16> = (0..=u16::MAX)
            .filter(|b| (b & 0x7c00) != 0x7c00 || (b & 0x3ff) == 0)
            .chain([1, 2, 3])
            .collect();
        let mut a = vec![0f32; src.len()];
        let mut b = vec![0f32; src.len()];
        f16_to_f32(&src, &mut a);
        f16_to_f32_portable(&src, &mut b);
        assert_eq!(a, b);
        let mut c = vec![0f32; 6];
        i8_to_f32(&[1, -2, 127, 0, -127, 5], &[0.5, 2.0], 3, &mut c);
        assert_eq!(c, vec![0.5, -1.0, 63.5, 0.0, -254.0, 10.0]);
    }
}
