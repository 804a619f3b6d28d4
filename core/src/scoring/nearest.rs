//! The rows of a modality nearest a query vector (score = inner product, the cosine of unit
//! embeddings): candidates proposed by the search index's segments and scored again from
//! the data files (the exact re-rank), and every row no segment covers scored exactly —
//! the exact scan, which is also what `exact` asks for and what a segment that cannot be
//! read falls back to. Files holding neither a candidate nor an uncovered row are not read.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use datafusion::arrow::array::RecordBatch;

use super::Resources;
use super::kernel::{dot_rows, dot_rows_at};
use super::scan::{Item, batches, embeddings, item_at};
use crate::model::Modality;
use crate::model::dataset::{DatasetManifest, TableKind, dataset_dir};
use crate::{CatalogError, Result};

/// Candidates asked of each segment by default: at least this many, and twice the rows
/// wanted. A graph search keeps as many candidates as it is asked for (or its ef, if
/// larger), so this is the search's effort: `dyntag bench search --candidates` measures
/// recall and latency for others.
pub const CANDIDATES: usize = 512;

/// How a [`nearest`] search went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nearest {
    /// The rows found, nearest first.
    pub items: Vec<Item>,
    /// Rows scored exactly: no readable segment covers them, or theirs is no larger than
    /// the candidates asked of it.
    pub scanned: u64,
    /// Candidates the index proposed (and the re-rank scored).
    pub candidates: u64,
}

/// A row kept while searching: its score, the batch and the row.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Kept(f32, u32, u32);

impl Eq for Kept {}

impl Ord for Kept {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .total_cmp(&other.0)
            .then(other.1.cmp(&self.1))
            .then(other.2.cmp(&self.2))
    }
}

impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` rows of `modality` in `manifest` nearest `q`, best first, leaving out the row
/// whose id is `skip` (the item a "find similar" starts from). `exact` scans every row.
pub async fn nearest(
    catalog: &Resources,
    manifest: &DatasetManifest,
    modality: Modality,
    q: &[f32],
    k: usize,
    exact: bool,
    skip: Option<&str>,
) -> Result<Nearest> {
    nearest_with(catalog, manifest, modality, q, k, exact, skip, CANDIDATES).await
}

/// [`nearest`], asking each segment for at least `per_segment` candidates.
#[allow(clippy::too_many_arguments)]
pub async fn nearest_with(
    catalog: &Resources,
    manifest: &DatasetManifest,
    modality: Modality,
    q: &[f32],
    k: usize,
    exact: bool,
    skip: Option<&str>,
    per_segment: usize,
) -> Result<Nearest> {
    let Some(model) = manifest.models.get(&modality) else {
        return Ok(Nearest::default());
    };
    if model.dimension != q.len() {
        return Err(CatalogError::State(format!(
            "{modality} embeddings of dataset '{}' have dimension {}, not the query's {}",
            manifest.name,
            model.dimension,
            q.len()
        )));
    }
    let want = k + usize::from(skip.is_some());
    let (proposed, covered) = if exact {
        (Vec::new(), Vec::new())
    } else {
        candidates(catalog, manifest, modality, q, (2 * want).max(per_segment)).await
    };
    let mut out = Nearest {
        candidates: proposed.len() as u64,
        ..Nearest::default()
    };
    let mut kept: BinaryHeap<Reverse<Kept>> = BinaryHeap::with_capacity(want + 1);
    let mut held: Vec<RecordBatch> = Vec::new();
    let keep = |kept: &mut BinaryHeap<Reverse<Kept>>, row: Kept| {
        if kept.len() < want {
            kept.push(Reverse(row));
        } else if kept.peek().is_some_and(|Reverse(least)| row > *least) {
            kept.pop();
            kept.push(Reverse(row));
        }
    };
    let mut offset = 0u64;
    for file in manifest.files(TableKind::of(modality)) {
        let (lo, hi) = (offset, offset + file.rows);
        offset = hi;
        let has_candidates =
            proposed.partition_point(|c| *c < lo) != proposed.partition_point(|c| *c < hi);
        if !has_candidates && is_covered(&covered, lo, hi) {
            continue;
        }
        let mut b0 = lo;
        for batch in batches(catalog, file).await?.iter() {
            let n = batch.num_rows() as u64;
            let (from, to) = (
                proposed.partition_point(|c| *c < b0),
                proposed.partition_point(|c| *c < b0 + n),
            );
            let gaps = gaps(&covered, b0, b0 + n);
            if !gaps.is_empty() || from < to {
                let (values, dim) = embeddings(batch)?;
                let id = held.len() as u32;
                for (g0, g1) in gaps {
                    out.scanned += g1 - g0;
                    let first = (g0 - b0) as usize;
                    let scores = dot_rows(&values.slice(first, (g1 - g0) as usize, dim), q);
                    for (r, s) in scores.into_iter().enumerate() {
                        keep(&mut kept, Kept(s, id, (first + r) as u32));
                    }
                }
                let at: Vec<usize> = proposed[from..to]
                    .iter()
                    .map(|c| (c - b0) as usize)
                    .collect();
                for (r, s) in at.iter().zip(dot_rows_at(&values, &at, q)) {
                    keep(&mut kept, Kept(s, id, *r as u32));
                }
                held.push(batch.clone());
            }
            b0 += n;
        }
    }
    let mut rows: Vec<Kept> = kept.into_iter().map(|Reverse(r)| r).collect();
    rows.sort_by(|a, b| b.cmp(a));
    for Kept(score, b, r) in rows {
        let item = item_at(&held[b as usize], r as usize, modality, f64::from(score))?;
        if Some(item.id.as_str()) != skip && out.items.len() < k {
            out.items.push(item);
        }
    }
    Ok(out)
}

/// The rows the index proposes for `q` (sorted, each once), and the row ranges of the
/// segments that answered. A segment that cannot be read is logged and its rows are scanned;
/// so are those of a segment no larger than `count`: scoring every row costs no more than
/// re-ranking that many candidates, and a graph may not reach every node of a small one.
async fn candidates(
    catalog: &Resources,
    manifest: &DatasetManifest,
    modality: Modality,
    q: &[f32],
    count: usize,
) -> (Vec<u64>, Vec<(u64, u64)>) {
    let segments = manifest.index_segments(modality);
    let prefix = dataset_dir(&manifest.name)
        .join("index")
        .join(modality.as_str())
        .to_string();
    catalog.forget_segments(&prefix, segments);
    let mut found = Vec::new();
    let mut covered = Vec::new();
    for segment in segments {
        if segment.rows <= count as u64 {
            continue;
        }
        let searched = match catalog.index_segment(segment).await {
            Ok(index) => {
                let q = q.to_vec();
                tokio::task::spawn_blocking(move || index.search(&q, count))
                    .await
                    .unwrap_or_else(|e| {
                        Err(CatalogError::Internal(format!("searching the index: {e}")))
                    })
            }
            Err(e) => Err(e),
        };
        match searched {
            Ok(keys) => {
                found.extend(keys);
                covered.push((segment.start, segment.end()));
            }
            Err(e) => tracing::warn!(
                segment = %segment.path,
                "search index segment not used, its rows are scanned: {e}"
            ),
        }
    }
    found.sort_unstable();
    found.dedup();
    (found, merged(covered))
}

/// Sorted row ranges with the adjacent and overlapping ones joined.
fn merged(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Whether rows `lo..hi` lie inside one of the `covered` ranges (joined by [`merged`]).
fn is_covered(covered: &[(u64, u64)], lo: u64, hi: u64) -> bool {
    covered.iter().any(|(s, e)| *s <= lo && hi <= *e)
}

/// The parts of rows `lo..hi` outside the `covered` ranges (sorted, disjoint).
fn gaps(covered: &[(u64, u64)], lo: u64, hi: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = lo;
    for &(s, e) in covered {
        if e <= at {
            continue;
        }
        if s >= hi {
            break;
        }
        if s > at {
            out.push((at, s));
        }
        at = e;
        if at >= hi {
            break;
        }
    }
    if at < hi {
        out.push((at, hi));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_covered_inside_the_segments_that_answered() {
        let covered = merged(vec![(100, 150), (0, 100), (200, 300)]);
        assert_eq!(covered, vec![(0, 150), (200, 300)]);
        assert!(is_covered(&covered, 10, 100));
        assert!(
            is_covered(&covered, 90, 110),
            "straddles two adjacent segments"
        );
        assert!(
            !is_covered(&covered, 140, 160),
            "runs into a gap (a lost segment)"
        );
        assert!(!is_covered(&covered, 250, 301), "runs past the last");
        assert!(!is_covered(&[], 0, 1));
        assert_eq!(gaps(&covered, 0, 150), vec![]);
        assert_eq!(gaps(&covered, 140, 260), vec![(150, 200)]);
        assert_eq!(gaps(&covered, 120, 400), vec![(150, 200), (300, 400)]);
        assert_eq!(gaps(&[], 5, 9), vec![(5, 9)]);
    }

    #[test]
    fn kept_rows_order_by_score_then_position() {
        let mut rows = vec![Kept(0.5, 1, 0), Kept(0.9, 0, 3), Kept(0.5, 0, 2)];
        rows.sort_by(|a, b| b.cmp(a));
        assert_eq!(
            rows,
            vec![Kept(0.9, 0, 3), Kept(0.5, 0, 2), Kept(0.5, 1, 0)]
        );
    }
}
