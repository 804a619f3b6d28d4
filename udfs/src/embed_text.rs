//! `embed_text('text' [, 'model'])`: the unit embedding of a text by a model's text tower
//! (the current dataset's transcript model, else the default model). Constant texts are
//! embedded once and cached.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};
use dyntag_core::Modality;
use dyntag_core::model::dataset::schema::{META_MODALITY, META_MODEL, embedding_item};
use dyntag_models::Model;

use crate::{DOC_SECTION, FunctionContext, is_string, literal_string};

/// The `embed_text` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EmbedText {
    signature: Signature,
    ctx: FunctionContext,
}

impl EmbedText {
    /// What it resolves tags with.
    pub fn context(&self) -> &FunctionContext {
        &self.ctx
    }

    /// `embed_text` bound to a session.
    pub fn new(ctx: FunctionContext) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Stable),
            ctx,
        }
    }

    fn model(&self, named: Option<&str>) -> Result<Arc<Model>> {
        let catalog = &self.ctx.catalog;
        let id = match named {
            Some(id) => id.to_string(),
            None => {
                let snapshot = catalog.snapshot();
                snapshot
                    .dataset(&self.ctx.dataset.get())
                    .ok()
                    .and_then(|m| m.models.get(&Modality::Transcript).map(|e| e.id.clone()))
                    .unwrap_or_else(|| catalog.models().default_id().to_string())
            }
        };
        Ok(catalog.model(&id)?)
    }

    fn dimension(model: &Model) -> Result<usize> {
        match model.manifest().dimension {
            0 => Ok(model.text().map_err(|e| exec_datafusion_err!("{e}"))?.dim()),
            d => Ok(d),
        }
    }

    fn field(&self, model: &Model) -> Result<Field> {
        let dim = Self::dimension(model)?;
        Ok(Field::new(
            self.name(),
            DataType::FixedSizeList(embedding_item(), dim as i32),
            true,
        )
        .with_metadata(HashMap::from([
            (META_MODEL.to_string(), model.id().to_string()),
            (META_MODALITY.to_string(), "text".to_string()),
        ])))
    }
}

impl ScalarUDFImpl for EmbedText {
    fn name(&self) -> &str {
        "embed_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(1..=2).contains(&arg_types.len())
            || !arg_types
                .iter()
                .all(|t| is_string(t) || t == &DataType::Null)
        {
            return plan_err!("embed_text takes ('text' [, 'model'])");
        }
        Ok(vec![DataType::Utf8; arg_types.len()])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        plan_err!("embed_text: return type depends on the model")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let model = match args.scalar_arguments.get(1) {
            Some(v) => Some(literal_string("embed_text", "model", *v)?),
            None => None,
        };
        let model = self.model(model.as_deref())?;
        Ok(Arc::new(self.field(&model)?))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let model = match args.args.get(1) {
            Some(ColumnarValue::Scalar(s)) => Some(literal_string("embed_text", "model", Some(s))?),
            Some(_) => return plan_err!("embed_text: the model must be a constant string"),
            None => None,
        };
        let model = self.model(model.as_deref())?;
        let text = model.text().map_err(|e| exec_datafusion_err!("{e}"))?;
        let dim = text.dim();
        let embed_list = |texts: &dyn Array| -> Result<FixedSizeListArray> {
            let t = texts.as_string::<i32>();
            let mut values = Vec::with_capacity(t.len() * dim);
            for i in 0..t.len() {
                if t.is_null(i) {
                    values.extend(std::iter::repeat_n(0.0, dim));
                } else {
                    values.extend_from_slice(
                        &text
                            .embed_cached(t.value(i))
                            .map_err(|e| exec_datafusion_err!("{e}"))?,
                    );
                }
            }
            Ok(FixedSizeListArray::try_new(
                embedding_item(),
                dim as i32,
                Arc::new(Float32Array::from(values)),
                t.nulls().cloned(),
            )?)
        };
        match &args.args[0] {
            ColumnarValue::Scalar(s) => {
                let arr = s.cast_to(&DataType::Utf8)?.to_array()?;
                let list = embed_list(arr.as_ref())?;
                Ok(ColumnarValue::Scalar(ScalarValue::FixedSizeList(Arc::new(
                    list,
                ))))
            }
            ColumnarValue::Array(a) => {
                let a = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
                Ok(ColumnarValue::Array(
                    Arc::new(embed_list(a.as_ref())?) as ArrayRef
                ))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DOC_SECTION,
                "The unit embedding of a text by a model's text tower: the current dataset's transcript model unless a model id is given. With a CLIP-family model the text embedding lives in the same space as image embeddings, so it can be compared with them.",
                "embed_text('text') | embed_text('text', 'model id')",
            )
            .with_sql_example("SELECT coactive_image_id, cosine_similarity(embedding, embed_text('a dog on a beach')) AS sim\nFROM coactive_table_adv ORDER BY sim DESC LIMIT 5")
            .with_argument("text", "The text to embed.")
            .with_argument("model", "A model id (see the models of SELECT * FROM system.datasets).")
            .with_related_udf("cosine_similarity")
            .build()
        }))
    }
}
