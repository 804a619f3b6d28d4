//! dyntag as SQL: the tag statements (`CREATE TAG GROUP`, `ALTER TAG`, `PUBLISH`, …) parsed
//! with sqlparser before DataFusion sees a statement, and the `dyntag` DataFusion catalog
//! presenting datasets, `dt_` tables and system tables over [`dyntag_core`].
//!
//! ```text
//! statements/   the tag statements: parser, printer (Display), policy (who may run what),
//!               and their execution through the services of dyntag-core
//! provider/     DataFusion catalog, schema and table providers, system tables
//! ```

pub mod provider;
pub mod statements;
