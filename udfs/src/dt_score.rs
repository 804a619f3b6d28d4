//! `dt_score(embedding, ['group',] 'tag')`: the score in [0, 1] of each embedding for a
//! tag, under the definition of the group that the session's dataset applies — the same
//! compiled head and kernel that fill the `dt_` tables.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};
use dyntag_core::Modality;
use dyntag_core::model::dataset::schema::embedding_origin;
use dyntag_core::model::dataset::vectors::vectors;
use dyntag_core::model::snapshot::Definition;
use dyntag_core::scoring::head::CompiledHeads;

use crate::{DOC_SECTION, FunctionContext, is_string, literal_string, scalar_args};

/// The `dt_score` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DtScore {
    signature: Signature,
    ctx: FunctionContext,
}

impl DtScore {
    /// What it resolves tags with.
    pub fn context(&self) -> &FunctionContext {
        &self.ctx
    }

    /// `dt_score` bound to a session.
    pub fn new(ctx: FunctionContext) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Stable),
            ctx,
        }
    }

    /// Resolves the tag and checks that the embedding's model is the one the tag is
    /// built for on this dataset. Returns the definition, tag name, modality and model.
    fn resolve(
        &self,
        field: &Field,
        group: Option<&str>,
        tag: &str,
    ) -> Result<(Definition, String, Modality, String)> {
        let Some((model, modality)) = embedding_origin(field) else {
            return plan_err!(
                "dt_score: the embedding argument '{}' carries no model id; pass an embedding column of a dyntag table (e.g. coactive_table_adv.embedding) or embed_text(...)",
                field.name()
            );
        };
        let modality = match modality {
            "visual" => Modality::Visual,
            _ => Modality::Transcript,
        };
        let dataset = self.ctx.dataset.get();
        let catalog = &self.ctx.catalog;
        let snapshot = catalog.snapshot();
        let (definition, tag) = catalog.resolve_tag(&snapshot, &dataset, group, tag)?;
        if let Ok(manifest) = snapshot.dataset(&dataset)
            && let Some(expected) = manifest.models.get(&modality)
            && expected.id != model
        {
            return plan_err!(
                "dt_score: the embedding comes from model '{model}' but tag '{tag}' of group '{}' is built for the {modality} model '{}' of dataset '{dataset}'",
                definition.group,
                expected.id
            );
        }
        Ok((definition, tag, modality, model.to_string()))
    }

    fn names(args: &[Option<&ScalarValue>]) -> Result<(Option<String>, String)> {
        match args.len() {
            2 => Ok((None, literal_string("dt_score", "tag", args[1])?)),
            3 => Ok((
                Some(literal_string("dt_score", "group", args[1])?),
                literal_string("dt_score", "tag", args[2])?,
            )),
            n => {
                plan_err!("dt_score takes 2 or 3 arguments (embedding, ['group',] 'tag'), got {n}")
            }
        }
    }

    fn heads(&self, field: &Field, group: Option<&str>, tag: &str) -> Result<Arc<CompiledHeads>> {
        let (definition, tag, modality, model) = self.resolve(field, group, tag)?;
        Ok(self
            .ctx
            .catalog
            .heads(&definition, modality, &model, Some(&tag))?)
    }
}

impl ScalarUDFImpl for DtScore {
    fn name(&self) -> &str {
        "dt_score"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&arg_types.len()) {
            return plan_err!(
                "dt_score takes 2 or 3 arguments (embedding, ['group',] 'tag'), got {}",
                arg_types.len()
            );
        }
        let mut out = Vec::with_capacity(arg_types.len());
        match &arg_types[0] {
            t if crate::is_embedding(t) => out.push(t.clone()),
            other => {
                return plan_err!(
                    "dt_score: the first argument must be an embedding (a fixed-size list of float32 or float16, or int8 codes with a scale), got {other}"
                );
            }
        }
        for t in &arg_types[1..] {
            if !is_string(t) {
                return plan_err!("dt_score: group and tag must be strings, got {t}");
            }
            out.push(DataType::Utf8);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let (group, tag) = Self::names(args.scalar_arguments)?;
        self.resolve(&args.arg_fields[0], group.as_deref(), &tag)?;
        Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalars = scalar_args(&args.args);
        let (group, tag) = Self::names(&scalars)?;
        let heads = self.heads(&args.arg_fields[0], group.as_deref(), &tag)?;
        let is_scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let array = args.args[0].to_array(args.number_rows)?;
        let (x, dim) = vectors(array.as_ref())
            .ok_or_else(|| exec_datafusion_err!("dt_score: the argument is not an embedding"))?;
        if dim != heads.scorer.dim() {
            return exec_err!(
                "dt_score: embeddings have dimension {dim} but model '{}' makes {}",
                heads.model,
                heads.scorer.dim()
            );
        }
        let mut out = vec![0f32; array.len()];
        if !array.is_empty() {
            // The background term of a model is the same for every tag: when the rows come
            // from the resident cache it is computed once per batch and kept.
            let key = format!("background:{}:{}", heads.model, heads.modality);
            let kept = self
                .ctx
                .catalog
                .table_cache()
                .derived(&x, dim, &key, |all| {
                    let mut bg = vec![0f32; all.rows(dim)];
                    heads.scorer.background_vectors(all, &mut bg);
                    bg
                });
            match kept {
                Some(bg) => heads
                    .scorer
                    .score_vectors_with_background(&x, &bg, &mut out),
                None => heads.scorer.score_vectors(&x, &mut out),
            }
        }
        let scores = Float64Array::new(
            out.into_iter().map(f64::from).collect(),
            array.logical_nulls(),
        );
        if is_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &scores, 0,
            )?))
        } else {
            Ok(ColumnarValue::Array(Arc::new(scores)))
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DOC_SECTION,
                "The relevance score in [0, 1] of an embedding for a dynamic tag, under the version of the tag's group that the current dataset applies (or the draft, for a group not yet published on its training dataset). The embedding must come from the model the tag is built for on this dataset; an unknown or ambiguous tag is a planning error.",
                "dt_score(embedding, 'tag') | dt_score(embedding, 'group', 'tag')",
            )
            .with_sql_example("SELECT coactive_image_id, dt_score(embedding, 'sports', 'goal keeper') AS score\nFROM coactive_table_adv ORDER BY score DESC LIMIT 10")
            .with_argument("embedding", "An embedding column of a dyntag table (coactive_table_adv.embedding, coactive_transcripts.embedding) or embed_text(...).")
            .with_argument("group", "The tag group's name (optional unless the tag name is in several groups).")
            .with_argument("tag", "The tag's name.")
            .with_related_udf("threshold_decision")
            .build()
        }))
    }
}
