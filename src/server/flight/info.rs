//! What JDBC/ODBC tools and drivers read about the server: `SqlInfo` (each value of the type
//! the Flight SQL spec gives its key), the types of `GetXdbcTypeInfo`, and the (empty) answers
//! about keys — dyntag's tables have no primary or foreign keys.

use std::sync::{Arc, LazyLock};

use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlSupportedCaseSensitivity,
    SqlSupportedTransaction, SqlTransactionIsolationLevel, XdbcDataType, XdbcDatetimeSubcode,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;

/// The server's `SqlInfo`.
pub static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut b = SqlInfoDataBuilder::new();
    // Server
    b.append(SqlInfo::FlightSqlServerName, "dyntag");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    // Reads and tag statements are for every login; writes of tables are refused.
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    b.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    b.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    // SQL: no DDL over the server; identifiers folded to lower case unless quoted, and
    // quoted ones kept as written (the spec's "case insensitive" value stands for mixed
    // case, as its reference JDBC adapter maps storesMixedCaseQuotedIdentifiers).
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    b.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    // ASC puts nulls last: they sort as the highest values.
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    b.append(SqlInfo::SqlKeywords, keywords());
    let functions = functions_by_section();
    b.append(SqlInfo::SqlNumericFunctions, functions.numeric);
    b.append(SqlInfo::SqlStringFunctions, functions.string);
    b.append(SqlInfo::SqlSystemFunctions, functions.system);
    b.append(SqlInfo::SqlDatetimeFunctions, functions.datetime);
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    b.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    b.append(SqlInfo::SqlSchemaTerm, "dataset");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, false);
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(
        SqlInfo::SqlDefaultTransactionIsolation,
        SqlTransactionIsolationLevel::SqlTransactionNone as i32,
    );
    b.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, false);
    b.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, true);
    b.append(SqlInfo::SqlBatchUpdatesSupported, false);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    // Limits: 0 is "no limit or unknown"; statements are capped by --max-statement-kb.
    b.append(SqlInfo::SqlMaxColumnNameLength, 0i64);
    b.append(SqlInfo::SqlMaxColumnsInSelect, 0i64);
    b.append(SqlInfo::SqlDbSchemaNameLength, 63i64);
    b.append(SqlInfo::SqlMaxTableNameLength, 0i64);
    b.append(SqlInfo::SqlMaxStatementLength, 0i64);
    b.build().expect("static SqlInfo builds")
});

/// The SQL keywords: DataFusion's dialect, and the words of dyntag's own statements.
fn keywords() -> Vec<String> {
    let ours = [
        "ACCESS",
        "APPLY",
        "EVALUATE",
        "EVALUATION",
        "LABEL",
        "LABELS",
        "PREVIEW",
        "PROMPT",
        "PROMPTS",
        "PUBLISH",
        "SCORING",
        "SHAREABLE",
        "SUGGEST",
        "TAG",
        "TAGS",
        "TARGET",
        "THRESHOLD",
        "TOKEN",
        "VISIBILITY",
    ];
    let mut words: Vec<String> = datafusion::sql::sqlparser::keywords::ALL_KEYWORDS
        .iter()
        .chain(ours.iter())
        .map(|w| w.to_string())
        .collect();
    words.sort();
    words.dedup();
    words
}

struct Functions {
    numeric: Vec<String>,
    string: Vec<String>,
    datetime: Vec<String>,
    system: Vec<String>,
}

/// DataFusion's scalar functions and dyntag's, sorted by the section their documentation
/// names (math, string, time and date; the rest, dyntag's own included, as system).
fn functions_by_section() -> Functions {
    let ctx = SessionContext::new();
    let state = ctx.state();
    let mut f = Functions {
        numeric: Vec::new(),
        string: Vec::new(),
        datetime: Vec::new(),
        system: [
            "dt_score",
            "threshold_decision",
            "embed_text",
            "cosine_similarity",
        ]
        .map(String::from)
        .to_vec(),
    };
    for (name, udf) in state.scalar_functions() {
        let section = udf
            .documentation()
            .map(|d| d.doc_section.label.to_ascii_lowercase())
            .unwrap_or_default();
        let list = if section.contains("math") {
            &mut f.numeric
        } else if section.contains("string") || section.contains("regular expression") {
            &mut f.string
        } else if section.contains("time") || section.contains("date") {
            &mut f.datetime
        } else {
            &mut f.system
        };
        list.push(name.clone());
    }
    for list in [
        &mut f.numeric,
        &mut f.string,
        &mut f.datetime,
        &mut f.system,
    ] {
        list.sort();
        list.dedup();
    }
    f
}

/// The types dyntag's tables and queries return, as JDBC/ODBC name them.
pub static XDBC_TYPES: LazyLock<XdbcTypeInfoData> = LazyLock::new(|| {
    let mut b = XdbcTypeInfoDataBuilder::new();
    let mut add =
        |name: &str, ty: XdbcDataType, size: Option<i32>, quote: bool, radix: Option<i32>| {
            b.append(XdbcTypeInfo {
                type_name: name.into(),
                data_type: ty,
                column_size: size,
                literal_prefix: quote.then(|| "'".into()),
                literal_suffix: quote.then(|| "'".into()),
                create_params: None,
                nullable: Nullable::NullabilityNullable,
                case_sensitive: quote,
                searchable: if quote {
                    Searchable::Full
                } else {
                    Searchable::Basic
                },
                unsigned_attribute: radix.map(|_| false),
                fixed_prec_scale: false,
                auto_increment: radix.map(|_| false),
                local_type_name: Some(name.into()),
                minimum_scale: None,
                maximum_scale: None,
                sql_data_type: ty,
                datetime_subcode: match ty {
                    XdbcDataType::XdbcTimestamp => Some(XdbcDatetimeSubcode::XdbcSubcodeTimestamp),
                    _ => None,
                },
                num_prec_radix: radix,
                interval_precision: None,
            });
        };
    add("BOOLEAN", XdbcDataType::XdbcBit, Some(1), false, None);
    add(
        "TINYINT",
        XdbcDataType::XdbcTinyint,
        Some(3),
        false,
        Some(10),
    );
    add(
        "SMALLINT",
        XdbcDataType::XdbcSmallint,
        Some(5),
        false,
        Some(10),
    );
    add(
        "INTEGER",
        XdbcDataType::XdbcInteger,
        Some(10),
        false,
        Some(10),
    );
    add(
        "BIGINT",
        XdbcDataType::XdbcBigint,
        Some(19),
        false,
        Some(10),
    );
    add("REAL", XdbcDataType::XdbcReal, Some(7), false, Some(2));
    add("DOUBLE", XdbcDataType::XdbcDouble, Some(15), false, Some(2));
    add("VARCHAR", XdbcDataType::XdbcVarchar, None, true, None);
    add("VARBINARY", XdbcDataType::XdbcVarbinary, None, false, None);
    add("DATE", XdbcDataType::XdbcDate, Some(10), true, None);
    add(
        "TIMESTAMP",
        XdbcDataType::XdbcTimestamp,
        Some(29),
        true,
        None,
    );
    b.build().expect("static XDBC types build")
});

/// The schema of `GetPrimaryKeys`.
pub fn primary_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

/// The schema of `GetImportedKeys`, `GetExportedKeys` and `GetCrossReference`.
pub fn foreign_keys_schema() -> SchemaRef {
    let s = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        s("pk_catalog_name", true),
        s("pk_db_schema_name", true),
        s("pk_table_name", false),
        s("pk_column_name", false),
        s("fk_catalog_name", true),
        s("fk_db_schema_name", true),
        s("fk_table_name", false),
        s("fk_column_name", false),
        Field::new("key_sequence", DataType::Int32, false),
        s("fk_key_name", true),
        s("pk_key_name", true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}
