//! `cosine_similarity(a, b)`: the cosine of the angle between two vectors (fixed-size or
//! variable lists of floats), per row; either side may be a constant.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float32Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use simsimd::SpatialSimilarity;

use dyntag_core::model::dataset::vectors::vectors;

use crate::DOC_SECTION;

/// The `cosine_similarity` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CosineSimilarity {
    signature: Signature,
}

impl Default for CosineSimilarity {
    fn default() -> Self {
        Self::new()
    }
}

impl CosineSimilarity {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn as_float_list(t: &DataType) -> Option<DataType> {
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    match t {
        DataType::Null => Some(DataType::List(item)),
        // An int8 embedding (codes and a scale) is read as it is.
        DataType::Struct(_) if crate::is_embedding(t) => Some(t.clone()),
        DataType::FixedSizeList(f, n)
            if f.data_type().is_floating() || f.data_type().is_integer() =>
        {
            Some(DataType::FixedSizeList(item, *n))
        }
        DataType::List(f) | DataType::LargeList(f)
            if f.data_type().is_floating() || f.data_type().is_integer() =>
        {
            Some(DataType::List(item))
        }
        _ => None,
    }
}

/// Rows of a list array as f32 slices (`None` for null rows).
fn rows(a: &ArrayRef) -> Result<Vec<Option<Vec<f32>>>> {
    let out = match a.data_type() {
        DataType::FixedSizeList(_, _) => {
            let l = a.as_fixed_size_list();
            (0..l.len())
                .map(|i| {
                    l.is_valid(i)
                        .then(|| l.value(i).as_primitive::<Float32Type>().values().to_vec())
                })
                .collect()
        }
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            (0..l.len())
                .map(|i| {
                    l.is_valid(i)
                        .then(|| l.value(i).as_primitive::<Float32Type>().values().to_vec())
                })
                .collect()
        }
        DataType::Struct(_) => match vectors(a.as_ref()) {
            Some((v, dim)) => (0..a.len())
                .map(|i| a.is_valid(i).then(|| v.row(i, dim)))
                .collect(),
            None => {
                return exec_err!(
                    "cosine_similarity: expected an embedding, got {}",
                    a.data_type()
                );
            }
        },
        other => return exec_err!("cosine_similarity: expected a list of floats, got {other}"),
    };
    Ok(out)
}

impl ScalarUDFImpl for CosineSimilarity {
    fn name(&self) -> &str {
        "cosine_similarity"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [a, b] => match (as_float_list(a), as_float_list(b)) {
                (Some(x), Some(y)) => Ok(vec![x, y]),
                _ => plan_err!("cosine_similarity takes two lists of numbers, got ({a}, {b})"),
            },
            _ => plan_err!(
                "cosine_similarity takes two arguments, got {}",
                arg_types.len()
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let a = rows(&args.args[0].to_array(n)?)?;
        let b = rows(&args.args[1].to_array(n)?)?;
        let mut out = Vec::with_capacity(n);
        for (x, y) in a.iter().zip(b.iter()) {
            out.push(match (x, y) {
                (Some(x), Some(y)) => {
                    if x.len() != y.len() {
                        return exec_err!(
                            "cosine_similarity: vectors of dimensions {} and {}",
                            x.len(),
                            y.len()
                        );
                    }
                    f32::cosine(x, y).map(|d| 1.0 - d)
                }
                _ => None,
            });
        }
        let out: ArrayRef = Arc::new(Float64Array::from(out));
        if scalar {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(cast(&out, &DataType::Float64)?))
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DOC_SECTION,
                "The cosine similarity of two vectors of the same dimension, in [-1, 1]. NULL if either is NULL.",
                "cosine_similarity(a, b)",
            )
            .with_sql_example("SELECT cosine_similarity([1.0, 0.0], [1.0, 1.0])")
            .with_argument("a", "A list of numbers (e.g. an embedding).")
            .with_argument("b", "A list of numbers of the same length.")
            .with_related_udf("embed_text")
            .build()
        }))
    }
}
