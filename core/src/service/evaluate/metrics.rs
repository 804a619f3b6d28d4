//! Metrics of a tag over thresholds from a labelled evaluation sample. Items carry weights
//! (the inverse of their chance of being sampled: the sample is stratified over the score
//! range), so the figures estimate the whole dataset, not the sample; confidence intervals
//! come from a bootstrap over the items.

use crate::store::random::Random;

/// One labelled item of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Labelled {
    pub score: f64,
    pub positive: bool,
    pub weight: f64,
}

/// The metrics the evaluator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    F1,
    F05,
    Precision,
    Recall,
    Accuracy,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::F1,
        Metric::F05,
        Metric::Precision,
        Metric::Recall,
        Metric::Accuracy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::F1 => "f1",
            Self::F05 => "f0_5",
            Self::Precision => "precision",
            Self::Recall => "recall",
            Self::Accuracy => "accuracy",
        }
    }

    /// `f1`, `f0.5`/`f0_5`/`f05`, `precision`, `recall`, `accuracy`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f1" => Ok(Self::F1),
            "f0.5" | "f0_5" | "f05" => Ok(Self::F05),
            "precision" => Ok(Self::Precision),
            "recall" => Ok(Self::Recall),
            "accuracy" => Ok(Self::Accuracy),
            other => Err(crate::CatalogError::Invalid(format!(
                "unknown metric '{other}' (f1, f0.5, precision, recall, accuracy)"
            ))),
        }
    }
}

/// Weighted confusion counts at one threshold.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    tp: f64,
    fp: f64,
    fneg: f64,
    tn: f64,
}

impl Counts {
    fn at(items: &[Labelled], threshold: f64) -> Self {
        let mut c = Counts::default();
        for i in items {
            match (i.score >= threshold, i.positive) {
                (true, true) => c.tp += i.weight,
                (true, false) => c.fp += i.weight,
                (false, true) => c.fneg += i.weight,
                (false, false) => c.tn += i.weight,
            }
        }
        c
    }

    fn metric(&self, m: Metric) -> f64 {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let p = ratio(self.tp, self.tp + self.fp);
        let r = ratio(self.tp, self.tp + self.fneg);
        let fbeta = |b2: f64| ratio((1.0 + b2) * p * r, b2 * p + r);
        match m {
            Metric::Precision => p,
            Metric::Recall => r,
            Metric::F1 => fbeta(1.0),
            Metric::F05 => fbeta(0.25),
            Metric::Accuracy => ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fneg),
        }
    }
}

/// The thresholds of the sweep: 0.00, 0.01, …, 1.00.
pub fn thresholds() -> Vec<f64> {
    (0..=100).map(|i| f64::from(i) / 100.0).collect()
}

/// One row of the sweep: a threshold, each metric with its 95% interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub threshold: f64,
    /// (value, low, high) per metric, in [`Metric::ALL`] order.
    pub values: [(f64, f64, f64); 5],
}

/// The sweep of every metric over [`thresholds`], with bootstrap intervals from
/// `resamples` resamples (seeded: the same sample gives the same table).
pub fn sweep(items: &[Labelled], resamples: usize, seed: u64) -> Vec<Row> {
    let ts = thresholds();
    let point: Vec<[f64; 5]> = ts
        .iter()
        .map(|&t| {
            let c = Counts::at(items, t);
            Metric::ALL.map(|m| c.metric(m))
        })
        .collect();
    // boot[t][m] = values over resamples
    let mut boot: Vec<[Vec<f64>; 5]> = ts.iter().map(|_| Default::default()).collect();
    let mut rng = Random::seeded(seed);
    let n = items.len();
    if n > 0 {
        let mut sample = Vec::with_capacity(n);
        for _ in 0..resamples {
            sample.clear();
            for _ in 0..n {
                sample.push(items[rng.below(n as u64) as usize]);
            }
            for (ti, &t) in ts.iter().enumerate() {
                let c = Counts::at(&sample, t);
                for (mi, m) in Metric::ALL.iter().enumerate() {
                    boot[ti][mi].push(c.metric(*m));
                }
            }
        }
    }
    ts.iter()
        .enumerate()
        .map(|(ti, &t)| Row {
            threshold: t,
            values: std::array::from_fn(|mi| {
                let (lo, hi) = interval(&mut boot[ti][mi]);
                (point[ti][mi], lo, hi)
            }),
        })
        .collect()
}

/// The 2.5% and 97.5% quantiles.
fn interval(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    (q(0.025), q(0.975))
}

/// The threshold with the best value of `metric` (the highest threshold among ties for
/// precision-like metrics would over-fit; the middle of the best plateau is taken).
pub fn recommend(rows: &[Row], metric: Metric) -> Option<f64> {
    let mi = Metric::ALL.iter().position(|m| *m == metric)?;
    let best = rows
        .iter()
        .map(|r| r.values[mi].0)
        .fold(f64::NEG_INFINITY, f64::max);
    if !best.is_finite() {
        return None;
    }
    let plateau: Vec<f64> = rows
        .iter()
        .filter(|r| (r.values[mi].0 - best).abs() < 1e-12)
        .map(|r| r.threshold)
        .collect();
    Some(plateau[plateau.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(score: f64, positive: bool) -> Labelled {
        Labelled {
            score,
            positive,
            weight: 1.0,
        }
    }

    #[test]
    fn the_sweep_matches_a_hand_computed_example() {
        // Scores and truth: at threshold 0.5, predicted positive = {0.9 P, 0.8 N, 0.6 P},
        // negative = {0.4 P, 0.2 N, 0.1 N}: tp 2, fp 1, fn 1, tn 2.
        let items = [
            l(0.9, true),
            l(0.8, false),
            l(0.6, true),
            l(0.4, true),
            l(0.2, false),
            l(0.1, false),
        ];
        let rows = sweep(&items, 50, 1);
        let r = &rows[50];
        assert_eq!(r.threshold, 0.5);
        let v = |m: Metric| r.values[Metric::ALL.iter().position(|x| *x == m).unwrap()].0;
        assert!((v(Metric::Precision) - 2.0 / 3.0).abs() < 1e-12);
        assert!((v(Metric::Recall) - 2.0 / 3.0).abs() < 1e-12);
        assert!((v(Metric::F1) - 2.0 / 3.0).abs() < 1e-12);
        assert!((v(Metric::Accuracy) - 4.0 / 6.0).abs() < 1e-12);
        // F0.5 = 1.25 p r / (0.25 p + r)
        assert!((v(Metric::F05) - 2.0 / 3.0).abs() < 1e-12);
        // At 0.85 only 0.9 is predicted: precision 1, recall 1/3, F1 0.5.
        let r = &rows[85];
        assert!((r.values[2].0 - 1.0).abs() < 1e-12 && (r.values[3].0 - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.values[0].0 - 0.5).abs() < 1e-12);
        // Intervals bracket the point value.
        for row in &rows {
            for (v, lo, hi) in row.values {
                assert!(lo <= hi && lo <= v + 1e-9 && v <= hi + 1e-9, "{row:?}");
            }
        }
        // F1 is best (0.8: tp 3 of 4 positives... ) on the plateau 0.35..0.40:
        // predicted {0.9, 0.8, 0.6, 0.4}: tp 3, fp 1, fn 0 → F1 = 6/7.
        let t = recommend(&rows, Metric::F1).unwrap();
        assert!((0.21..=0.40).contains(&t), "{t}");
        assert!((rows[(t * 100.0).round() as usize].values[0].0 - 6.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn weights_make_the_sample_speak_for_the_population() {
        // One positive sampled from a stratum ten times larger counts ten times.
        let items = [
            Labelled {
                score: 0.9,
                positive: true,
                weight: 10.0,
            },
            Labelled {
                score: 0.9,
                positive: false,
                weight: 1.0,
            },
        ];
        let rows = sweep(&items, 10, 2);
        assert!((rows[50].values[2].0 - 10.0 / 11.0).abs() < 1e-12);
        assert!(Metric::parse("F0.5").is_ok() && Metric::parse("auc").is_err());
    }
}
