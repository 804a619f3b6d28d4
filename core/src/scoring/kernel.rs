//! The scoring kernel: N embeddings against T compiled tag heads as one matrix product
//! (through the `gemm` crate's SIMD kernels) followed by an element-wise map.
//!
//! For a tag with centroid `c` and negatives `N` (its own negative prompts plus the
//! modality's background prompts) the score is the binary softmax of DESIGN.md,
//!
//! ```text
//! score(x) = exp(τ x·c) / (exp(τ x·c) + Σ_{n∈N} exp(τ x·n)) = σ(τ x·c − LSE_{n∈N}(τ x·n))
//! ```
//!
//! The background prompts are shared by every tag of a modality, so their log-sum-exp is
//! computed once per row — or supplied by the caller when it was computed before (see
//! [`Scorer::score_with_background`]): a tag without negative prompts then costs one dot
//! product and one `exp` per row, the work of a logistic head `σ(x·w + b)`.

use rayon::prelude::*;

/// Rows per matrix-product block: the block's logits stay in the L1/L2 cache for the map.
const BLOCK_ROWS: usize = 512;

/// A compiled set of tag heads over one embedding space.
#[derive(Debug, Clone)]
pub struct Scorer {
    dim: usize,
    /// Background columns, row-major `backgrounds × dim`, already scaled.
    bg: Vec<f32>,
    backgrounds: usize,
    /// Head columns, row-major `cols × dim`, already scaled.
    w: Vec<f32>,
    cols: usize,
    heads: Vec<HeadCols>,
}

#[derive(Debug, Clone)]
enum HeadCols {
    /// `σ(l[col] + bias)`.
    Linear { col: usize, bias: f32 },
    /// `σ(l[pos] + bias − LSE(background, l[negs]))`.
    Softmax {
        pos: usize,
        negs: std::ops::Range<usize>,
        bias: f32,
    },
}

/// One tag head as the kernel sees it.
#[derive(Debug, Clone)]
pub enum HeadSpec {
    /// Zero-shot softmax head: unit positive centroid, unit negative prompt vectors, logit
    /// scale τ (the background prompts are shared, see [`Scorer::new`]), and optionally a
    /// linear correction `(Δw, Δb)` learned from labels, added to its logit.
    Softmax {
        centroid: Vec<f32>,
        negatives: Vec<Vec<f32>>,
        scale: f32,
        correction: Option<(Vec<f32>, f32)>,
    },
    /// Logistic head `σ(x·w + b)` (trained from labels).
    Logistic { weights: Vec<f32>, bias: f32 },
}

impl Scorer {
    /// Compiles `heads` over unit vectors of dimension `dim`; `backgrounds` are the
    /// modality's background prompt vectors, alternatives in every softmax head, whose
    /// logits use `background_scale` (the model's τ).
    pub fn new(
        dim: usize,
        backgrounds: &[Vec<f32>],
        background_scale: f32,
        heads: &[HeadSpec],
    ) -> Self {
        let bg: Vec<f32> = backgrounds
            .iter()
            .flat_map(|b| b.iter().map(|x| x * background_scale))
            .collect();
        let mut w: Vec<f32> = Vec::new();
        let mut cols = 0;
        let mut compiled = Vec::with_capacity(heads.len());
        for h in heads {
            match h {
                HeadSpec::Softmax {
                    centroid,
                    negatives,
                    scale,
                    correction,
                } => {
                    match correction {
                        Some((delta, _)) => {
                            w.extend(centroid.iter().zip(delta).map(|(c, d)| scale * c + d))
                        }
                        None => w.extend(centroid.iter().map(|c| scale * c)),
                    }
                    for n in negatives {
                        w.extend(n.iter().map(|v| scale * v));
                    }
                    compiled.push(HeadCols::Softmax {
                        pos: cols,
                        negs: cols + 1..cols + 1 + negatives.len(),
                        bias: correction.as_ref().map_or(0.0, |c| c.1),
                    });
                    cols += 1 + negatives.len();
                }
                HeadSpec::Logistic { weights, bias } => {
                    w.extend(weights.iter().copied());
                    compiled.push(HeadCols::Linear {
                        col: cols,
                        bias: *bias,
                    });
                    cols += 1;
                }
            }
        }
        debug_assert_eq!(w.len(), cols * dim);
        Self {
            dim,
            bg,
            backgrounds: backgrounds.len(),
            w,
            cols,
            heads: compiled,
        }
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of tags (columns of the output).
    pub fn num_tags(&self) -> usize {
        self.heads.len()
    }

    /// Scores `x` (row-major `n × dim`) into `out` (row-major `n × num_tags`), on the
    /// calling thread.
    pub fn score(&self, x: &[f32], out: &mut [f32]) {
        let n = x.len() / self.dim;
        assert_eq!(out.len(), n * self.num_tags(), "output size");
        let mut bg = vec![0f32; n];
        self.background(x, &mut bg);
        self.score_with_background(x, &bg, out);
    }

    /// Like [`Scorer::score`], spread over rayon's threads.
    pub fn score_parallel(&self, x: &[f32], out: &mut [f32]) {
        let n = x.len() / self.dim;
        assert_eq!(out.len(), n * self.num_tags(), "output size");
        let t = self.num_tags().max(1);
        x.par_chunks(BLOCK_ROWS * 8 * self.dim)
            .zip(out.par_chunks_mut(BLOCK_ROWS * 8 * t))
            .for_each(|(xb, ob)| self.score(xb, ob));
    }

    /// The per-row log-sum-exp of the background logits of `x` into `out` (one per row):
    /// what [`Scorer::score_with_background`] needs, and what a caller may keep.
    pub fn background(&self, x: &[f32], out: &mut [f32]) {
        let n = x.len() / self.dim;
        assert_eq!(out.len(), n, "one background value per row");
        if self.backgrounds == 0 {
            out.fill(f32::NEG_INFINITY);
            return;
        }
        let mut logits = vec![0f32; BLOCK_ROWS.min(n.max(1)) * self.backgrounds];
        for (xb, ob) in x
            .chunks(BLOCK_ROWS * self.dim)
            .zip(out.chunks_mut(BLOCK_ROWS))
        {
            let rows = xb.len() / self.dim;
            let l = &mut logits[..rows * self.backgrounds];
            matmul(xb, rows, self.dim, &self.bg, self.backgrounds, l);
            for (row, o) in l.chunks_exact(self.backgrounds).zip(ob.iter_mut()) {
                *o = log_sum_exp(row);
            }
        }
    }

    /// Scores `x` given the per-row background log-sum-exp `bg` (from
    /// [`Scorer::background`]): only the tags' own columns enter the matrix product.
    pub fn score_with_background(&self, x: &[f32], bg: &[f32], out: &mut [f32]) {
        let n = x.len() / self.dim;
        assert_eq!(out.len(), n * self.num_tags(), "output size");
        assert_eq!(bg.len(), n, "one background value per row");
        if n == 0 || self.heads.is_empty() {
            return;
        }
        let t = self.heads.len();
        let mut logits = vec![0f32; BLOCK_ROWS.min(n) * self.cols];
        for ((xb, ob), bb) in x
            .chunks(BLOCK_ROWS * self.dim)
            .zip(out.chunks_mut(BLOCK_ROWS * t))
            .zip(bg.chunks(BLOCK_ROWS))
        {
            let rows = xb.len() / self.dim;
            let logits = &mut logits[..rows * self.cols];
            matmul(xb, rows, self.dim, &self.w, self.cols, logits);
            for ((l, o), &b) in logits
                .chunks_exact(self.cols)
                .zip(ob.chunks_exact_mut(t))
                .zip(bb)
            {
                for (h, o) in self.heads.iter().zip(o.iter_mut()) {
                    *o = match h {
                        HeadCols::Linear { col, bias } => sigmoid(l[*col] + bias),
                        HeadCols::Softmax { pos, negs, bias } if negs.is_empty() => {
                            sigmoid(l[*pos] + bias - b)
                        }
                        HeadCols::Softmax { pos, negs, bias } => {
                            let negs = &l[negs.clone()];
                            let m = negs.iter().copied().fold(b, f32::max);
                            let s: f32 = negs.iter().map(|&v| fast_exp(v - m)).sum::<f32>()
                                + fast_exp(b - m);
                            sigmoid(l[*pos] + bias - (m + s.ln()))
                        }
                    };
                }
            }
        }
    }
}

/// `out (rows × cols, row-major) = x (rows × dim) · wᵀ`, with `w` row-major `cols × dim`.
fn matmul(x: &[f32], rows: usize, dim: usize, w: &[f32], cols: usize, out: &mut [f32]) {
    debug_assert!(x.len() >= rows * dim && w.len() >= cols * dim && out.len() >= rows * cols);
    // SAFETY: the pointers and strides describe the slices above, which are large enough.
    unsafe {
        gemm::gemm(
            rows,
            cols,
            dim,
            out.as_mut_ptr(),
            1,
            cols as isize,
            false,
            x.as_ptr(),
            1,
            dim as isize,
            w.as_ptr(),
            dim as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn log_sum_exp(v: &[f32]) -> f32 {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    m + v.iter().map(|&x| fast_exp(x - m)).sum::<f32>().ln()
}

#[inline]
fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + fast_exp(-z))
}

/// `exp(x)` to about 2 ulp for |x| < 87, saturating beyond: range reduction by powers of
/// two and a degree-6 polynomial, branch-free so that loops over it vectorise.
#[inline]
pub fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let k = (x * std::f32::consts::LOG2_E).round();
    let r = x - k * 0.693_145_75 - k * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    let bits = ((k as i32 + 127) as u32) << 23;
    p * f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    /// The textbook formula, in f64.
    fn reference(x: &[f32], c: &[f32], negs: &[&[f32]], tau: f64) -> f64 {
        let dot = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(p, q)| *p as f64 * *q as f64)
                .sum::<f64>()
        };
        let e = (tau * dot(x, c)).exp();
        e / (e + negs.iter().map(|n| (tau * dot(x, n)).exp()).sum::<f64>())
    }

    #[test]
    fn fast_exp_is_accurate() {
        for i in -8700..8800 {
            let x = i as f32 / 100.0;
            let rel = ((fast_exp(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs();
            assert!(rel < 1e-6, "exp({x}) off by {rel}");
        }
    }

    #[test]
    fn matches_the_softmax_formula() {
        let dim = 8;
        let mk = |seed: u32| {
            unit(
                (0..dim)
                    .map(|i| ((i as u32 * 7 + seed * 13) % 11) as f32 - 5.0)
                    .collect(),
            )
        };
        let bgs = vec![mk(1), mk(2)];
        let c1 = mk(3);
        let n1 = mk(4);
        let c2 = mk(5);
        let heads = vec![
            HeadSpec::Softmax {
                centroid: c1.clone(),
                negatives: vec![n1.clone()],
                scale: 20.0,
                correction: None,
            },
            HeadSpec::Softmax {
                centroid: c2.clone(),
                negatives: vec![],
                scale: 20.0,
                correction: None,
            },
            HeadSpec::Logistic {
                weights: c1.clone(),
                bias: -0.25,
            },
        ];
        let scorer = Scorer::new(dim, &bgs, 20.0, &heads);
        let xs: Vec<Vec<f32>> = (0..600).map(|s| mk(s + 6)).collect();
        let flat: Vec<f32> = xs.concat();
        let mut out = vec![0f32; xs.len() * 3];
        scorer.score(&flat, &mut out);
        let mut par = vec![0f32; xs.len() * 3];
        scorer.score_parallel(&flat, &mut par);
        assert_eq!(out, par);
        let mut bg = vec![0f32; xs.len()];
        scorer.background(&flat, &mut bg);
        let mut kept = vec![0f32; xs.len() * 3];
        scorer.score_with_background(&flat, &bg, &mut kept);
        assert_eq!(out, kept);
        for (i, x) in xs.iter().enumerate() {
            let want1 = reference(x, &c1, &[&n1, &bgs[0], &bgs[1]], 20.0);
            let want2 = reference(x, &c2, &[&bgs[0], &bgs[1]], 20.0);
            let dot: f64 = x.iter().zip(&c1).map(|(a, b)| *a as f64 * *b as f64).sum();
            let want3 = 1.0 / (1.0 + (-(dot - 0.25)).exp());
            for (got, want) in [
                (out[i * 3], want1),
                (out[i * 3 + 1], want2),
                (out[i * 3 + 2], want3),
            ] {
                assert!((got as f64 - want).abs() < 1e-5, "row {i}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn extreme_logits_stay_finite() {
        let dim = 2;
        let scorer = Scorer::new(
            dim,
            &[vec![0.0, 1.0]],
            1000.0,
            &[HeadSpec::Softmax {
                centroid: vec![1.0, 0.0],
                negatives: vec![vec![-1.0, 0.0]],
                scale: 1000.0,
                correction: None,
            }],
        );
        let mut out = vec![0f32; 3];
        scorer.score(&[1.0, 0.0, 0.0, 1.0, -1.0, 0.0], &mut out);
        assert!(
            (out[0] - 1.0).abs() < 1e-6 && out[1] < 1e-6 && out[2] < 1e-6,
            "{out:?}"
        );
    }
}
