//! `threshold_decision(score, threshold)` and `threshold_decision(score, ['group',] 'tag')`:
//! whether a score counts as tagged — against a given threshold, or against the threshold
//! saved for the tag (the rule that fills the `threshold_decision` column of `dt_` tables).

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::{DOC_SECTION, FunctionContext, is_string, literal_string, scalar_args};

/// The `threshold_decision` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ThresholdDecision {
    signature: Signature,
    ctx: FunctionContext,
}

impl ThresholdDecision {
    /// What it resolves tags with.
    pub fn context(&self) -> &FunctionContext {
        &self.ctx
    }

    /// `threshold_decision` bound to a session.
    pub fn new(ctx: FunctionContext) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Stable),
            ctx,
        }
    }

    /// The saved threshold of a tag of a group the session's dataset sees.
    fn saved_threshold(&self, group: Option<&str>, tag: &str) -> Result<f64> {
        let snapshot = self.ctx.catalog.snapshot();
        let dataset = self.ctx.dataset.get();
        let (definition, tag) = self
            .ctx
            .catalog
            .resolve_tag(&snapshot, &dataset, group, tag)?;
        let g = &snapshot.groups[&definition.group].doc;
        Ok(g.tag(&tag)
            .map_or(dyntag_core::model::tags::DEFAULT_THRESHOLD, |t| t.threshold))
    }

    /// The threshold named by the arguments after the score, if they name a tag.
    fn tag_threshold(
        &self,
        args: &[Option<&ScalarValue>],
        types: &[DataType],
    ) -> Result<Option<f64>> {
        match (args.len(), types.get(1)) {
            (2, Some(t)) if is_string(t) => {
                let tag = literal_string("threshold_decision", "tag", args[1])?;
                Ok(Some(self.saved_threshold(None, &tag)?))
            }
            (3, _) => {
                let group = literal_string("threshold_decision", "group", args[1])?;
                let tag = literal_string("threshold_decision", "tag", args[2])?;
                Ok(Some(self.saved_threshold(Some(&group), &tag)?))
            }
            _ => Ok(None),
        }
    }
}

fn numeric(t: &DataType) -> bool {
    t.is_numeric() || t == &DataType::Null
}

impl ScalarUDFImpl for ThresholdDecision {
    fn name(&self) -> &str {
        "threshold_decision"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [s, t] if numeric(s) && numeric(t) => Ok(vec![DataType::Float64, DataType::Float64]),
            [s, t] if numeric(s) && is_string(t) => Ok(vec![DataType::Float64, DataType::Utf8]),
            [s, g, t] if numeric(s) && is_string(g) && is_string(t) => {
                Ok(vec![DataType::Float64, DataType::Utf8, DataType::Utf8])
            }
            _ => plan_err!(
                "threshold_decision takes (score, threshold) or (score, ['group',] 'tag'); got ({})",
                arg_types
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        self.tag_threshold(args.scalar_arguments, &types)?;
        Ok(Arc::new(Field::new(self.name(), DataType::Boolean, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let scalars = scalar_args(&args.args);
        let all_scalar = scalars.iter().all(Option::is_some);
        let n = args.number_rows;
        let score = cast(&args.args[0].to_array(n)?, &DataType::Float64)?;
        let score = score.as_primitive::<Float64Type>();
        let out: BooleanArray = match self.tag_threshold(&scalars, &types)? {
            Some(t) => score.iter().map(|s| s.map(|s| s >= t)).collect(),
            None => {
                let t = cast(&args.args[1].to_array(n)?, &DataType::Float64)?;
                let t = t.as_primitive::<Float64Type>();
                score
                    .iter()
                    .zip(t.iter())
                    .map(|(s, t)| Some(s? >= t?))
                    .collect()
            }
        };
        if all_scalar && out.len() == 1 {
            Ok(ColumnarValue::Scalar(ScalarValue::Boolean(
                out.is_valid(0).then(|| out.value(0)),
            )))
        } else {
            Ok(ColumnarValue::Array(Arc::new(out)))
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DOC_SECTION,
                "Whether a score counts as tagged: score >= threshold, with a given threshold or with the threshold saved for the tag (the rule of the threshold_decision column of dt_ tables). NULL scores give NULL.",
                "threshold_decision(score, threshold) | threshold_decision(score, 'tag') | threshold_decision(score, 'group', 'tag')",
            )
            .with_sql_example("SELECT coactive_image_id FROM coactive_table_adv\nWHERE threshold_decision(dt_score(embedding, 'sports', 'goal keeper'), 'sports', 'goal keeper')")
            .with_argument("score", "A score in [0, 1].")
            .with_argument("threshold", "A threshold in [0, 1].")
            .with_argument("group", "The tag group's name (optional unless the tag name is in several groups).")
            .with_argument("tag", "The tag whose saved threshold applies.")
            .with_related_udf("dt_score")
            .build()
        }))
    }
}
