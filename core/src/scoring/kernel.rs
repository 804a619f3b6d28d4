//! The scoring kernel: N embeddings against T compiled tag heads as one matrix product
//! (through the `gemm` crate's SIMD kernels, AVX-512 where the CPU has it) followed by an
//! element-wise map.
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

use super::fused;
use crate::model::dataset::vectors::Vectors;

/// Rows per matrix-product block: the block's logits stay in the L1/L2 cache for the map.
const BLOCK_ROWS: usize = 512;

/// Rows per block of compact (float16, int8) embeddings converted to float32 just before
/// the product (where the fused kernel cannot read them as they are): few enough that the
/// converted block stays in the L1 cache when the heads are few (one tag in SQL), more when
/// a group's many columns make each product larger.
const COMPACT_ROWS_FEW: usize = 16;
const COMPACT_ROWS_MANY: usize = BLOCK_ROWS;

/// A compiled set of tag heads over one embedding space.
#[derive(Debug, Clone)]
pub struct Scorer {
    dim: usize,
    /// The heads' columns (positives, negatives, logistic weights), row-major `cols × dim`,
    /// already scaled.
    w: Vec<f32>,
    cols: usize,
    /// The background columns, row-major `backgrounds × dim`, already scaled.
    bg: Vec<f32>,
    backgrounds: usize,
    heads: Heads,
    /// The columns and background columns quantized to int8, for int8 embeddings.
    int8: Int8Columns,
    /// Whether the element-wise map may use AVX-512 (checked once, when compiled into a scorer).
    avx512: bool,
    /// Whether compact rows meet few columns in the fused kernel ([`fused`]), read as they
    /// are stored (checked once, like `avx512`).
    fused: bool,
}

/// Columns quantized to int8 with a scale each (`value ≈ code × scale`): an int8 embedding
/// is then scored with integer dot products (VNNI where the CPU has it), which sum exactly;
/// what is lost is the columns' rounding, of the order of the embeddings' own.
#[derive(Debug, Clone, Default)]
struct Int8Columns {
    w: Vec<i8>,
    w_scale: Vec<f32>,
    bg: Vec<i8>,
    bg_scale: Vec<f32>,
}

/// `m` (rows of `dim`) quantized per row, symmetric: the largest |value| becomes ±127.
fn quantize_rows(m: &[f32], dim: usize) -> (Vec<i8>, Vec<f32>) {
    let mut codes = Vec::with_capacity(m.len());
    let mut scales = Vec::with_capacity(m.len() / dim.max(1));
    for row in m.chunks_exact(dim.max(1)) {
        let max = row.iter().fold(0f32, |a, v| a.max(v.abs()));
        let s = if max > 0.0 { max / 127.0 } else { 1.0 };
        codes.extend(
            row.iter()
                .map(|v| (v / s).round().clamp(-127.0, 127.0) as i8),
        );
        scales.push(s);
    }
    (codes, scales)
}

/// A block of embeddings as the products read it.
enum Block<'a> {
    F32(&'a [f32]),
    /// float16 or int8 rows for the fused kernel.
    Fused(Vectors<'a>),
    I8 {
        codes: &'a [i8],
        scales: &'a [f32],
    },
}

impl Block<'_> {
    fn rows(&self, dim: usize) -> usize {
        match self {
            Self::F32(x) => x.len() / dim,
            Self::Fused(x) => x.rows(dim),
            Self::I8 { scales, .. } => scales.len(),
        }
    }

    /// `out = block · wᵀ` (`cols` float32 columns, row-major), or, for int8 rows without the
    /// fused kernel, `block · int8ᵀ` through integer dot products.
    fn products(&self, dim: usize, w: &[f32], cols: usize, int8: (&[i8], &[f32]), out: &mut [f32]) {
        let rows = self.rows(dim);
        match *self {
            Self::F32(x) => matmul(x, rows, dim, w, cols, out),
            Self::Fused(x) => {
                let done = fused::products(&x, dim, w, cols, out);
                assert!(done, "a fused block only where the kernel runs");
            }
            Self::I8 { codes, scales } => int8_products(codes, scales, dim, int8.0, int8.1, out),
        }
    }
}

/// `out (rows × cols) = block · wᵀ` for int8 rows and int8 columns, through simsimd's
/// integer dot product, rescaled.
fn int8_products(
    codes: &[i8],
    scales: &[f32],
    dim: usize,
    w: &[i8],
    w_scale: &[f32],
    out: &mut [f32],
) {
    use simsimd::SpatialSimilarity;
    let cols = w_scale.len();
    for ((row, s), o) in codes
        .chunks_exact(dim)
        .zip(scales)
        .zip(out.chunks_exact_mut(cols))
    {
        for ((col, ws), o) in w.chunks_exact(dim).zip(w_scale).zip(o.iter_mut()) {
            let dot = <i8 as SpatialSimilarity>::dot(row, col).unwrap_or(0.0);
            *o = dot as f32 * s * ws;
        }
    }
}

/// How each head turns its row of logits into a score: `σ(l[pos] + bias − soft·LSE)`, where
/// LSE is the background's log-sum-exp, and for heads with negative prompts the LSE of the
/// background and their negatives' logits.
#[derive(Debug, Clone, Default)]
struct Heads {
    /// The column of each head's positive (or logistic) weights.
    pos: Vec<usize>,
    /// Whether `pos` is `0, 1, 2, …` (every head one column): the map runs in SIMD lanes.
    contiguous: bool,
    bias: Vec<f32>,
    /// 1 for a softmax head (its alternatives' LSE is subtracted), 0 for a logistic one.
    soft: Vec<f32>,
    /// The softmax heads with negative prompts: head, the columns of their negatives.
    with_negatives: Vec<(usize, std::ops::Range<usize>)>,
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
        let mut compiled = Heads::default();
        for h in heads {
            let head = compiled.pos.len();
            compiled.pos.push(cols);
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
                    compiled.bias.push(correction.as_ref().map_or(0.0, |c| c.1));
                    compiled.soft.push(1.0);
                    if !negatives.is_empty() {
                        let negs = cols + 1..cols + 1 + negatives.len();
                        compiled.with_negatives.push((head, negs));
                    }
                    cols += 1 + negatives.len();
                }
                HeadSpec::Logistic { weights, bias } => {
                    w.extend(weights.iter().copied());
                    compiled.bias.push(*bias);
                    compiled.soft.push(0.0);
                    cols += 1;
                }
            }
        }
        debug_assert_eq!(w.len(), cols * dim);
        compiled.contiguous = compiled.pos.iter().enumerate().all(|(i, p)| i == *p);
        let (wq, w_scale) = quantize_rows(&w, dim);
        let (bq, bg_scale) = quantize_rows(&bg, dim);
        Self {
            dim,
            w,
            cols,
            bg,
            backgrounds: backgrounds.len(),
            heads: compiled,
            int8: Int8Columns {
                w: wq,
                w_scale,
                bg: bq,
                bg_scale,
            },
            avx512: avx512(),
            fused: fused::available(dim),
        }
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of tags (columns of the output).
    pub fn num_tags(&self) -> usize {
        self.heads.pos.len()
    }

    /// Scores `x` (row-major `n × dim`) into `out` (row-major `n × num_tags`), on the
    /// calling thread.
    pub fn score(&self, x: &[f32], out: &mut [f32]) {
        self.score_vectors(&Vectors::F32(x), out)
    }

    /// Like [`Scorer::score`], spread over rayon's threads.
    pub fn score_parallel(&self, x: &[f32], out: &mut [f32]) {
        self.score_vectors_parallel(&Vectors::F32(x), out)
    }

    /// The per-row log-sum-exp of the background logits of `x` into `out` (one per row):
    /// what [`Scorer::score_with_background`] needs, and what a caller may keep.
    pub fn background(&self, x: &[f32], out: &mut [f32]) {
        self.background_vectors(&Vectors::F32(x), out)
    }

    /// Scores `x` given the per-row background log-sum-exp `bg` (from
    /// [`Scorer::background`]): only the tags' own columns enter the matrix product.
    pub fn score_with_background(&self, x: &[f32], bg: &[f32], out: &mut [f32]) {
        self.score_vectors_with_background(&Vectors::F32(x), bg, out)
    }

    /// [`Scorer::score`] of embeddings in any encoding: a compact block is converted to
    /// float32 in a block-sized buffer just before its matrix product.
    pub fn score_vectors(&self, x: &Vectors<'_>, out: &mut [f32]) {
        let n = x.rows(self.dim);
        let t = self.num_tags();
        assert_eq!(out.len(), n * t, "output size");
        // Block by block, so that the block is still in the cache for the second product;
        // the blocks are those of `background` and `score_with_background`, whose results
        // are therefore the same to the bit.
        let rows = self.block_rows(x).min(n);
        let (mut bg, mut bg_logits) = (vec![0f32; rows], vec![0f32; rows * self.backgrounds]);
        let mut logits = vec![0f32; rows * self.cols];
        self.each_block(x, |start, r, xb| {
            let bg = &mut bg[..r];
            self.background_block(xb, &mut bg_logits, bg);
            self.tags_block(xb, bg, &mut logits, &mut out[start * t..(start + r) * t]);
        });
    }

    /// Calls `f(first row, rows, block)` for each block of `x` in order (see
    /// [`Scorer::block_rows`]); the blocks of every method are the same, so that their
    /// results agree to the bit.
    fn each_block(&self, x: &Vectors<'_>, mut f: impl FnMut(usize, usize, &Block<'_>)) {
        let n = x.rows(self.dim);
        let step = self.block_rows(x);
        let mut scratch = Vec::new();
        for start in (0..n).step_by(step) {
            let r = step.min(n - start);
            let rows = x.slice(start, r, self.dim);
            f(start, r, &self.block(&rows, &mut scratch));
        }
    }

    /// A block of `x` as the products read it: compact rows as they are when the columns
    /// are few (the fused kernel, or integer dot products for int8 on CPUs without it),
    /// anything else as float32 (converted into `scratch`).
    fn block<'s>(&self, x: &'s Vectors<'_>, scratch: &'s mut Vec<f32>) -> Block<'s> {
        match *x {
            Vectors::F16(_) | Vectors::I8 { .. } if self.few_columns() && self.fused => {
                Block::Fused(*x)
            }
            Vectors::I8 { codes, scales } if self.few_columns() => Block::I8 { codes, scales },
            _ => Block::F32(x.as_f32(self.dim, scratch)),
        }
    }

    fn few_columns(&self) -> bool {
        self.cols + self.backgrounds <= 8
    }

    /// Rows per block of `x`: see [`BLOCK_ROWS`] and [`COMPACT_ROWS_FEW`].
    fn block_rows(&self, x: &Vectors<'_>) -> usize {
        match x {
            Vectors::F32(_) => BLOCK_ROWS,
            _ if self.few_columns() && self.fused => BLOCK_ROWS,
            Vectors::I8 { .. } if self.few_columns() => BLOCK_ROWS,
            _ if self.few_columns() => COMPACT_ROWS_FEW,
            _ => COMPACT_ROWS_MANY,
        }
    }

    /// [`Scorer::score_vectors`] spread over rayon's threads.
    pub fn score_vectors_parallel(&self, x: &Vectors<'_>, out: &mut [f32]) {
        let n = x.rows(self.dim);
        let t = self.num_tags();
        assert_eq!(out.len(), n * t, "output size");
        if t == 0 {
            return;
        }
        let chunk = BLOCK_ROWS * 8;
        out.par_chunks_mut(chunk * t)
            .enumerate()
            .for_each(|(i, ob)| {
                self.score_vectors(&x.slice(i * chunk, ob.len() / t, self.dim), ob)
            });
    }

    /// [`Scorer::background`] of embeddings in any encoding.
    pub fn background_vectors(&self, x: &Vectors<'_>, out: &mut [f32]) {
        let n = x.rows(self.dim);
        assert_eq!(out.len(), n, "one background value per row");
        let mut logits = vec![0f32; self.block_rows(x).min(n) * self.backgrounds];
        self.each_block(x, |start, r, xb| {
            self.background_block(xb, &mut logits, &mut out[start..start + r]);
        });
    }

    /// [`Scorer::score_with_background`] of embeddings in any encoding.
    pub fn score_vectors_with_background(&self, x: &Vectors<'_>, bg: &[f32], out: &mut [f32]) {
        let n = x.rows(self.dim);
        let t = self.num_tags();
        assert_eq!(out.len(), n * t, "output size");
        assert_eq!(bg.len(), n, "one background value per row");
        let mut logits = vec![0f32; self.block_rows(x).min(n) * self.cols];
        self.each_block(x, |start, r, xb| {
            self.tags_block(
                xb,
                &bg[start..start + r],
                &mut logits,
                &mut out[start * t..(start + r) * t],
            );
        });
    }

    /// One block (at most `BLOCK_ROWS` rows) of [`Scorer::background`]; `logits` is scratch
    /// of at least `rows × backgrounds`.
    fn background_block(&self, xb: &Block<'_>, logits: &mut [f32], out: &mut [f32]) {
        if self.backgrounds == 0 {
            out.fill(f32::NEG_INFINITY);
            return;
        }
        let rows = xb.rows(self.dim);
        let l = &mut logits[..rows * self.backgrounds];
        let int8 = (&self.int8.bg[..], &self.int8.bg_scale[..]);
        xb.products(self.dim, &self.bg, self.backgrounds, int8, l);
        for (row, o) in l.chunks_exact(self.backgrounds).zip(out.iter_mut()) {
            *o = log_sum_exp(row);
        }
    }

    /// One block of [`Scorer::score_with_background`]; `logits` is scratch of at least
    /// `rows × cols`.
    fn tags_block(&self, xb: &Block<'_>, bg: &[f32], logits: &mut [f32], out: &mut [f32]) {
        let rows = xb.rows(self.dim);
        if rows == 0 || self.num_tags() == 0 {
            return;
        }
        let l = &mut logits[..rows * self.cols];
        let int8 = (&self.int8.w[..], &self.int8.w_scale[..]);
        xb.products(self.dim, &self.w, self.cols, int8, l);
        self.heads.finish(self.avx512, l, self.cols, bg, out);
    }
}

impl Heads {
    /// Turns a block of logits (rows of `width`) into scores (rows of one per head), given
    /// each row's background log-sum-exp.
    fn finish(&self, avx512: bool, logits: &[f32], width: usize, bg: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx512 {
            // SAFETY: `avx512` is only true on a CPU with AVX-512F (see `avx512()`).
            return unsafe { self.finish_avx512(logits, width, bg, out) };
        }
        let _ = avx512;
        self.finish_lanes(logits, width, bg, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn finish_avx512(&self, logits: &[f32], width: usize, bg: &[f32], out: &mut [f32]) {
        self.finish_lanes(logits, width, bg, out)
    }

    /// Written so that the compiler maps the common case (every head one column) and the
    /// sigmoid over SIMD lanes.
    #[inline(always)]
    fn finish_lanes(&self, logits: &[f32], width: usize, bg: &[f32], out: &mut [f32]) {
        let t = self.pos.len();
        // One head of one column (`dt_score` of a tag without negative prompts): one loop
        // over the rows, in SIMD lanes, with the same arithmetic as below.
        if t == 1 && width == 1 && self.contiguous && self.with_negatives.is_empty() {
            let bias = self.bias[0];
            if self.soft[0] != 0.0 {
                for ((o, l), b) in out.iter_mut().zip(logits).zip(bg) {
                    *o = sigmoid(l + bias - b);
                }
            } else {
                for (o, l) in out.iter_mut().zip(logits) {
                    *o = sigmoid(l + bias - 0.0);
                }
            }
            return;
        }
        for ((l, o), &b) in logits
            .chunks_exact(width)
            .zip(out.chunks_exact_mut(t))
            .zip(bg)
        {
            // A select, not `soft · b`: a logistic head ignores `b` whatever it is (`0 · ∞` is
            // NaN), and a softmax head takes it as it is (−∞: no alternative, score 1; NaN).
            if self.contiguous {
                for (((o, l), bias), soft) in
                    o.iter_mut().zip(&l[..t]).zip(&self.bias).zip(&self.soft)
                {
                    *o = l + bias - if *soft != 0.0 { b } else { 0.0 };
                }
            } else {
                for (((o, &p), bias), soft) in
                    o.iter_mut().zip(&self.pos).zip(&self.bias).zip(&self.soft)
                {
                    *o = l[p] + bias - if *soft != 0.0 { b } else { 0.0 };
                }
            }
            for (h, negs) in &self.with_negatives {
                let negs = &l[negs.clone()];
                let m = negs.iter().copied().fold(b, f32::max);
                let s: f32 = negs.iter().map(|&v| fast_exp(v - m)).sum::<f32>() + fast_exp(b - m);
                o[*h] = l[self.pos[*h]] + self.bias[*h] - (m + s.ln());
            }
        }
        for v in out.iter_mut() {
            *v = sigmoid(*v);
        }
    }
}

/// Whether this CPU has AVX-512F, for the element-wise map (the matrix product's crate
/// chooses its own kernels).
fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
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

/// The dot product of every row of `x` with `q` (of dimension `q.len()`), through the fused
/// kernel for compact rows where it runs, else the same matrix kernel a block at a time:
/// what a search ranks by.
pub fn dot_rows(x: &Vectors<'_>, q: &[f32]) -> Vec<f32> {
    let dim = q.len();
    let n = x.rows(dim);
    let mut out = vec![0f32; n];
    if fused::products(x, dim, q, 1, &mut out) {
        return out;
    }
    let mut scratch = Vec::new();
    for start in (0..n).step_by(BLOCK_ROWS) {
        let r = BLOCK_ROWS.min(n - start);
        let block = x.slice(start, r, dim);
        let xb = block.as_f32(dim, &mut scratch);
        matmul(xb, r, dim, q, 1, &mut out[start..start + r]);
    }
    out
}

/// Rows a re-rank asks to be fetched ahead of the one it multiplies.
const FETCH_AHEAD_ROWS: usize = 8;

/// The inner products of rows `at` of `x` (scattered: a search's candidates) with `q`, in
/// `at`'s order. Each row is fetched while the rows [`FETCH_AHEAD_ROWS`] before it are
/// multiplied, so the scattered reads' latencies overlap rather than add up.
pub fn dot_rows_at(x: &Vectors<'_>, at: &[usize], q: &[f32]) -> Vec<f32> {
    let dim = q.len();
    for &i in at.iter().take(FETCH_AHEAD_ROWS) {
        fused::prefetch_row(x, i, dim);
    }
    at.iter()
        .enumerate()
        .map(|(n, &i)| {
            if let Some(&next) = at.get(n + FETCH_AHEAD_ROWS) {
                fused::prefetch_row(x, next, dim);
            }
            dot_row(x, i, q)
        })
        .collect()
}

/// The inner product of row `i` of `x` with `q` (one row: what re-ranking a search's
/// candidates needs, without a matrix product's set-up); a compact row is read by the fused
/// kernel where it runs, with no float32 copy.
pub fn dot_row(x: &Vectors<'_>, i: usize, q: &[f32]) -> f32 {
    let dim = q.len();
    let mut fused_out = [0f32];
    if fused::products(&x.slice(i, 1, dim), dim, q, 1, &mut fused_out) {
        return fused_out[0];
    }
    let converted;
    let values: &[f32] = match x {
        Vectors::F32(v) => &v[i * dim..(i + 1) * dim],
        other => {
            converted = other.row(i, dim);
            &converted
        }
    };
    // Eight partial sums, so that the loop vectorises.
    let mut acc = [0f32; 8];
    for (a, b) in values.chunks_exact(8).zip(q.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += a[l] * b[l];
        }
    }
    let tail = dim - dim % 8;
    let rest: f32 = values[tail..]
        .iter()
        .zip(&q[tail..])
        .map(|(a, b)| a * b)
        .sum();
    acc.iter().sum::<f32>() + rest
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
    // Round to nearest by adding and taking away 1.5·2²³ (exact for |k| < 2²²): unlike
    // `f32::round` this maps to plain SIMD additions.
    const ROUND: f32 = 12_582_912.0;
    let k = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
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

    #[test]
    fn one_row_dot_agrees_with_the_block_product_in_every_encoding() {
        use crate::model::dataset::encoding::{Encoding, decode_array, encode_values};
        // 61: converted blocks; 64: the fused kernel, where the CPU has it.
        for dim in [61, 64] {
            let x: Vec<f32> = (0..5 * dim)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 70.0)
                .collect();
            let q: Vec<f32> = (0..dim)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0)
                .collect();
            for e in [Encoding::Float32, Encoding::Float16, Encoding::Int8] {
                let stored = decode_array(&encode_values(&x, dim, e), dim, e);
                let (v, _) = crate::model::dataset::vectors::vectors(stored.as_ref()).unwrap();
                let block = dot_rows(&v, &q);
                for (i, b) in block.iter().enumerate() {
                    let one = dot_row(&v, i, &q);
                    assert!((one - b).abs() < 1e-4, "{e} {dim} row {i}: {one} vs {b}");
                }
            }
        }
    }

    #[test]
    fn scattered_rows_dot_as_one_row_each_in_their_order() {
        use crate::model::dataset::encoding::{Encoding, decode_array, encode_values};
        let rows = 40;
        for dim in [61, 64] {
            let x: Vec<f32> = (0..rows * dim)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 70.0)
                .collect();
            let q: Vec<f32> = (0..dim)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0)
                .collect();
            // Out of order, one row twice, more rows than are fetched ahead, the last row.
            let at = [39, 3, 17, 3, 0, 25, 8, 31, 12, 2, 38, 21, 5];
            for e in [Encoding::Float32, Encoding::Float16, Encoding::Int8] {
                let stored = decode_array(&encode_values(&x, dim, e), dim, e);
                let (v, _) = crate::model::dataset::vectors::vectors(stored.as_ref()).unwrap();
                let got = dot_rows_at(&v, &at, &q);
                let want: Vec<f32> = at.iter().map(|&i| dot_row(&v, i, &q)).collect();
                assert_eq!(got, want, "{e} {dim}");
                assert!(dot_rows_at(&v, &[], &q).is_empty());
            }
        }
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
        let c1 = mk(3);
        let n1 = mk(4);
        let c2 = mk(5);
        let three = vec![
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
        let xs: Vec<Vec<f32>> = (0..600).map(|s| mk(s + 6)).collect();
        let flat: Vec<f32> = xs.concat();
        // Few columns and many, with the map in AVX-512 lanes (where the CPU has them) and
        // without.
        for (backgrounds, copies) in [(2, 1), (2, 4), (10, 1), (10, 4)] {
            let bgs: Vec<Vec<f32>> = (0..backgrounds).map(|i| mk(100 + i as u32)).collect();
            let heads: Vec<HeadSpec> = (0..copies).flat_map(|_| three.clone()).collect();
            let t = heads.len();
            for avx512 in [false, avx512()] {
                let mut scorer = Scorer::new(dim, &bgs, 20.0, &heads);
                scorer.avx512 = avx512;
                let mut out = vec![0f32; xs.len() * t];
                scorer.score(&flat, &mut out);
                let mut par = vec![0f32; xs.len() * t];
                scorer.score_parallel(&flat, &mut par);
                assert_eq!(out, par);
                let mut bg = vec![0f32; xs.len()];
                scorer.background(&flat, &mut bg);
                let mut kept = vec![0f32; xs.len() * t];
                scorer.score_with_background(&flat, &bg, &mut kept);
                assert_eq!(out, kept, "{avx512} {backgrounds} {copies}");
                let alternatives: Vec<&[f32]> = bgs.iter().map(|b| b.as_slice()).collect();
                let with_n1: Vec<&[f32]> = std::iter::once(n1.as_slice())
                    .chain(alternatives.clone())
                    .collect();
                for (i, x) in xs.iter().enumerate() {
                    let want1 = reference(x, &c1, &with_n1, 20.0);
                    let want2 = reference(x, &c2, &alternatives, 20.0);
                    let dot: f64 = x.iter().zip(&c1).map(|(a, b)| *a as f64 * *b as f64).sum();
                    let want3 = 1.0 / (1.0 + (-(dot - 0.25)).exp());
                    for h in 0..t {
                        let (got, want) = (out[i * t + h], [want1, want2, want3][h % 3]);
                        assert!(
                            (got as f64 - want).abs() < 1e-5,
                            "{avx512} row {i} head {h}: {got} vs {want}"
                        );
                    }
                }
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

    #[test]
    fn a_head_alone_scores_as_it_does_beside_others() {
        // The same logits mapped by a one-head scorer (its one-column loop) and by a
        // two-head one (the general loop) give the same bits.
        let softmax = HeadSpec::Softmax {
            centroid: vec![1.0, 0.0],
            negatives: vec![],
            scale: 20.0,
            correction: Some((vec![0.1, -0.2], 0.3)),
        };
        let logistic = HeadSpec::Logistic {
            weights: vec![0.6, 0.8],
            bias: -0.2,
        };
        let other = HeadSpec::Logistic {
            weights: vec![0.0, 1.0],
            bias: 0.1,
        };
        let rows = 40;
        let logits: Vec<f32> = (0..rows).map(|i| i as f32 / 4.0 - 5.0).collect();
        let beside_logits: Vec<f32> = logits.iter().flat_map(|l| [*l, -l]).collect();
        let mut bg: Vec<f32> = (0..rows).map(|i| i as f32 / 10.0 - 2.0).collect();
        bg[3] = f32::NEG_INFINITY;
        bg[4] = f32::INFINITY;
        bg[5] = f32::NAN;
        for avx512 in [false, avx512()] {
            for head in [&softmax, &logistic] {
                let alone = Scorer::new(2, &[vec![0.0, 1.0]], 20.0, std::slice::from_ref(head));
                let beside =
                    Scorer::new(2, &[vec![0.0, 1.0]], 20.0, &[head.clone(), other.clone()]);
                let mut one = vec![0f32; rows];
                alone.heads.finish(avx512, &logits, 1, &bg, &mut one);
                let mut two = vec![0f32; 2 * rows];
                beside
                    .heads
                    .finish(avx512, &beside_logits, 2, &bg, &mut two);
                for (r, o) in one.iter().enumerate() {
                    assert_eq!(
                        o.to_bits(),
                        two[2 * r].to_bits(),
                        "{avx512} row {r}: {head:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_background_value_reaches_softmax_heads_only() {
        let heads = [
            HeadSpec::Softmax {
                centroid: vec![1.0, 0.0],
                negatives: vec![],
                scale: 1.0,
                correction: None,
            },
            HeadSpec::Logistic {
                weights: vec![0.0, 1.0],
                bias: 0.0,
            },
        ];
        for avx512 in [false, avx512()] {
            let mut scorer = Scorer::new(2, &[], 1.0, &heads);
            scorer.avx512 = avx512;
            let x = [0.5, 0.0, 0.5, 0.0, 0.5, 0.0];
            let mut out = [0f32; 6];
            scorer.score_with_background(
                &x,
                &[f32::NEG_INFINITY, f32::INFINITY, f32::NAN],
                &mut out,
            );
            assert_eq!(out[0], 1.0, "no alternative: the positive wins");
            assert!(out[2] < 1e-6, "an infinitely likely alternative");
            assert!(out[4].is_nan(), "NaN stays NaN: {out:?}");
            assert!(
                out.iter().skip(1).step_by(2).all(|&v| v == 0.5),
                "logistic: {out:?}"
            );
        }
    }

    #[test]
    fn compact_embeddings_score_close_to_float32_whichever_path() {
        use crate::model::dataset::encoding::{Encoding, decode_array, encode_values};
        use crate::model::dataset::vectors::vectors;
        let dim = 64;
        let mk = |seed: u32| {
            unit(
                (0..dim)
                    .map(|i| {
                        (((i as u32 * 7 + seed * 13) % 23) as f32 - 11.0)
                            * (1.0 + seed as f32 % 3.0)
                    })
                    .collect(),
            )
        };
        let xs: Vec<f32> = (0..700).flat_map(|s| mk(s + 50)).collect();
        let bgs: Vec<Vec<f32>> = (0..3).map(|i| mk(900 + i)).collect();
        let head = |s: u32| HeadSpec::Softmax {
            centroid: mk(s),
            negatives: vec![],
            scale: 20.0,
            correction: None,
        };
        // One tag (integer products for int8, small blocks for float16) and twelve.
        // And for one tag, with the fused kernel (where the CPU has it) and without.
        let shapes = [
            (vec![head(1)], false),
            (vec![head(1)], fused::available(dim)),
            ((1..13).map(head).collect::<Vec<_>>(), false),
        ];
        for (heads, with_fused) in shapes {
            let mut scorer = Scorer::new(dim, &bgs, 20.0, &heads);
            scorer.fused = with_fused;
            let t = heads.len();
            let mut base = vec![0f32; 700 * t];
            scorer.score(&xs, &mut base);
            for (e, bound) in [(Encoding::Float16, 2e-3), (Encoding::Int8, 0.05)] {
                let arr = decode_array(&encode_values(&xs, dim, e), dim, e);
                let (v, _) = vectors(arr.as_ref()).unwrap();
                let mut got = vec![0f32; 700 * t];
                scorer.score_vectors(&v, &mut got);
                let worst = base
                    .iter()
                    .zip(&got)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst < bound && worst > 0.0,
                    "{e}, {t} tags, {with_fused}: {worst}"
                );
                let mut par = vec![0f32; 700 * t];
                scorer.score_vectors_parallel(&v, &mut par);
                assert_eq!(got, par);
                let mut bg = vec![0f32; 700];
                scorer.background_vectors(&v, &mut bg);
                let mut kept = vec![0f32; 700 * t];
                scorer.score_vectors_with_background(&v, &bg, &mut kept);
                assert_eq!(got, kept, "{e}, {t} tags");
            }
        }
    }
}
