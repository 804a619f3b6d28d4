//! The stored schemas of the `dt_` score tables (long format: one row per item per tag).
//! `threshold_decision` is not stored: it is computed from the saved thresholds when read.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::model::applications::ScoreTable;
use crate::model::dataset::schema::col;

/// Column names of the score tables.
pub const TAG_NAME: &str = "tag_name";
pub const SCORE: &str = "score";
pub const THRESHOLD_DECISION: &str = "threshold_decision";
pub const GROUP_VERSION: &str = "group_version";
pub const MODEL_ID: &str = "model_id";

/// The stored schema of a score table.
pub fn stored_schema(kind: ScoreTable) -> SchemaRef {
    let utf8 = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i64f = |n: &str, null: bool| Field::new(n, DataType::Int64, null);
    let mut fields = match kind {
        ScoreTable::Visual => vec![
            utf8(col::IMAGE_ID, false),
            utf8(col::VIDEO_ID, true),
            i64f(col::KEYFRAME_TIME, true),
            utf8(col::SHOT_ID, true),
        ],
        ScoreTable::Transcript => vec![
            utf8(col::VIDEO_ID, false),
            utf8(col::SEGMENT_ID, false),
            i64f(col::START, false),
            i64f(col::END, false),
        ],
        ScoreTable::Shot => vec![
            utf8(col::VIDEO_ID, false),
            utf8(col::SHOT_ID, false),
            i64f(col::START, true),
            i64f(col::END, true),
        ],
        ScoreTable::Video => vec![utf8(col::VIDEO_ID, false)],
    };
    fields.extend([
        utf8(TAG_NAME, false),
        Field::new(SCORE, DataType::Float64, false),
        Field::new(GROUP_VERSION, DataType::Int32, false),
        utf8(MODEL_ID, false),
    ]);
    Arc::new(Schema::new(fields))
}
