//! Thresholds with a guarantee, after SUPG (Kang et al., "Approximate Selection with
//! Guarantees using Proxies", VLDB 2020): from a labelled sample drawn with known
//! probabilities (our stratified evaluation sample; each item weighs the inverse of its
//! chance of being drawn), choose the threshold on the proxy score (the tag's score) so
//! that "precision ≥ P" or "recall ≥ R" holds with probability at least 1 − δ.
//!
//! Recall target: the highest threshold whose recall *lower* bound reaches R (recall falls
//! with the threshold, so one one-sided bound at δ suffices; when none does, threshold 0 —
//! every item — meets it for certain). Precision target: thresholds tested from the highest
//! down in that fixed order, each at δ, until one fails; the lowest that passed.
//! Both bounds are Wilson score bounds of importance-weighted ratio estimates, on the
//! effective number of items behind each (`(Σw)²/Σw²`): with the handful of positives a
//! sample holds, the plain normal (Wald) interval is too narrow — `dyntag bench supg`
//! measured a Wald recall bound meeting a 95% target only 68% of the time on the sample
//! library.

use super::metrics::{Labelled, thresholds};

/// What the user asks for (kept with the tag it guards).
pub use crate::model::tags::Target;

/// The chosen threshold, the estimate there and the bound that was checked.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    pub threshold: f64,
    pub estimate: f64,
    pub lower_bound: f64,
}

/// Least items predicted positive (in the sample) for a precision estimate to count.
const MIN_PREDICTED: usize = 5;

/// The threshold meeting `target`, or `None` if none does on this sample.
pub fn choose(items: &[Labelled], target: Target) -> Option<Choice> {
    match target {
        Target::Recall { at_least, delta } => {
            let z = normal_quantile(1.0 - delta);
            // Highest threshold first: the first that passes is the most precise. When none
            // can be certified, threshold 0 (every item) has recall 1 for certain.
            let everything = Choice {
                threshold: 0.0,
                estimate: 1.0,
                lower_bound: 1.0,
            };
            let found = thresholds().into_iter().rev().find_map(|t| {
                let (est, n) = ratio(items, |i| i.positive && i.score >= t, |i| i.positive)?;
                let lb = wilson_lower(est, n, z);
                (lb >= at_least).then_some(Choice {
                    threshold: t,
                    estimate: est,
                    lower_bound: lb,
                })
            });
            found.or(Some(everything))
        }
        Target::Precision { at_least, delta } => {
            // Fixed-sequence testing: from the highest threshold down, each tested at level
            // δ, stopping at the first that fails; the lowest that passed keeps the most
            // recall. Testing in an order fixed in advance needs no split of δ.
            let z = normal_quantile(1.0 - delta);
            let mut chosen = None;
            for t in thresholds().into_iter().rev() {
                if items.iter().filter(|i| i.score >= t).count() < MIN_PREDICTED {
                    continue;
                }
                let Some((est, n)) = ratio(items, |i| i.positive && i.score >= t, |i| i.score >= t)
                else {
                    continue;
                };
                // The sequence starts where the bound can pass at all (even with every
                // item positive): that depends on the scores, not on the labels.
                if wilson_lower(1.0, n, z) < at_least {
                    continue;
                }
                let lb = wilson_lower(est, n, z);
                if lb < at_least {
                    break;
                }
                chosen = Some(Choice {
                    threshold: t,
                    estimate: est,
                    lower_bound: lb,
                });
            }
            chosen
        }
    }
}

/// The naive choice, for comparison: the point estimate alone meets the target (the lowest
/// such threshold for precision, the highest for recall).
pub fn choose_naive(items: &[Labelled], target: Target) -> Option<Choice> {
    let pick = |t: f64, est: f64| Choice {
        threshold: t,
        estimate: est,
        lower_bound: est,
    };
    match target {
        Target::Recall { at_least, .. } => thresholds().into_iter().rev().find_map(|t| {
            let (est, _) = ratio(items, |i| i.positive && i.score >= t, |i| i.positive)?;
            (est >= at_least).then(|| pick(t, est))
        }),
        Target::Precision { at_least, .. } => thresholds().into_iter().find_map(|t| {
            if items.iter().filter(|i| i.score >= t).count() < MIN_PREDICTED {
                return None;
            }
            let (est, _) = ratio(items, |i| i.positive && i.score >= t, |i| i.score >= t)?;
            (est >= at_least).then(|| pick(t, est))
        }),
    }
}

/// The weighted share Σ w·[num] / Σ w over the items where `den` holds (`num` implies
/// `den`), and the effective number of those items, (Σw)²/Σw².
fn ratio(
    items: &[Labelled],
    num: impl Fn(&Labelled) -> bool,
    den: impl Fn(&Labelled) -> bool,
) -> Option<(f64, f64)> {
    let (mut sa, mut sb, mut sb2) = (0.0, 0.0, 0.0);
    for i in items.iter().filter(|i| den(i)) {
        sb += i.weight;
        sb2 += i.weight * i.weight;
        if num(i) {
            sa += i.weight;
        }
    }
    if sb <= 0.0 {
        return None;
    }
    Some((sa / sb, sb * sb / sb2))
}

/// The Wilson score lower bound of a proportion `p` estimated from `n` items.
fn wilson_lower(p: f64, n: f64, z: f64) -> f64 {
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (centre - spread) / (1.0 + z2 / n)
}

/// The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_targets() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        assert!((normal_quantile(0.05) + 1.644854).abs() < 1e-5);
        // Scores separate well: positives ≥ 0.6, negatives ≤ 0.4, many of each.
        let mut items = Vec::new();
        for i in 0..200 {
            let positive = i % 2 == 0;
            let s = if positive {
                0.6 + (i % 40) as f64 / 100.0
            } else {
                (i % 40) as f64 / 100.0
            };
            items.push(Labelled {
                score: s,
                positive,
                weight: 1.0,
            });
        }
        let r = choose(
            &items,
            Target::Recall {
                at_least: 0.9,
                delta: 0.05,
            },
        )
        .unwrap();
        assert!(
            r.threshold <= 0.64 && r.estimate >= r.lower_bound && r.lower_bound >= 0.9,
            "{r:?}"
        );
        let p = choose(
            &items,
            Target::Precision {
                at_least: 0.95,
                delta: 0.05,
            },
        )
        .unwrap();
        assert!(p.threshold >= 0.4 && p.lower_bound >= 0.95, "{p:?}");
        // An impossible precision has no threshold.
        let noisy: Vec<Labelled> = (0..100)
            .map(|i| Labelled {
                score: (i % 10) as f64 / 10.0,
                positive: i % 3 == 0,
                weight: 1.0,
            })
            .collect();
        assert!(
            choose(
                &noisy,
                Target::Precision {
                    at_least: 0.99,
                    delta: 0.05
                }
            )
            .is_none()
        );
    }
}
