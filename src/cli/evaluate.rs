//! `dyntag evaluate`: the Tag Evaluator from the command line. Draws a sample of a
//! published tag's items stratified over its scores, labels it from a file (the sample data
//! ships `truth/labels.csv`), prints the metrics over thresholds with their 95% intervals
//! and the recommended threshold, draws the metric-vs-threshold chart (SVG), and saves the
//! threshold when asked — or one meeting a precision/recall target with a confidence.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use dyntag_core::model::access::Principal;
use dyntag_core::service::evaluate::metrics::{Metric, Row, recommend};
use dyntag_core::service::evaluate::supg::Target;
use dyntag_core::service::evaluate::{Evaluator, SAMPLE};
use plotters::prelude::*;

use super::Global;
use crate::error::{AppError, Result};

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The tag group.
    #[arg(long)]
    pub group: String,
    /// The tag.
    #[arg(long)]
    pub tag: String,
    /// A labels file (CSV or Parquet: coactive_image_id|asset_id|path, tag, label).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Items to sample (a new sample is drawn unless --keep-sample).
    #[arg(long, default_value_t = SAMPLE)]
    pub sample: usize,
    /// Reuse the tag's current evaluation (and its labels).
    #[arg(long)]
    pub keep_sample: bool,
    /// Seed of the sample (default: random).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The metric the recommended threshold maximises.
    #[arg(long, default_value = "f1")]
    pub metric: String,
    /// Where to write the chart (SVG).
    #[arg(long, default_value = "evaluation.svg")]
    pub chart: PathBuf,
    /// Save the recommended threshold.
    #[arg(long)]
    pub save: bool,
    /// Instead: choose and save the threshold meeting precision >= X (SUPG).
    #[arg(long, conflicts_with = "recall_target")]
    pub precision_target: Option<f64>,
    /// Instead: choose and save the threshold meeting recall >= X (SUPG).
    #[arg(long)]
    pub recall_target: Option<f64>,
    /// Confidence of a target.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
}

pub async fn run(global: &Global, args: EvaluateArgs) -> Result<()> {
    let catalog = global.open().await?;
    let metric = Metric::parse(&args.metric)?;
    let ev = Evaluator::new(Arc::clone(&catalog), Principal::LocalAdmin);
    if !args.keep_sample {
        let e = ev
            .start(&args.group, &args.tag, args.sample, args.seed)
            .await?;
        eprintln!(
            "sampled {} items of tag '{}' (version {}), stratified over the score range",
            e.items.len(),
            e.tag,
            e.version
        );
    }
    if let Some(path) = &args.labels {
        let (matched, total) = ev
            .label_from_file(
                &args.group,
                &args.tag,
                &dyntag_core::service::evaluate::LabelsFile::Local(
                    path.to_string_lossy().into_owned(),
                ),
            )
            .await?;
        eprintln!(
            "labelled {matched} items from {}; {total} have labels",
            path.display()
        );
    }
    let (_, eval) = ev.current(&args.group, &args.tag).await?;
    let labelled = eval.labelled();
    if labelled.is_empty() {
        return Err(AppError::Usage(format!(
            "no sampled item of tag '{}' has a label: pass --labels FILE or label through the API",
            eval.tag
        )));
    }
    let rows = eval.sweep();
    let best = recommend(&rows, metric);
    println!(
        "tag '{}' of '{}', version {}: {} labelled items (95% bootstrap intervals)",
        eval.tag,
        eval.group,
        eval.version,
        labelled.len()
    );
    println!("| threshold | F1 | F0.5 | precision | recall | accuracy |");
    println!("|---|---|---|---|---|---|");
    for r in rows.iter().filter(|r| {
        ((r.threshold * 100.0).round() as i64) % 5 == 0
            || best.is_some_and(|b| (b - r.threshold).abs() < 1e-9)
    }) {
        let cell = |i: usize| {
            let (v, lo, hi) = r.values[i];
            format!("{v:.3} [{lo:.2}, {hi:.2}]")
        };
        let mark = if best.is_some_and(|b| (b - r.threshold).abs() < 1e-9) {
            " ←"
        } else {
            ""
        };
        println!(
            "| {:.2}{mark} | {} | {} | {} | {} | {} |",
            r.threshold,
            cell(0),
            cell(1),
            cell(2),
            cell(3),
            cell(4)
        );
    }
    if let Some(b) = best {
        println!("recommended threshold for {}: {b:.2}", metric.as_str());
    }
    chart(
        &rows,
        best,
        metric,
        &args.chart,
        &format!("{} / {}", eval.group, eval.tag),
    )?;
    eprintln!("chart: {}", args.chart.display());
    let target = match (args.precision_target, args.recall_target) {
        (Some(p), _) => Some(Target::Precision {
            at_least: p,
            delta: 1.0 - args.confidence,
        }),
        (_, Some(r)) => Some(Target::Recall {
            at_least: r,
            delta: 1.0 - args.confidence,
        }),
        _ => None,
    };
    if let Some(target) = target {
        let c = ev.set_target(&args.group, &args.tag, target).await?;
        println!(
            "saved threshold {:.2}: {} (estimate {:.3}, lower bound {:.3})",
            c.threshold,
            target.describe(),
            c.estimate,
            c.lower_bound
        );
    } else if args.save {
        let t = ev.save_threshold(&args.group, &args.tag, metric).await?;
        println!("saved threshold {t:.2}");
    }
    Ok(())
}

/// Lines per metric over the threshold, the recommended threshold marked.
fn chart(
    rows: &[Row],
    best: Option<f64>,
    metric: Metric,
    path: &PathBuf,
    title: &str,
) -> Result<()> {
    let fail = |e: String| AppError::Environment(format!("drawing {}: {e}", path.display()));
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title}: metrics by threshold"), ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("threshold")
        .y_desc("value")
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    let colours = [&BLUE, &CYAN, &GREEN, &RED, &MAGENTA];
    for (mi, m) in Metric::ALL.iter().enumerate() {
        let colour = colours[mi];
        chart
            .draw_series(LineSeries::new(
                rows.iter().map(|r| (r.threshold, r.values[mi].0)),
                colour.stroke_width(2),
            ))
            .map_err(|e| fail(e.to_string()))?
            .label(m.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    if let Some(b) = best {
        chart
            .draw_series(LineSeries::new(
                vec![(b, 0.0), (b, 1.02)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| fail(e.to_string()))?
            .label(format!("recommended ({}) {b:.2}", metric.as_str()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
