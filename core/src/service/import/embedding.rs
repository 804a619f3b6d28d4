//! Embedding columns on import: any list of floats becomes a unit-length
//! `FixedSizeList<Float32>` of the dataset's dimension.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type};
use dyntag_models::l2_normalize;

use crate::Result;
use crate::model::dataset::schema::embedding_item;
use crate::store::input::import_err;

/// Converts `array` (List, LargeList or FixedSizeList of float16/32/64) into unit vectors
/// of dimension `dim` (the first row's length when `dim` is `None`). Returns the array and
/// the dimension.
pub fn normalise(
    file: &str,
    array: &ArrayRef,
    first_row: usize,
    column: &str,
    dim: Option<usize>,
) -> Result<(FixedSizeListArray, usize)> {
    let bad = |row: usize, msg: String| {
        import_err(
            file,
            format!("row {}, column '{column}': {msg}", first_row + row),
        )
    };
    if let Some(i) = (0..array.len()).find(|&i| array.is_null(i)) {
        return Err(bad(i, "missing embedding".into()));
    }
    let (values, lengths): (ArrayRef, Vec<usize>) = match array.data_type() {
        DataType::FixedSizeList(_, n) => {
            let l = array.as_fixed_size_list();
            let start = l.value_offset(0) as usize;
            let values = l.values().slice(start, l.len() * *n as usize);
            (values, vec![*n as usize; l.len()])
        }
        DataType::List(_) => {
            let l = array.as_list::<i32>();
            let offs = l.value_offsets();
            let start = offs[0] as usize;
            let end = offs[l.len()] as usize;
            (
                l.values().slice(start, end - start),
                offs.windows(2).map(|w| (w[1] - w[0]) as usize).collect(),
            )
        }
        DataType::LargeList(_) => {
            let l = array.as_list::<i64>();
            let offs = l.value_offsets();
            let start = offs[0] as usize;
            let end = offs[l.len()] as usize;
            (
                l.values().slice(start, end - start),
                offs.windows(2).map(|w| (w[1] - w[0]) as usize).collect(),
            )
        }
        other => {
            return Err(import_err(
                file,
                format!("column '{column}' must be a list of floats, is {other}"),
            ));
        }
    };
    if !matches!(
        values.data_type(),
        DataType::Float16 | DataType::Float32 | DataType::Float64
    ) {
        return Err(import_err(
            file,
            format!(
                "column '{column}' must hold floats, holds {}",
                values.data_type()
            ),
        ));
    }
    let values = cast(&values, &DataType::Float32)
        .map_err(|e| import_err(file, format!("column '{column}': {e}")))?;
    let values = values.as_primitive::<Float32Type>();
    if values.null_count() > 0 {
        let mut pos = 0;
        for (row, len) in lengths.iter().enumerate() {
            if (pos..pos + len).any(|j| values.is_null(j)) {
                return Err(bad(row, "embedding contains a null value".into()));
            }
            pos += len;
        }
    }
    let dim = match dim {
        Some(d) => d,
        None => *lengths.first().unwrap_or(&0),
    };
    if dim == 0 {
        return Err(import_err(
            file,
            format!("column '{column}': empty embeddings"),
        ));
    }
    if let Some(row) = lengths.iter().position(|&l| l != dim) {
        return Err(bad(
            row,
            format!("embedding has dimension {}, expected {dim}", lengths[row]),
        ));
    }
    let mut data: Vec<f32> = values.values().to_vec();
    for (row, v) in data.chunks_exact_mut(dim).enumerate() {
        if v.iter().any(|x| !x.is_finite()) {
            return Err(bad(row, "embedding contains NaN or infinity".into()));
        }
        if v.iter().all(|x| *x == 0.0) {
            return Err(bad(
                row,
                "embedding is all zeros (it has no direction)".into(),
            ));
        }
        l2_normalize(v);
    }
    let list = FixedSizeListArray::try_new(
        embedding_item(),
        dim as i32,
        Arc::new(Float32Array::from(data)),
        None,
    )
    .map_err(|e| import_err(file, format!("column '{column}': {e}")))?;
    Ok((list, dim))
}

/// Wraps already unit-length row-major values as an embedding column.
pub fn unit_array(values: Vec<f32>, dim: usize) -> FixedSizeListArray {
    FixedSizeListArray::new(
        embedding_item(),
        dim as i32,
        Arc::new(Float32Array::from(values)),
        None,
    )
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::ListArray;

    use super::*;

    fn list(rows: Vec<Option<Vec<Option<f64>>>>) -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<
            datafusion::arrow::datatypes::Float64Type,
            _,
            _,
        >(rows))
    }

    #[test]
    fn lists_become_unit_fixed_size_lists() {
        let a = list(vec![
            Some(vec![Some(3.0), Some(4.0)]),
            Some(vec![Some(0.0), Some(2.0)]),
        ]);
        let (out, dim) = normalise("f.parquet", &a, 1, "embedding", None).unwrap();
        assert_eq!(dim, 2);
        let v = out.values().as_primitive::<Float32Type>().values().to_vec();
        assert_eq!(v, vec![0.6, 0.8, 0.0, 1.0]);
    }

    #[test]
    fn errors_name_file_row_and_column() {
        let a = list(vec![
            Some(vec![Some(1.0), Some(0.0)]),
            Some(vec![Some(1.0)]),
        ]);
        let err = normalise("f.parquet", &a, 10, "embedding", None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "f.parquet: row 11, column 'embedding': embedding has dimension 1, expected 2"
        );
        let a = list(vec![Some(vec![Some(0.0), Some(0.0)])]);
        let err = normalise("f.parquet", &a, 1, "embedding", Some(2))
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 1") && err.contains("all zeros"), "{err}");
        let a = list(vec![Some(vec![Some(1.0), Some(0.0)]), None]);
        let err = normalise("f.parquet", &a, 1, "embedding", Some(2))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("row 2") && err.contains("missing embedding"),
            "{err}"
        );
        let a = list(vec![Some(vec![Some(1.0), Some(0.0)])]);
        let err = normalise("f.parquet", &a, 1, "embedding", Some(3))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dimension 2, expected 3"), "{err}");
    }
}
