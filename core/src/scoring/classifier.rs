//! The visual classifier of a tag with labels: a regularised logistic regression on the
//! embeddings that starts from the zero-shot head and is pulled back toward it. Its logit
//! is the zero-shot logit plus a learned linear correction,
//!
//! ```text
//! logit(x) = z₀(x) + x·Δw + Δb,   minimise  Σᵢ cᵢ·BCE(σ(logit(xᵢ)), yᵢ) + (λ/2)(‖Δw‖² + Δb²)
//! ```
//!
//! (`cᵢ` balances the two classes), so with no labels it is exactly the text prompt's
//! classifier, a handful of labels nudges it, and many labels can move it far. The
//! correction folds into the head's positive column and bias: scoring costs nothing more.

use base64::Engine as _;

/// Strength of the pull toward the zero-shot head (in units of labelled examples).
pub const LAMBDA: f32 = 1.0;
const ITERATIONS: usize = 400;

/// The correction `(Δw, Δb)` fitted to examples `x` (row-major `n × dim`, unit vectors)
/// with labels `y` (1 or 0), given their zero-shot logits `z0`.
pub fn fit_correction(x: &[f32], dim: usize, y: &[f32], z0: &[f32]) -> (Vec<f32>, f32) {
    let n = y.len();
    let mut w = vec![0f32; dim];
    let mut b = 0f32;
    if n == 0 {
        return (w, b);
    }
    let pos = y.iter().filter(|v| **v > 0.5).count().max(1) as f32;
    let neg = (n as f32 - pos).max(1.0);
    let weight: Vec<f32> = y
        .iter()
        .map(|v| {
            if *v > 0.5 {
                n as f32 / (2.0 * pos)
            } else {
                n as f32 / (2.0 * neg)
            }
        })
        .collect();
    // Gradient descent with step 1/L: unit vectors bound the loss curvature by
    // Σcᵢ/4 + λ.
    let curvature: f32 = weight.iter().sum::<f32>() / 4.0 + LAMBDA;
    let step = 1.0 / curvature;
    let mut grad_w = vec![0f32; dim];
    for _ in 0..ITERATIONS {
        grad_w
            .iter_mut()
            .zip(&w)
            .for_each(|(g, wi)| *g = LAMBDA * wi);
        let mut grad_b = LAMBDA * b;
        for i in 0..n {
            let xi = &x[i * dim..(i + 1) * dim];
            let logit = z0[i] + dot(xi, &w) + b;
            let r = weight[i] * (sigmoid(logit) - y[i]);
            grad_b += r;
            grad_w.iter_mut().zip(xi).for_each(|(g, v)| *g += r * v);
        }
        w.iter_mut()
            .zip(&grad_w)
            .for_each(|(wi, g)| *wi -= step * g);
        b -= step * grad_b;
    }
    (w, b)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The logit of a probability (clamped away from 0 and 1).
pub fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// An embedding as stored with a label: little-endian f32, base64.
pub fn encode(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The inverse of [`encode`]; `None` if it is not one.
pub fn decode(s: &str) -> Option<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_labels_no_change_and_labels_move_the_boundary() {
        assert_eq!(fit_correction(&[], 2, &[], &[]), (vec![0.0, 0.0], 0.0));
        // Zero-shot says everything is negative; labels say x₀ > 0 is positive.
        let x = [1.0, 0.0, 0.8, 0.6, -1.0, 0.0, -0.8, 0.6];
        let y = [1.0, 1.0, 0.0, 0.0];
        let z0 = [-1.0; 4];
        let (w, b) = fit_correction(&x, 2, &y, &z0);
        for i in 0..4 {
            let l = z0[i] + dot(&x[i * 2..i * 2 + 2], &w) + b;
            assert_eq!(l > 0.0, y[i] > 0.5, "example {i}: logit {l}");
        }
        // The pull toward zero-shot keeps the correction small.
        assert!(dot(&w, &w).sqrt() < 5.0, "{w:?}");
        let v = vec![0.25f32, -1.5, 3.0];
        assert_eq!(decode(&encode(&v)).unwrap(), v);
        assert!(decode("not base64!").is_none());
    }
}
