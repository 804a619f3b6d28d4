//! The Arrow schemas of a dataset's stored tables, and the embedding column's field metadata.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

use super::{ColumnSpec, TableKind};

/// Field metadata key: the id of the model that made an embedding.
pub const META_MODEL: &str = "dyntag.model";
/// Field metadata key: what an embedding embeds (`visual` or `transcript`).
pub const META_MODALITY: &str = "dyntag.modality";

/// Column names shared by tables and import files.
pub mod col {
    pub const IMAGE_ID: &str = "coactive_image_id";
    pub const VIDEO_ID: &str = "coactive_video_id";
    pub const KEYFRAME_INDEX: &str = "keyframe_index";
    pub const KEYFRAME_TIME: &str = "keyframe_time_ms";
    pub const SHOT_ID: &str = "shot_id";
    pub const SHOT_INDEX: &str = "shot_index";
    pub const SEGMENT_ID: &str = "segment_id";
    pub const START: &str = "start_time_ms";
    pub const END: &str = "end_time_ms";
    pub const PATH: &str = "path";
    pub const WIDTH: &str = "width";
    pub const HEIGHT: &str = "height";
    pub const TEXT: &str = "text";
    pub const DURATION: &str = "duration_ms";
    pub const EMBEDDING: &str = "embedding";
}

/// The embedding column in memory, carrying its model and modality: a fixed-size list of
/// float32 or float16, or int8 codes with a scale (see `encoding.rs`).
pub fn embedding_field(
    model: &str,
    modality: &str,
    dim: usize,
    encoding: super::encoding::Encoding,
) -> Field {
    Field::new(col::EMBEDDING, encoding.memory_type(dim), false).with_metadata(HashMap::from([
        (META_MODEL.to_string(), model.to_string()),
        (META_MODALITY.to_string(), modality.to_string()),
    ]))
}

/// `FixedSizeList<Float32>(dim)`.
pub fn embedding_type(dim: usize) -> DataType {
    DataType::FixedSizeList(embedding_item(), dim as i32)
}

/// The item field of embedding lists.
pub fn embedding_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Float32, false))
}

/// The model and modality recorded on an embedding field, if any.
pub fn embedding_origin(field: &Field) -> Option<(&str, &str)> {
    let md = field.metadata();
    Some((
        md.get(META_MODEL)?.as_str(),
        md.get(META_MODALITY)?.as_str(),
    ))
}

/// The stored schema of a table kind. `embedding` is given for the two embedded tables;
/// metadata tables have a schema of their own (see `metadata_schema`).
pub fn table_schema(kind: TableKind, embedding: Option<Field>) -> SchemaRef {
    use col::*;
    let utf8 = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i64f = |n: &str, null: bool| Field::new(n, DataType::Int64, null);
    let i32f = |n: &str, null: bool| Field::new(n, DataType::Int32, null);
    let mut fields = match kind {
        TableKind::Images => vec![
            utf8(IMAGE_ID, false),
            utf8(VIDEO_ID, true),
            i32f(KEYFRAME_INDEX, true),
            i64f(KEYFRAME_TIME, true),
            utf8(SHOT_ID, true),
            utf8(PATH, true),
            i32f(WIDTH, true),
            i32f(HEIGHT, true),
        ],
        TableKind::Shots => vec![
            utf8(VIDEO_ID, false),
            utf8(SHOT_ID, false),
            i32f(SHOT_INDEX, false),
            i64f(START, false),
            i64f(END, false),
        ],
        TableKind::Transcripts => vec![
            utf8(VIDEO_ID, false),
            utf8(SEGMENT_ID, false),
            i64f(START, false),
            i64f(END, false),
            utf8(TEXT, false),
        ],
        TableKind::Videos => vec![
            utf8(VIDEO_ID, false),
            utf8(PATH, true),
            i64f(DURATION, true),
        ],
        TableKind::VideoMetadata => vec![utf8(VIDEO_ID, false)],
        TableKind::ImageMetadata => vec![utf8(IMAGE_ID, false)],
    };
    if let Some(e) = embedding {
        fields.push(e);
    }
    Arc::new(Schema::new(fields))
}

/// Names a metadata column may not take: they would shadow the dataset's own columns.
pub fn reserved_column(name: &str) -> bool {
    use col::*;
    [
        IMAGE_ID,
        VIDEO_ID,
        KEYFRAME_INDEX,
        KEYFRAME_TIME,
        SHOT_ID,
        SHOT_INDEX,
        SEGMENT_ID,
        START,
        END,
        PATH,
        WIDTH,
        HEIGHT,
        TEXT,
        DURATION,
        EMBEDDING,
    ]
    .iter()
    .any(|r| r.eq_ignore_ascii_case(name))
}

/// The schema of a metadata table: its key, then the user's columns.
pub fn metadata_schema(kind: TableKind, columns: Option<&Vec<ColumnSpec>>) -> SchemaRef {
    let key = table_schema(kind, None);
    let mut fields: Vec<Field> = key.fields().iter().map(|f| f.as_ref().clone()).collect();
    for c in columns.into_iter().flatten() {
        fields.push(Field::new(&c.name, c.arrow_type(), true));
    }
    Arc::new(Schema::new(fields))
}
