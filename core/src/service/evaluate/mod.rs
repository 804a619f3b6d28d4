//! The Tag Evaluator: a sample of a published tag's items stratified over the score range,
//! ground truth for it (a user through the API, or a labels file; the sample dataset ships
//! one), items the user judges wrong removed, then every metric over thresholds 0.00–1.00
//! with bootstrap intervals ([`metrics`]), the recommended threshold, and thresholds with
//! a guarantee ([`supg`]).
//!
//! ```text
//! evaluations/<group>/<tag>/_log/0000000003.json    the sample and its labels, one revision per change
//! ```

pub mod labels_file;
pub mod metrics;
pub mod supg;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::model::Modality;
use crate::model::access::{DatasetRole, Principal, View};
use crate::model::dataset::now;
use crate::model::snapshot::Definition;
use crate::model::tags::names;
use crate::scoring::scan::{BUCKETS, RowRef, bucket};
use crate::service::tags::{GroupEdit, TagService};
use crate::service::{Catalog, Freshness};
use crate::store::random::Random;
use crate::store::{RevisionLog, Step};
use crate::{CatalogError, Result};
pub use labels_file::LabelsFile;
use metrics::{Labelled, Metric, Row};
use supg::{Choice, Target};

/// Default sample size (the product's).
pub const SAMPLE: usize = 400;
const RESAMPLES: usize = 200;

/// One sampled item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalItem {
    pub asset_id: String,
    pub score: f64,
    /// The inverse of its chance of being sampled.
    pub weight: f64,
    pub label: Option<bool>,
    /// Where the label came from (`user`, `file:<name>`).
    pub source: Option<String>,
    pub removed: bool,
}

/// An evaluation of one tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub group: String,
    pub tag: String,
    pub dataset: String,
    /// The published version whose scores were sampled.
    pub version: u32,
    pub created_at: String,
    pub items: Vec<EvalItem>,
}

impl Evaluation {
    /// The labelled items still in.
    pub fn labelled(&self) -> Vec<Labelled> {
        self.items
            .iter()
            .filter(|i| !i.removed)
            .filter_map(|i| {
                Some(Labelled {
                    score: i.score,
                    positive: i.label?,
                    weight: i.weight,
                })
            })
            .collect()
    }

    /// The metric sweep of the labelled items.
    pub fn sweep(&self) -> Vec<Row> {
        metrics::sweep(&self.labelled(), RESAMPLES, 17)
    }
}

fn log(group: &str, tag: &str) -> RevisionLog {
    RevisionLog::new(
        Path::from("evaluations")
            .join(group)
            .join(names::slug(tag).as_str()),
        format!("evaluation of tag '{tag}' of '{group}'"),
    )
}

/// The current evaluation of `tag` of group `slug`, if any (no access check: the caller's).
pub async fn load(catalog: &Catalog, slug: &str, tag: &str) -> Result<Option<Evaluation>> {
    Ok(log(slug, tag)
        .latest::<Evaluation>(catalog.store())
        .await?
        .map(|(_, e)| e))
}

/// The Tag Evaluator's table of `tag` of group `slug` (what `dt_metrics` and the metrics
/// route answer): every metric over thresholds, from the current evaluation's labels.
pub async fn metrics(catalog: &Catalog, slug: &str, tag: &str) -> Result<RecordBatch> {
    let eval = load(catalog, slug, tag).await?.ok_or_else(|| {
        CatalogError::State(format!(
            "tag '{tag}' has no evaluation yet: EVALUATE TAG '{tag}' IN GROUP {slug} draws its sample"
        ))
    })?;
    if eval.labelled().is_empty() {
        return Err(CatalogError::State(format!(
            "the evaluation of tag '{tag}' has no labels yet"
        )));
    }
    metrics_table(&eval.sweep())
}

/// The sweep as a table: threshold, then each metric with its 95% interval, then whether
/// the row is the recommended threshold for F1.
pub fn metrics_table(rows: &[Row]) -> Result<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array};
    let recommended = metrics::recommend(rows, Metric::F1);
    let mut cols: Vec<(String, ArrayRef)> = vec![(
        "threshold".into(),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.threshold).collect::<Vec<_>>(),
        )),
    )];
    for (mi, m) in Metric::ALL.iter().enumerate() {
        for (suffix, pick) in [("", 0usize), ("_low", 1), ("_high", 2)] {
            let v: Vec<f64> = rows
                .iter()
                .map(|r| {
                    let (a, b, c) = r.values[mi];
                    [a, b, c][pick]
                })
                .collect();
            cols.push((
                format!("{}{suffix}", m.as_str()),
                Arc::new(Float64Array::from(v)),
            ));
        }
    }
    cols.push((
        "recommended".into(),
        Arc::new(BooleanArray::from(
            rows.iter()
                .map(|r| recommended.is_some_and(|t| (t - r.threshold).abs() < 1e-9))
                .collect::<Vec<_>>(),
        )),
    ));
    RecordBatch::try_from_iter(cols).map_err(|e| CatalogError::engine("dt_metrics", e))
}

/// A stratified sample of about `size` of `scores` (10 buckets of width 0.1, an equal share
/// from each, the rest spread over buckets with items left), with weights.
pub fn stratified(scores: &[(String, f64)], size: usize, seed: u64) -> Vec<EvalItem> {
    stratified_by(scores, |s| s.1, size, seed)
        .into_iter()
        .map(|((id, score), weight)| eval_item(id.clone(), *score, weight))
        .collect()
}

/// [`stratified`] of any scored items: the items drawn (in bucket order) and their weights.
pub fn stratified_by<T>(
    items: &[T],
    score: impl Fn(&T) -> f64,
    size: usize,
    seed: u64,
) -> Vec<(&T, f64)> {
    let mut buckets: Vec<Vec<&T>> = (0..BUCKETS).map(|_| Vec::new()).collect();
    for s in items {
        buckets[bucket(score(s))].push(s);
    }
    let mut quota = [0usize; BUCKETS];
    let mut left = size.min(items.len());
    while left > 0 {
        let open: Vec<usize> = (0..BUCKETS)
            .filter(|&b| quota[b] < buckets[b].len())
            .collect();
        if open.is_empty() {
            break;
        }
        for b in open {
            if left == 0 {
                break;
            }
            quota[b] += 1;
            left -= 1;
        }
    }
    let mut rng = Random::seeded(seed);
    let mut out = Vec::new();
    for (b, items) in buckets.iter_mut().enumerate() {
        let k = quota[b];
        if k == 0 {
            continue;
        }
        let weight = items.len() as f64 / k as f64;
        out.extend(
            rng.choose(std::mem::take(items), k)
                .into_iter()
                .map(|item| (item, weight)),
        );
    }
    out
}

/// A sampled item, not labelled yet.
fn eval_item(asset_id: String, score: f64, weight: f64) -> EvalItem {
    EvalItem {
        asset_id,
        score,
        weight,
        label: None,
        source: None,
        removed: false,
    }
}

fn no_evaluation(slug: &str, tag: &str) -> CatalogError {
    CatalogError::State(format!(
        "tag '{tag}' has no evaluation yet: EVALUATE TAG '{tag}' IN GROUP {slug} draws its sample"
    ))
}

/// The Evaluator, for one caller.
pub struct Evaluator {
    catalog: Arc<Catalog>,
    caller: Principal,
    fresh: Freshness,
}

impl Evaluator {
    pub fn new(catalog: Arc<Catalog>, caller: Principal) -> Self {
        Self {
            catalog,
            caller,
            fresh: Freshness::CatchUp,
        }
    }

    /// For a caller that has just refreshed the catalog (a statement).
    pub fn after_refresh(mut self) -> Self {
        self.fresh = Freshness::Refreshed;
        self
    }

    fn tags(&self) -> TagService {
        TagService::new(Arc::clone(&self.catalog), self.caller.clone()).with_freshness(self.fresh)
    }

    /// Checks the caller edits `group` and it is published; its slug, training dataset,
    /// latest version and the tag's name.
    async fn target(&self, group: &str, tag: &str) -> Result<(String, String, u32, String)> {
        let snapshot = self.fresh.snapshot(&self.catalog).await?;
        let view = View::new(&snapshot, &self.caller);
        let g = &view.group(group)?.doc;
        if !view.sees_dataset(&g.training_dataset) {
            return Err(CatalogError::Denied(format!(
                "permission denied: tag group '{}' is evaluated on its training dataset",
                g.name
            )));
        }
        view.require(&g.training_dataset, DatasetRole::Editor, "evaluating tags")?;
        let t = g.tag(tag).ok_or_else(|| CatalogError::NotFound {
            kind: "tag",
            name: tag.to_string(),
            hint: format!(" in tag group '{}'", g.name),
        })?;
        if g.latest_version == 0 {
            return Err(CatalogError::State(format!(
                "the Tag Evaluator works on published tags: publish tag group '{}' first",
                g.name
            )));
        }
        Ok((
            g.slug.clone(),
            g.training_dataset.clone(),
            g.latest_version,
            t.name.clone(),
        ))
    }

    /// Draws a new sample of about `size` items of the published tag (replacing any earlier
    /// evaluation of it).
    pub async fn start(
        &self,
        group: &str,
        tag: &str,
        size: usize,
        seed: Option<u64>,
    ) -> Result<Evaluation> {
        let (slug, dataset, version, tag) = self.target(group, tag).await?;
        let snapshot = self.catalog.snapshot();
        let frozen = snapshot
            .versions
            .get(&(slug.clone(), version))
            .ok_or_else(|| {
                CatalogError::Internal(format!("version {version} of '{slug}' is missing"))
            })?;
        let definition = Definition {
            group: slug.clone(),
            version: Some(version),
            revision: 0,
            tags: frozen.tags.clone(),
        };
        let rows = crate::scoring::scan::score_rows(
            &self.catalog,
            &self.catalog.snapshot(),
            &dataset,
            &definition,
            Modality::Visual,
            &tag,
        )
        .await?;
        if rows.refs.is_empty() {
            return Err(CatalogError::State(format!(
                "dataset '{dataset}' has no images or keyframes to evaluate"
            )));
        }
        let seed = seed.unwrap_or_else(crate::store::random::fresh_seed);
        let (drawn, weights): (Vec<RowRef>, Vec<f64>) =
            stratified_by(&rows.refs, |r| r.score, size.max(1), seed)
                .into_iter()
                .map(|(r, w)| (*r, w))
                .unzip();
        let items = rows
            .fetch(&self.catalog, &drawn)
            .await?
            .into_iter()
            .zip(weights)
            .map(|(f, w)| eval_item(f.item.id, f.item.score, w))
            .collect();
        let eval = Evaluation {
            group: slug.clone(),
            tag: tag.clone(),
            dataset,
            version,
            created_at: now(),
            items,
        };
        // A new sample replaces the current one, whatever it is.
        log(&slug, &tag)
            .update(self.catalog.store(), |_: Option<(u64, Evaluation)>| {
                Ok(Step::Commit(eval.clone(), ()))
            })
            .await?;
        Ok(eval)
    }

    /// The current evaluation of a tag.
    pub async fn current(&self, group: &str, tag: &str) -> Result<(u64, Evaluation)> {
        let (slug, _, _, tag) = self.target(group, tag).await?;
        log(&slug, &tag)
            .latest::<Evaluation>(self.catalog.store())
            .await?
            .ok_or_else(|| no_evaluation(&slug, &tag))
    }

    async fn update(
        &self,
        group: &str,
        tag: &str,
        f: impl Fn(&mut Evaluation) -> Result<()>,
    ) -> Result<Evaluation> {
        let (slug, _, _, tag) = self.target(group, tag).await?;
        let (_, eval) = log(&slug, &tag)
            .update(self.catalog.store(), |latest: Option<(u64, Evaluation)>| {
                let (_, mut eval) = latest.ok_or_else(|| no_evaluation(&slug, &tag))?;
                f(&mut eval)?;
                Ok(Step::Commit(eval.clone(), eval))
            })
            .await?;
        Ok(eval)
    }

    /// Labels sampled items (`asset id → positive`); ids not in the sample are an error.
    pub async fn label(
        &self,
        group: &str,
        tag: &str,
        labels: &[(String, bool)],
        source: &str,
    ) -> Result<usize> {
        let eval = self
            .update(group, tag, |e| {
                let ids: HashMap<&str, usize> = e
                    .items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (x.asset_id.as_str(), i))
                    .collect();
                let unknown: Vec<&str> = labels
                    .iter()
                    .filter(|(id, _)| !ids.contains_key(id.as_str()))
                    .map(|(id, _)| id.as_str())
                    .collect();
                if !unknown.is_empty() {
                    return Err(CatalogError::NotFound {
                        kind: "evaluation item",
                        name: unknown[..unknown.len().min(5)].join("', '"),
                        hint: " (label the items of the sample: SHOW EVALUATION OF TAG ...)".into(),
                    });
                }
                let at: Vec<(usize, bool)> = labels
                    .iter()
                    .map(|(id, l)| (ids[id.as_str()], *l))
                    .collect();
                for (i, l) in at {
                    e.items[i].label = Some(l);
                    e.items[i].source = Some(source.to_string());
                }
                Ok(())
            })
            .await?;
        Ok(eval.items.iter().filter(|i| i.label.is_some()).count())
    }

    /// Labels the sample from a file (CSV or Parquet) of `asset id, tag, label`: the id column
    /// is `coactive_image_id`, `asset_id` or `path` (its file stem), `label` is 1/0 or
    /// true/false; rows of other tags are ignored. Returns (matched, labelled in total).
    pub async fn label_from_file(
        &self,
        group: &str,
        tag: &str,
        file: &LabelsFile,
    ) -> Result<(usize, usize)> {
        let (_, eval) = self.current(group, tag).await?;
        let rows = file.read(self.catalog.store()).await?;
        let wanted: HashSet<&str> = eval.items.iter().map(|i| i.asset_id.as_str()).collect();
        let labels: Vec<(String, bool)> = rows
            .into_iter()
            .filter(|(_, t, _)| t.eq_ignore_ascii_case(&eval.tag))
            .filter(|(id, _, _)| wanted.contains(id.as_str()))
            .map(|(id, _, l)| (id, l))
            .collect();
        let name = file.name();
        let total = self
            .label(group, tag, &labels, &format!("file:{name}"))
            .await?;
        Ok((labels.len(), total))
    }

    /// Labels the sampled items not labelled yet by asking the configured LLM, one image
    /// at a time (sent as image content), whether it shows the tag. Items without a
    /// readable image are skipped. Returns (labelled now, skipped, labelled in total).
    pub async fn label_with_llm(&self, group: &str, tag: &str) -> Result<(usize, usize, usize)> {
        use base64::Engine as _;
        let llm = crate::service::suggest::LlmConfig::from_env().ok_or_else(|| {
            CatalogError::State(
                "no LLM is configured: set DYNTAG_LLM_URL (an OpenAI-compatible endpoint that accepts images), DYNTAG_LLM_MODEL and DYNTAG_LLM_API_KEY".into(),
            )
        })?;
        let (_, eval) = self.current(group, tag).await?;
        let wanted: HashSet<String> = eval
            .items
            .iter()
            .filter(|i| i.label.is_none() && !i.removed)
            .map(|i| i.asset_id.clone())
            .collect();
        // The wanted rows get a score (0), the others none (NaN); only they are read again.
        let rows = crate::scoring::scan::scored_rows(
            &self.catalog,
            &self.catalog.snapshot(),
            &eval.dataset,
            Modality::Visual,
            |b, _, _| {
                let ids = crate::scoring::scan::item_ids(b, Modality::Visual)?;
                Ok(ids
                    .iter()
                    .map(|id| match id {
                        Some(id) if wanted.contains(id) => 0.0,
                        _ => f64::NAN,
                    })
                    .collect())
            },
        )
        .await?;
        let keep: Vec<RowRef> = rows
            .refs
            .iter()
            .filter(|r| !r.score.is_nan())
            .copied()
            .collect();
        let paths: Vec<(String, Option<String>)> = rows
            .fetch(&self.catalog, &keep)
            .await?
            .into_iter()
            .map(|f| (f.item.id, f.item.detail))
            .collect();
        let mut labels = Vec::new();
        let mut skipped = 0;
        for (id, path) in paths {
            let bytes = match &path {
                Some(p) => tokio::fs::read(p).await.ok(),
                None => None,
            };
            let Some(bytes) = bytes else {
                skipped += 1;
                continue;
            };
            let p = path.unwrap_or_default().to_ascii_lowercase();
            let mime = if p.ends_with(".png") {
                "image/png"
            } else if p.ends_with(".webp") {
                "image/webp"
            } else {
                "image/jpeg"
            };
            let url = format!(
                "data:{mime};base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&bytes)
            );
            let messages = serde_json::json!([
                { "role": "system", "content": "You label images for evaluating an image tagger. Answer only with a JSON object {\"answer\": \"yes\"} or {\"answer\": \"no\"}." },
                { "role": "user", "content": [
                    { "type": "text", "text": format!("Does this image show \"{}\"?", eval.tag) },
                    { "type": "image_url", "image_url": { "url": url } }
                ] }
            ]);
            let answer = llm.complete_json(messages).await?;
            let yes = match &answer["answer"] {
                serde_json::Value::String(s) if s.eq_ignore_ascii_case("yes") => true,
                serde_json::Value::String(s) if s.eq_ignore_ascii_case("no") => false,
                serde_json::Value::Bool(b) => *b,
                other => {
                    return Err(CatalogError::Upstream(format!(
                        "the LLM's answer for item '{id}' is neither yes nor no: {other}"
                    )));
                }
            };
            labels.push((id, yes));
        }
        let n = labels.len();
        let total = if n > 0 {
            self.label(group, tag, &labels, "llm").await?
        } else {
            eval.items.iter().filter(|i| i.label.is_some()).count()
        };
        Ok((n, skipped, total))
    }

    /// Takes items out of the evaluation (the user judged their label or item wrong).
    pub async fn remove(&self, group: &str, tag: &str, ids: &[String]) -> Result<usize> {
        let eval = self
            .update(group, tag, |e| {
                let mut hit = 0;
                for i in &mut e.items {
                    if ids.contains(&i.asset_id) {
                        i.removed = true;
                        hit += 1;
                    }
                }
                if hit == 0 {
                    return Err(CatalogError::NotFound {
                        kind: "evaluation item",
                        name: ids.join("', '"),
                        hint: String::new(),
                    });
                }
                Ok(())
            })
            .await?;
        Ok(eval.items.iter().filter(|i| i.removed).count())
    }

    /// Saves the threshold that maximises `metric` (updates `threshold_decision`
    /// everywhere, no rescoring).
    pub async fn save_threshold(&self, group: &str, tag: &str, metric: Metric) -> Result<f64> {
        let (_, eval) = self.current(group, tag).await?;
        let labelled = eval.labelled();
        if labelled.is_empty() {
            return Err(CatalogError::State(format!(
                "the evaluation of tag '{}' has no labels yet",
                eval.tag
            )));
        }
        let t = metrics::recommend(&eval.sweep(), metric)
            .ok_or_else(|| CatalogError::Internal("no threshold could be recommended".into()))?;
        self.tags()
            .edit(
                &eval.group,
                &GroupEdit::SetThreshold {
                    tag: eval.tag.clone(),
                    threshold: t,
                },
                None,
            )
            .await?;
        Ok(t)
    }

    /// Chooses and saves the threshold meeting `target` with its confidence (SUPG), and
    /// records the target, threshold and bound with the tag and the version evaluated.
    pub async fn set_target(&self, group: &str, tag: &str, target: Target) -> Result<Choice> {
        let (_, eval) = self.current(group, tag).await?;
        let labelled = eval.labelled();
        let choice = supg::choose(&labelled, target).ok_or_else(|| {
            CatalogError::State(format!(
                "no threshold of tag '{}' meets {} on this evaluation ({} labelled items); label more items or relax the target",
                eval.tag,
                target.describe(),
                labelled.len()
            ))
        })?;
        self.tags()
            .edit(
                &eval.group,
                &GroupEdit::SetGuarantee {
                    tag: eval.tag.clone(),
                    guarantee: crate::model::tags::Guarantee {
                        target,
                        threshold: choice.threshold,
                        estimate: choice.estimate,
                        lower_bound: choice.lower_bound,
                        version: eval.version,
                        labelled: labelled.len(),
                        evaluated_at: now(),
                    },
                },
                None,
            )
            .await?;
        Ok(choice)
    }
}

/// `(asset id, tag, label)` rows of a labels file.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_stratified_and_weighted() {
        // 900 low scores, 100 high ones; a sample of 100 takes 10 per bucket where it can.
        let scores: Vec<(String, f64)> = (0..1000)
            .map(|i| (format!("i{i}"), if i < 900 { 0.05 } else { 0.95 }))
            .collect();
        let s = stratified(&scores, 100, 7);
        assert_eq!(s.len(), 100);
        let low: Vec<&EvalItem> = s.iter().filter(|i| i.score < 0.5).collect();
        assert_eq!(low.len(), 50, "two non-empty buckets share the sample");
        assert!((low[0].weight - 18.0).abs() < 1e-12);
        let total: f64 = s.iter().map(|i| i.weight).sum();
        assert!(
            (total - 1000.0).abs() < 1e-9,
            "weights add up to the population"
        );
        let ids: HashSet<&str> = s.iter().map(|i| i.asset_id.as_str()).collect();
        assert_eq!(ids.len(), 100, "no item twice");
    }
}
