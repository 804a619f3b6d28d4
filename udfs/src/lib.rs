//! dyntag's SQL functions, one per file, each documented through `documentation()` so that
//! `SHOW FUNCTIONS` and the console list them:
//!
//! | function | file |
//! |---|---|
//! | `dt_score(embedding, ['group',] 'tag')` | [`dt_score`] |
//! | `threshold_decision(score, threshold)`, `threshold_decision(score, ['group',] 'tag')` | [`threshold_decision`] |
//! | `embed_text('text' [, 'model'])` | [`embed_text`] |
//! | `cosine_similarity(a, b)` | [`cosine_similarity`] |
//! | `dt_version('group', 'visual', n)` (table function) | [`dt_version`] |
//! | `semantic_search('query', k [, 'visual' [, 'exact']])`, `similar_items('item_id', k [, 'visual' [, 'exact']])`, `dt_uncertain('group', 'tag', k)` (table functions) | [`search`] |
//!
//! The functions that look up tags resolve them for the session's current dataset, held
//! in a [`SessionDataset`] shared with the session that registers them.

pub mod cosine_similarity;
pub mod dt_score;
pub mod dt_version;
pub mod embed_text;
pub mod search;
pub mod threshold_decision;

use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{DocSection, ScalarUDF};
use dyntag_core::Catalog;

/// The documentation section of dyntag's functions.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "dyntag functions",
    description: Some("Scores, thresholds and embeddings of dynamic tags"),
};

/// The dataset a session works in; functions resolve tags against it.
#[derive(Debug, Clone)]
pub struct SessionDataset(Arc<RwLock<String>>);

impl SessionDataset {
    /// Starts in `dataset`.
    pub fn new(dataset: impl Into<String>) -> Self {
        Self(Arc::new(RwLock::new(dataset.into())))
    }

    /// The current dataset.
    pub fn get(&self) -> String {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Switches to `dataset`.
    pub fn set(&self, dataset: impl Into<String>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = dataset.into();
    }
}

/// What the functions need: the catalog and the session's dataset.
#[derive(Debug, Clone)]
pub struct FunctionContext {
    pub catalog: Arc<Catalog>,
    pub dataset: SessionDataset,
}

impl PartialEq for FunctionContext {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.catalog, &other.catalog) && Arc::ptr_eq(&self.dataset.0, &other.dataset.0)
    }
}

impl Eq for FunctionContext {}

impl std::hash::Hash for FunctionContext {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.catalog) as usize).hash(state);
    }
}

/// All of dyntag's scalar functions, bound to `ctx`.
pub fn functions(ctx: FunctionContext) -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(dt_score::DtScore::new(ctx.clone())),
        ScalarUDF::new_from_impl(threshold_decision::ThresholdDecision::new(ctx.clone())),
        ScalarUDF::new_from_impl(embed_text::EmbedText::new(ctx)),
        ScalarUDF::new_from_impl(cosine_similarity::CosineSimilarity::new()),
    ]
}

/// The dataset a dyntag function of a plan resolves its tags in (`None` for a function
/// that resolves none, or not one of dyntag's): what identifies it in a plan sent to
/// another process, which rebuilds it with [`function_for`].
pub fn bound_dataset(udf: &ScalarUDF) -> Option<String> {
    let ctx = if let Some(f) = udf.inner().downcast_ref::<dt_score::DtScore>() {
        f.context()
    } else if let Some(f) = udf
        .inner()
        .downcast_ref::<threshold_decision::ThresholdDecision>()
    {
        f.context()
    } else if let Some(f) = udf.inner().downcast_ref::<embed_text::EmbedText>() {
        f.context()
    } else {
        return None;
    };
    Some(ctx.dataset.get())
}

/// Whether `udf` is one of dyntag's scalar functions (which other processes rebuild with
/// [`function_for`]: they are not among DataFusion's).
pub fn is_dyntag_function(udf: &ScalarUDF) -> bool {
    udf.inner()
        .downcast_ref::<cosine_similarity::CosineSimilarity>()
        .is_some()
        || bound_dataset(udf).is_some()
}

/// dyntag's function `name` bound to `catalog` and `dataset`; `None` if there is none.
pub fn function_for(name: &str, catalog: Arc<Catalog>, dataset: &str) -> Option<ScalarUDF> {
    functions(FunctionContext {
        catalog,
        dataset: SessionDataset::new(dataset),
    })
    .into_iter()
    .find(|f| f.name() == name)
}

/// dyntag's table functions, bound to `ctx`, by name.
pub fn table_functions(
    ctx: FunctionContext,
) -> Vec<(
    &'static str,
    Arc<dyn datafusion::catalog::TableFunctionImpl>,
)> {
    vec![
        (
            "dt_version",
            Arc::new(dt_version::DtVersion::new(ctx.clone())),
        ),
        (
            "semantic_search",
            Arc::new(search::SemanticSearch::new(ctx.clone())),
        ),
        (
            "similar_items",
            Arc::new(search::SimilarItems::new(ctx.clone())),
        ),
        (
            "dt_uncertain",
            Arc::new(search::DtUncertain::new(ctx.clone())),
        ),
        ("dt_metrics", Arc::new(search::DtMetrics::new(ctx))),
    ]
}

/// A constant string argument, or a plan error naming the function and argument.
pub(crate) fn literal_string(
    function: &str,
    what: &str,
    value: Option<&ScalarValue>,
) -> Result<String> {
    match value {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
        ) => Ok(s.clone()),
        _ => plan_err!(
            "{function}: the {what} must be a constant string (a literal such as 'goal keeper'), not a column or expression"
        ),
    }
}

/// The constant arguments of a call (`None` where an argument is a column).
pub(crate) fn scalar_args(
    args: &[datafusion::logical_expr::ColumnarValue],
) -> Vec<Option<&ScalarValue>> {
    args.iter()
        .map(|a| match a {
            datafusion::logical_expr::ColumnarValue::Scalar(s) => Some(s),
            datafusion::logical_expr::ColumnarValue::Array(_) => None,
        })
        .collect()
}

/// Whether `t` is an embedding in one of its in-memory encodings (see
/// `dyntag_core::model::dataset::encoding`).
pub(crate) fn is_embedding(t: &DataType) -> bool {
    use dyntag_core::model::dataset::encoding::{Encoding, memory_dim};
    match t {
        DataType::FixedSizeList(item, dim) => {
            matches!(item.data_type(), DataType::Float32 | DataType::Float16) && *dim > 0
        }
        DataType::Struct(_) => memory_dim(t).is_some_and(|d| t == &Encoding::Int8.memory_type(d)),
        _ => false,
    }
}

/// Whether a type is a string type.
pub(crate) fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}
