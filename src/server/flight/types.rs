//! The Arrow types Flight SQL clients get: strings as `Utf8` and bytes as `Binary`, whatever
//! DataFusion produced (string views, large strings, dictionaries). JDBC/ODBC drivers and
//! SQLAlchemy dialects map only the plain types to text; a view reaches a BI tool as BLOB.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

/// The type a client gets for `t`.
fn plain(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, value) => plain(value),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => {
            DataType::List(plain_field(f))
        }
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(plain_field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(plain_field).collect()),
        other => other.clone(),
    }
}

fn plain_field(f: &FieldRef) -> FieldRef {
    Arc::new(
        Field::new(f.name(), plain(f.data_type()), f.is_nullable())
            .with_metadata(f.metadata().clone()),
    )
}

/// The schema clients get for `schema` (the same one when nothing needs changing).
pub fn client_schema(schema: &SchemaRef) -> SchemaRef {
    if schema
        .fields()
        .iter()
        .all(|f| plain(f.data_type()) == *f.data_type())
    {
        return Arc::clone(schema);
    }
    Arc::new(Schema::new_with_metadata(
        schema.fields().iter().map(plain_field).collect::<Vec<_>>(),
        schema.metadata().clone(),
    ))
}

/// `batch` in the types of `schema` (from [`client_schema`]).
pub fn to_client(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema_ref() == schema
        || batch
            .schema()
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.data_type() == b.data_type())
    {
        return RecordBatch::try_new(Arc::clone(schema), batch.columns().to_vec());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else {
                cast(c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, DictionaryArray, StringViewArray};
    use datafusion::arrow::datatypes::Int32Type;

    #[test]
    fn views_large_strings_and_dictionaries_become_utf8() {
        let view = Arc::new(StringViewArray::from(vec!["a", "b"])) as _;
        let dict = Arc::new(DictionaryArray::<Int32Type>::from_iter(["x", "y"])) as _;
        let batch = RecordBatch::try_from_iter(vec![("v", view), ("d", dict)]).unwrap();
        let schema = client_schema(&batch.schema());
        assert!(
            schema
                .fields()
                .iter()
                .all(|f| *f.data_type() == DataType::Utf8)
        );
        let out = to_client(batch, &schema).unwrap();
        assert_eq!(out.column(0).data_type(), &DataType::Utf8);
        assert_eq!(out.column(1).len(), 2);
    }
}
