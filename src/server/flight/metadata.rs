//! The Flight SQL metadata calls: catalogs, schemas (datasets), tables with their Arrow
//! schemas, table types and SqlInfo — what BI tools and notebooks browse.

use std::sync::Arc;

use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetTableTypes, CommandGetTables,
};
use datafusion::arrow::array::RecordBatch;
use dyntag_catalog::provider::CATALOG_NAME;

use dyntag_core::model::access::View;

use super::super::Server;
use super::super::errors::ServeError;
use crate::server::auth::Caller;

/// Table type of datasets' tables.
const TABLE: &str = "TABLE";
/// Table type of `information_schema`.
const VIEW: &str = "VIEW";

pub fn catalogs(cmd: CommandGetCatalogs) -> Result<RecordBatch, ServeError> {
    let mut b = cmd.into_builder();
    b.append(CATALOG_NAME);
    Ok(b.build()?)
}

pub async fn schemas(
    server: &Server,
    caller: &Caller,
    cmd: CommandGetDbSchemas,
) -> Result<RecordBatch, ServeError> {
    let mut b = cmd.into_builder();
    for name in schema_names(server, caller).await? {
        b.append(CATALOG_NAME, name);
    }
    Ok(b.build()?)
}

pub fn table_types(cmd: CommandGetTableTypes) -> Result<RecordBatch, ServeError> {
    let mut b = cmd.into_builder();
    b.append(TABLE);
    b.append(VIEW);
    Ok(b.build()?)
}

pub async fn tables(
    server: &Server,
    caller: &Caller,
    cmd: CommandGetTables,
) -> Result<RecordBatch, ServeError> {
    let schema_pattern = cmd.db_schema_filter_pattern.clone();
    let table_pattern = cmd.table_name_filter_pattern.clone();
    let catalog_wanted = cmd.catalog.clone();
    let mut b = cmd.into_builder();
    if catalog_wanted.as_deref().is_some_and(|c| c != CATALOG_NAME) {
        return Ok(b.build()?);
    }
    let engine = server.engine(caller, "flight", &server.session_dataset(caller))?;
    let catalog = engine
        .context()
        .catalog(CATALOG_NAME)
        .ok_or_else(|| ServeError::internal("the dyntag catalog is not registered"))?;
    for schema_name in schema_names(server, caller).await? {
        if !schema_pattern
            .as_deref()
            .is_none_or(|p| like(&schema_name, p))
        {
            continue;
        }
        let Some(schema) = catalog.schema(&schema_name) else {
            continue;
        };
        let kind = if schema_name == "information_schema" {
            VIEW
        } else {
            TABLE
        };
        let mut names = schema.table_names();
        names.sort();
        for table in names {
            if !table_pattern.as_deref().is_none_or(|p| like(&table, p)) {
                continue;
            }
            if let Some(provider) = schema.table(&table).await? {
                let schema = super::types::client_schema(&provider.schema());
                b.append(CATALOG_NAME, &schema_name, &table, kind, &schema)?;
            }
        }
    }
    Ok(b.build()?)
}

async fn schema_names(server: &Server, caller: &Caller) -> Result<Vec<String>, ServeError> {
    let snapshot = server.catalog().refresh().await?;
    let mut names: Vec<String> = View::new(&snapshot, &caller.principal)
        .datasets()
        .into_iter()
        .cloned()
        .collect();
    names.push("information_schema".into());
    Ok(names)
}

/// SQL `LIKE` with `%`, `_` and `\` escapes, as Flight SQL filter patterns are.
pub fn like(text: &str, pattern: &str) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some(('_', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some(('\\', [c, rest @ ..])) => t.first() == Some(c) && go(&t[1..], rest),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    go(&t, &p)
}

/// The SqlInfo schema, shared.
pub fn sql_info_schema() -> Arc<datafusion::arrow::datatypes::Schema> {
    super::info::SQL_INFO.schema()
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("dt_subjects_visual", "dt\\_%"));
        assert!(!like("dtXsubjects", "dt\\_%"));
        assert!(like("coactive_table", "coactive%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "a_"));
        assert!(like("", "%"));
        assert!(!like("demo", "dem"));
    }
}
