//! How a dataset stores the embeddings of a modality: float32, float16, or int8 with a
//! per-vector scale (`value = code × scale`, the scale chosen so that the largest component
//! is ±127).
//!
//! On the store every encoding is one `FixedSizeBinary` column (Parquet
//! `FIXED_LEN_BYTE_ARRAY`): reading it is a copy of bytes, where a Parquet list of floats
//! decodes a repetition and a definition level per value, ten times slower. In memory, and
//! in SQL, an embedding is
//!
//! | encoding | stored bytes per vector | in memory (what SQL sees) |
//! |---|---|---|
//! | `float32` | 4 × dim | `FixedSizeList<Float32>(dim)` |
//! | `float16` | 2 × dim | `FixedSizeList<Float16>(dim)` |
//! | `int8` | 4 + dim (the scale, then the codes) | `Struct<codes: FixedSizeList<Int8>(dim), scale: Float32>` |
//!
//! float32 and float16 decode without a copy (the stored bytes are the values). Files
//! written before encodings existed hold `FixedSizeList<Float32>` and are read as they are
//! (a manifest without an encoding).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, FixedSizeListArray, Float16Array, Float32Array,
    Int8Array, RecordBatch, StructArray,
};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, FieldRef, Fields, Float16Type, Schema, SchemaRef,
};
use serde::{Deserialize, Serialize};

use super::schema::{META_MODALITY, META_MODEL, col};
use super::vectors::{Vectors, vectors};
use crate::{CatalogError, Result};

/// Field metadata key of a stored embedding column: its encoding.
pub const META_ENCODING: &str = "dyntag.encoding";

/// The numeric form of stored embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// 4 bytes per value.
    #[default]
    Float32,
    /// IEEE half precision: 2 bytes per value.
    Float16,
    /// 1 byte per value and a float32 scale per vector.
    Int8,
}

impl Encoding {
    /// Every encoding.
    pub const ALL: [Encoding; 3] = [Self::Float32, Self::Float16, Self::Int8];

    /// `float32`, `float16` or `int8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Float32 => "float32",
            Self::Float16 => "float16",
            Self::Int8 => "int8",
        }
    }

    /// Parses `float32` / `f32`, `float16` / `f16`, `int8` / `i8`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "float32" | "f32" => Ok(Self::Float32),
            "float16" | "f16" | "half" => Ok(Self::Float16),
            "int8" | "i8" => Ok(Self::Int8),
            other => Err(CatalogError::Invalid(format!(
                "unknown embedding encoding '{other}' (encodings: float32, float16, int8)"
            ))),
        }
    }

    /// Stored bytes per vector of dimension `dim`.
    pub fn stored_width(self, dim: usize) -> usize {
        match self {
            Self::Float32 => 4 * dim,
            Self::Float16 => 2 * dim,
            Self::Int8 => 4 + dim,
        }
    }

    /// The in-memory type of an embedding of dimension `dim`.
    pub fn memory_type(self, dim: usize) -> DataType {
        let list = |t: DataType| {
            DataType::FixedSizeList(Arc::new(Field::new("item", t, false)), dim as i32)
        };
        match self {
            Self::Float32 => list(DataType::Float32),
            Self::Float16 => list(DataType::Float16),
            Self::Int8 => DataType::Struct(int8_fields(dim)),
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields of an int8 embedding: `codes` and `scale`.
fn int8_fields(dim: usize) -> Fields {
    Fields::from(vec![
        Field::new(
            "codes",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Int8, false)),
                dim as i32,
            ),
            false,
        ),
        Field::new("scale", DataType::Float32, false),
    ])
}

/// The dimension of an in-memory embedding type.
pub fn memory_dim(t: &DataType) -> Option<usize> {
    match t {
        DataType::FixedSizeList(_, d) => Some(*d as usize),
        DataType::Struct(fields) => match fields.find("codes")?.1.data_type() {
            DataType::FixedSizeList(_, d) => Some(*d as usize),
            _ => None,
        },
        _ => None,
    }
}

/// The stored form of an in-memory embedding field (`None`: the legacy list of float32,
/// stored as it is).
pub fn stored_field(memory: &Field, dim: usize, encoding: Option<Encoding>) -> Field {
    match encoding {
        None => memory.clone(),
        Some(e) => {
            let mut md = memory.metadata().clone();
            md.insert(META_ENCODING.to_string(), e.as_str().to_string());
            Field::new(
                memory.name(),
                DataType::FixedSizeBinary(e.stored_width(dim) as i32),
                false,
            )
            .with_metadata(md)
        }
    }
}

/// `schema` with its embedding column (if any) in stored form.
pub fn stored_schema(schema: &SchemaRef, dim: usize, encoding: Option<Encoding>) -> SchemaRef {
    if encoding.is_none() {
        return Arc::clone(schema);
    }
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.name() == col::EMBEDDING {
                Arc::new(stored_field(f, dim, encoding))
            } else {
                Arc::clone(f)
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Encodes the unit vectors `values` (row-major, `dim` per row) as stored bytes.
pub fn encode_values(values: &[f32], dim: usize, encoding: Encoding) -> FixedSizeBinaryArray {
    let rows = values.len() / dim.max(1);
    let width = encoding.stored_width(dim);
    let mut bytes = Vec::with_capacity(rows * width);
    match encoding {
        Encoding::Float32 => {
            for v in values {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        Encoding::Float16 => {
            type F16 = <Float16Type as ArrowPrimitiveType>::Native;
            for v in values {
                bytes.extend_from_slice(&F16::from_f32(*v).to_bits().to_le_bytes());
            }
        }
        Encoding::Int8 => {
            for row in values.chunks_exact(dim) {
                let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
                let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                bytes.extend_from_slice(&scale.to_le_bytes());
                bytes.extend(
                    row.iter()
                        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8 as u8),
                );
            }
        }
    }
    FixedSizeBinaryArray::new(width as i32, Buffer::from_vec(bytes), None)
}

/// The in-memory array of stored embedding bytes.
pub fn decode_array(stored: &FixedSizeBinaryArray, dim: usize, encoding: Encoding) -> ArrayRef {
    let rows = stored.len();
    let data = stored.values();
    let item = |t: DataType| Arc::new(Field::new("item", t, false));
    match encoding {
        Encoding::Float32 => {
            let values: ScalarBuffer<f32> = if data.as_ptr().align_offset(4) == 0 {
                ScalarBuffer::new(data.clone(), 0, rows * dim)
            } else {
                data.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            };
            Arc::new(FixedSizeListArray::new(
                item(DataType::Float32),
                dim as i32,
                Arc::new(Float32Array::new(values, None)),
                None,
            ))
        }
        Encoding::Float16 => {
            type F16 = <Float16Type as ArrowPrimitiveType>::Native;
            let values: ScalarBuffer<F16> = if data.as_ptr().align_offset(2) == 0 {
                ScalarBuffer::new(data.clone(), 0, rows * dim)
            } else {
                data.chunks_exact(2)
                    .map(|b| F16::from_bits(u16::from_le_bytes([b[0], b[1]])))
                    .collect()
            };
            Arc::new(FixedSizeListArray::new(
                item(DataType::Float16),
                dim as i32,
                Arc::new(Float16Array::new(values, None)),
                None,
            ))
        }
        Encoding::Int8 => {
            let width = encoding.stored_width(dim);
            let mut codes: Vec<i8> = Vec::with_capacity(rows * dim);
            let mut scales: Vec<f32> = Vec::with_capacity(rows);
            for v in data.chunks_exact(width) {
                scales.push(f32::from_le_bytes([v[0], v[1], v[2], v[3]]));
                codes.extend(v[4..].iter().map(|b| *b as i8));
            }
            int8_array(codes, scales, dim)
        }
    }
}

/// An int8 embedding array of `codes` (row-major) and one `scale` per row.
pub fn int8_array(codes: Vec<i8>, scales: Vec<f32>, dim: usize) -> ArrayRef {
    let fields = int8_fields(dim);
    let codes = FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Int8, false)),
        dim as i32,
        Arc::new(Int8Array::from(codes)),
        None,
    );
    Arc::new(StructArray::new(
        fields,
        vec![Arc::new(codes), Arc::new(Float32Array::from(scales))],
        None,
    ))
}

/// The encoding and dimension recorded on a stored embedding field, if it is one.
fn stored_encoding(field: &Field) -> Result<Option<(Encoding, usize)>> {
    let DataType::FixedSizeBinary(width) = field.data_type() else {
        return Ok(None);
    };
    let Some(name) = field.metadata().get(META_ENCODING) else {
        return Err(CatalogError::Internal(format!(
            "the stored embedding column '{}' records no encoding",
            field.name()
        )));
    };
    let encoding = Encoding::parse(name)?;
    let width = *width as usize;
    let dim = match encoding {
        Encoding::Float32 => width / 4,
        Encoding::Float16 => width / 2,
        Encoding::Int8 => width.saturating_sub(4),
    };
    Ok(Some((encoding, dim)))
}

/// `batch` as read from the store, with its embedding column (if stored encoded) in its
/// in-memory form, and the field metadata of that form (model and modality).
pub fn decode_batch(batch: RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let Ok(i) = schema.index_of(col::EMBEDDING) else {
        return Ok(batch);
    };
    let field = schema.field(i);
    let Some((encoding, dim)) = stored_encoding(field)? else {
        return Ok(batch);
    };
    let array = decode_array(batch.column(i).as_fixed_size_binary(), dim, encoding);
    let md: HashMap<String, String> = field
        .metadata()
        .iter()
        .filter(|(k, _)| k.as_str() == META_MODEL || k.as_str() == META_MODALITY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let memory = Field::new(col::EMBEDDING, encoding.memory_type(dim), false).with_metadata(md);
    with_column(&batch, i, memory, array, "decoding embeddings")
}

/// `batch` (in memory) with its embedding column in the stored form of `encoding` (`None`:
/// unchanged). The column may be in any in-memory encoding.
pub fn encode_batch(batch: &RecordBatch, encoding: Option<Encoding>) -> Result<RecordBatch> {
    let Some(encoding) = encoding else {
        return Ok(batch.clone());
    };
    let schema = batch.schema();
    let Ok(i) = schema.index_of(col::EMBEDDING) else {
        return Ok(batch.clone());
    };
    let (v, dim) = vectors(batch.column(i).as_ref()).ok_or_else(|| {
        CatalogError::Internal(format!(
            "the embedding column is not an embedding: {}",
            schema.field(i).data_type()
        ))
    })?;
    // float32 values (what an import holds) are read in place; others are converted once.
    let converted;
    let values = match v {
        Vectors::F32(x) => x,
        other => {
            converted = other.to_f32(dim);
            &converted
        }
    };
    let memory = Field::new(col::EMBEDDING, encoding.memory_type(dim), false)
        .with_metadata(schema.field(i).metadata().clone());
    with_column(
        batch,
        i,
        stored_field(&memory, dim, Some(encoding)),
        Arc::new(encode_values(values, dim, encoding)),
        "encoding embeddings",
    )
}

/// `batch` with column `i` replaced by `array` of `field`.
fn with_column(
    batch: &RecordBatch,
    i: usize,
    field: Field,
    array: ArrayRef,
    what: &str,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    fields[i] = Arc::new(field);
    let mut columns = batch.columns().to_vec();
    columns[i] = array;
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )
    .map_err(|e| CatalogError::engine(what, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest error of one component of a unit vector under `encoding`: float16 rounds to
    /// 11 significant bits (|v| ≤ 1: at most 2⁻¹¹·|v|), int8 to half a step of max|v|/127.
    fn component_error_bound(encoding: Encoding) -> f32 {
        match encoding {
            Encoding::Float32 => 0.0,
            Encoding::Float16 => 1.0 / 2048.0,
            Encoding::Int8 => 0.5 / 127.0,
        }
    }

    fn unit_rows(rows: usize, dim: usize) -> Vec<f32> {
        let mut rng = crate::store::random::Random::seeded(7);
        let mut out = Vec::new();
        for _ in 0..rows {
            let v: Vec<f32> = (0..dim)
                .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            out.extend(v.into_iter().map(|x| x / n));
        }
        out
    }

    #[test]
    fn every_encoding_round_trips_within_its_bound() {
        let dim = 64;
        let values = unit_rows(50, dim);
        for e in Encoding::ALL {
            let stored = encode_values(&values, dim, e);
            assert_eq!(stored.value_length() as usize, e.stored_width(dim));
            let back = decode_array(&stored, dim, e);
            assert_eq!(back.data_type(), &e.memory_type(dim));
            let (v, d) = vectors(back.as_ref()).expect("an embedding array");
            assert_eq!(d, dim);
            let got = v.to_f32(dim);
            let worst = got
                .iter()
                .zip(&values)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst <= component_error_bound(e), "{e}: {worst}");
            if e == Encoding::Float32 {
                assert_eq!(got, values);
            } else {
                assert!(worst > 0.0, "{e} loses something");
            }
        }
    }

    #[test]
    fn a_stored_batch_decodes_to_the_memory_schema() {
        let dim = 8;
        let memory = Field::new(col::EMBEDDING, Encoding::Int8.memory_type(dim), false)
            .with_metadata(HashMap::from([(META_MODEL.to_string(), "m".to_string())]));
        let values = unit_rows(3, dim);
        for e in Encoding::ALL {
            let f32_field = Field::new(col::EMBEDDING, Encoding::Float32.memory_type(dim), false)
                .with_metadata(memory.metadata().clone());
            let batch = RecordBatch::try_new(
                Arc::new(Schema::new(vec![f32_field])),
                vec![Arc::new(FixedSizeListArray::new(
                    Arc::new(Field::new("item", DataType::Float32, false)),
                    dim as i32,
                    Arc::new(Float32Array::from(values.clone())),
                    None,
                ))],
            )
            .unwrap();
            let stored = encode_batch(&batch, Some(e)).unwrap();
            assert!(matches!(
                stored.schema().field(0).data_type(),
                DataType::FixedSizeBinary(_)
            ));
            let back = decode_batch(stored).unwrap();
            let f = back.schema().field(0).clone();
            assert_eq!(f.data_type(), &e.memory_type(dim));
            assert_eq!(f.metadata().get(META_MODEL).map(String::as_str), Some("m"));
            assert!(!f.metadata().contains_key(META_ENCODING));
        }
        assert!(
            Encoding::parse("bf16")
                .unwrap_err()
                .to_string()
                .contains("float16")
        );
    }
}
