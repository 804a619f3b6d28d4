//! Who may run a statement, decided before it is planned. Every statement — DataFusion SQL
//! and the tag statements — has a [`StatementKind`]; [`authorize`] checks the kind against
//! the caller (their roles, a read-only login) and the [`Door`] the statement came through
//! (the `dyntag` command on the data folder, or a remote client of the server).
//!
//! | kind | who may run it |
//! |---|---|
//! | read (queries, `SHOW`, `PREVIEW`, `SUGGEST`) | anyone who sees the dataset, read-only logins too |
//! | session setting (`USE`, `SET`, `RESET`) | anyone; remotely only the settings in [`SESSION_SETTINGS`] |
//! | tag edit | editors of the dataset concerned; never a read-only login |
//! | admin (users, tokens, roles) | organisation admins; dataset admins for roles |
//! | server-side file access (`COPY`, `CREATE EXTERNAL TABLE`) | the command line only |
//! | data definition or change (`INSERT`, `CREATE TABLE`, `DROP TABLE`, …) | the command line only |
//!
//! A refusal is [`CatalogError::Denied`] naming the statement, its kind and what it needs.

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement as Ast;

use super::TagStatement;
use dyntag_core::model::access::{DatasetRole, Principal, View};
use dyntag_core::{CatalogError, Result};

/// Where a statement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The `dyntag` command run on the data folder by whoever owns it.
    Local,
    /// A client of the server (Flight SQL, HTTP, the console): never touches the server's
    /// own files, never defines tables.
    Remote,
}

/// What a statement does, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// Queries and `SHOW`s: they change nothing stored.
    Read,
    /// Changes tag groups, tags, labels, evaluations or applications.
    TagEdit,
    /// Users, tokens and roles.
    Admin,
    /// Reads or writes files of the machine the server runs on.
    FileAccess,
    /// Defines or changes tables in the engine (DDL and DML).
    DataChange,
    /// Changes the session only (`USE`, `SET`, `RESET`).
    SessionSetting,
}

impl StatementKind {
    /// The name used in refusals and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::TagEdit => "tag edit",
            Self::Admin => "admin",
            Self::FileAccess => "server-side file access",
            Self::DataChange => "data definition or change",
            Self::SessionSetting => "session setting",
        }
    }
}

/// A statement's kind and the words naming it (`ALTER TAG`, `COPY`, `DROP TABLE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: StatementKind,
    pub keyword: String,
}

/// The DataFusion settings a remote session may change (for itself only); a name ending in
/// `.` stands for every setting under it.
pub const SESSION_SETTINGS: &[&str] = &[
    "datafusion.execution.time_zone",
    "datafusion.execution.batch_size",
    "datafusion.explain.",
    "datafusion.format.",
    "datafusion.sql_parser.enable_ident_normalization",
];

impl TagStatement {
    /// The statement's kind and name.
    pub fn classify(&self) -> Classified {
        use StatementKind::*;
        let (kind, keyword) = match self {
            Self::ShowGroups { .. } => (Read, "SHOW TAG GROUPS"),
            Self::ShowTags { .. } => (Read, "SHOW TAGS"),
            Self::ShowShareable { .. } => (Read, "SHOW SHAREABLE TAG GROUPS"),
            Self::ShowLabels { .. } => (Read, "SHOW LABELS"),
            Self::ShowVersions { .. } => (Read, "SHOW VERSIONS"),
            Self::ShowDatasetAccess { .. } => (Read, "SHOW DATASET ACCESS"),
            Self::ShowJobs => (Read, "SHOW SCORING JOBS"),
            Self::ShowUsers => (Read, "SHOW USERS"),
            Self::ShowRoles { .. } => (Read, "SHOW ROLES"),
            Self::ShowEvaluation { .. } => (Read, "SHOW EVALUATION"),
            Self::Preview { .. } => (Read, "PREVIEW TAG"),
            Self::Suggest { .. } => (Read, "SUGGEST PROMPTS"),
            Self::Use { .. } => (SessionSetting, "USE"),
            Self::CreateGroup { .. } => (TagEdit, "CREATE TAG GROUP"),
            Self::Edit { .. } => (TagEdit, "ALTER TAG"),
            Self::Publish { .. } => (TagEdit, "PUBLISH TAG GROUP"),
            Self::Apply { .. } => (TagEdit, "APPLY TAG GROUP"),
            Self::Update { .. } => (TagEdit, "UPDATE TAG GROUP"),
            Self::Remove { .. } => (TagEdit, "REMOVE TAG GROUP"),
            Self::DropGroup { .. } => (TagEdit, "DROP TAG GROUP"),
            Self::Evaluate { .. } => (TagEdit, "EVALUATE TAG"),
            Self::LabelEvaluation { .. } => (TagEdit, "LABEL EVALUATION"),
            Self::RemoveEvaluationItems { .. } => (TagEdit, "REMOVE EVALUATION ITEMS"),
            Self::SaveThreshold { .. } => (TagEdit, "SAVE THRESHOLD"),
            Self::SetTarget { .. } => (TagEdit, "SET TARGET"),
            Self::CreateUser { .. } => (Admin, "CREATE USER"),
            Self::CreateToken { .. } => (Admin, "CREATE TOKEN"),
            Self::DropUser { .. } => (Admin, "DROP USER"),
            Self::Grant { .. } => (Admin, "GRANT"),
            Self::Revoke { .. } => (Admin, "REVOKE"),
            Self::SetAuthorization { .. } => (Admin, "SET SESSION AUTHORIZATION"),
        };
        Classified {
            kind,
            keyword: keyword.to_string(),
        }
    }
}

/// The kind of a statement for DataFusion.
pub fn classify_sql(stmt: &DfStatement) -> Classified {
    use StatementKind::*;
    let (kind, keyword): (StatementKind, String) = match stmt {
        DfStatement::Statement(s) => return classify_ast(s),
        DfStatement::CreateExternalTable(_) => (FileAccess, "CREATE EXTERNAL TABLE".into()),
        DfStatement::CopyTo(_) => (FileAccess, "COPY".into()),
        DfStatement::Explain(e) => return classify_sql(&e.statement),
        DfStatement::Reset(_) => (SessionSetting, "RESET".into()),
    };
    Classified { kind, keyword }
}

fn classify_ast(stmt: &Ast) -> Classified {
    use StatementKind::*;
    let kind = match stmt {
        Ast::Explain { statement, .. } | Ast::Prepare { statement, .. } => {
            return classify_ast(statement);
        }
        Ast::Query(_)
        | Ast::ExplainTable { .. }
        | Ast::ShowTables { .. }
        | Ast::ShowColumns { .. }
        | Ast::ShowVariable { .. }
        | Ast::ShowVariables { .. }
        | Ast::ShowFunctions { .. }
        | Ast::ShowCreate { .. }
        | Ast::ShowDatabases { .. }
        | Ast::ShowSchemas { .. }
        | Ast::ShowViews { .. }
        | Ast::ShowCollation { .. }
        | Ast::ShowStatus { .. }
        | Ast::Execute { .. }
        | Ast::Deallocate { .. } => Read,
        Ast::Set(_) | Ast::StartTransaction { .. } | Ast::Commit { .. } | Ast::Rollback { .. } => {
            SessionSetting
        }
        Ast::Copy { .. } | Ast::CopyIntoSnowflake { .. } | Ast::Unload { .. } => FileAccess,
        Ast::Directory { .. } | Ast::LoadData { .. } | Ast::Install { .. } | Ast::Load { .. } => {
            FileAccess
        }
        _ => DataChange,
    };
    Classified {
        kind,
        keyword: leading_keywords(&stmt.to_string()),
    }
}

/// The leading upper-case words of a statement's SQL (`DROP TABLE`, `INSERT INTO`), at most
/// three.
fn leading_keywords(sql: &str) -> String {
    let words: Vec<&str> = sql
        .split_whitespace()
        .take_while(|w| {
            w.starts_with(|c: char| c.is_ascii_uppercase())
                && w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
        .take(3)
        .collect();
    if words.is_empty() {
        sql.split_whitespace()
            .next()
            .unwrap_or("statement")
            .to_string()
    } else {
        words.join(" ")
    }
}

/// Checks that the caller may run a statement of this kind through this door, before it is
/// planned. `tag` is the tag statement itself, when it is one (its target decides the role
/// needed).
pub fn authorize(
    view: &View<'_>,
    door: Door,
    what: &Classified,
    tag: Option<&TagStatement>,
) -> Result<()> {
    let Classified { kind, keyword } = what;
    let kind_name = kind.as_str();
    match kind {
        StatementKind::Read | StatementKind::SessionSetting => return Ok(()),
        StatementKind::FileAccess | StatementKind::DataChange if door == Door::Remote => {
            let why = if *kind == StatementKind::FileAccess {
                "it reads or writes files on the server's machine, which no remote caller may do"
            } else {
                "remote callers may not define or change tables (dyntag's tables change through the tag statements and `dyntag ingest`)"
            };
            return Err(denied(format!(
                "{keyword} is {} {kind_name} statement: {why}; it needs the local administrator (`dyntag sql` on the data folder)",
                article(kind_name)
            )));
        }
        _ => {}
    }
    if door == Door::Remote && matches!(tag, Some(TagStatement::SetAuthorization { .. })) {
        return Err(denied(
            "SET SESSION AUTHORIZATION is for `dyntag sql` sessions on the data folder; over the server, sign in with the user's own token".into(),
        ));
    }
    if view.principal.is_read_only() {
        return Err(denied(format!(
            "{keyword} is {} {kind_name} statement, which a read-only login may not run; a read-only login runs queries and SHOW statements only",
            article(kind_name)
        )));
    }
    let action = format!("{keyword} ({} {kind_name} statement)", article(kind_name));
    match kind {
        StatementKind::FileAccess | StatementKind::DataChange => view.require_org_admin(&action),
        StatementKind::TagEdit => match tag {
            Some(stmt) => authorize_tag_edit(view, stmt, &action),
            // Only tag statements edit tags: anything else classified so is refused.
            None => Err(denied(format!("{action} is not a statement dyntag runs"))),
        },
        StatementKind::Admin => match tag {
            Some(TagStatement::Grant { dataset, .. } | TagStatement::Revoke { dataset, .. }) => {
                view.require(dataset, DatasetRole::Admin, &action)
            }
            Some(TagStatement::CreateToken { user, .. }) if matches!(view.principal, Principal::User(u) if u == user) => {
                Ok(())
            }
            // The session checks who opened it (an organisation admin may act as others);
            // remote callers were refused above.
            Some(TagStatement::SetAuthorization { .. }) => Ok(()),
            _ => view.require_org_admin(&action),
        },
        StatementKind::Read | StatementKind::SessionSetting => Ok(()),
    }
}

/// A tag edit needs the editor role on the dataset it changes: the dataset it names, or the
/// training dataset of the group it edits (a group the caller does not see is not found).
fn authorize_tag_edit(view: &View<'_>, stmt: &TagStatement, action: &str) -> Result<()> {
    use TagStatement as T;
    let group = match stmt {
        T::CreateGroup { dataset, .. }
        | T::Apply { dataset, .. }
        | T::Update { dataset, .. }
        | T::Remove { dataset, .. } => {
            return view.require(dataset, DatasetRole::Editor, action);
        }
        T::Edit { group, .. }
        | T::Publish { group, .. }
        | T::DropGroup { group }
        | T::Evaluate { group, .. }
        | T::LabelEvaluation { group, .. }
        | T::RemoveEvaluationItems { group, .. }
        | T::SaveThreshold { group, .. }
        | T::SetTarget { group, .. } => group,
        // A statement that is not a tag edit never gets here; refuse rather than allow.
        other => {
            return Err(denied(format!(
                "{action}: {} is not a tag edit",
                other.classify().keyword
            )));
        }
    };
    let g = &view.group(group)?.doc;
    if !view.sees_dataset(&g.training_dataset) {
        return Err(denied(format!(
            "tag group '{}' is edited only on its training dataset: {action} cannot change it from a dataset that applies it",
            g.name
        )));
    }
    view.require(
        &g.training_dataset,
        DatasetRole::Editor,
        &format!("{action} on tag group '{}'", g.name),
    )
}

/// Checks a DataFusion setting a statement changes (`SET name = value`; `None` for
/// `RESET name`): over the server, only a session setting, with a value in its bounds.
pub fn authorize_setting(door: Door, name: &str, value: Option<&str>) -> Result<()> {
    if door == Door::Local {
        return Ok(());
    }
    if !session_setting(name) {
        let hint = if name == "datafusion.catalog.default_schema" {
            " (switch datasets with USE <dataset>)"
        } else {
            ""
        };
        return Err(denied(format!(
            "SET {name} changes the server beyond this session{hint}; a remote session may set only {} (each for itself), or switch datasets with USE",
            SESSION_SETTINGS
                .iter()
                .map(|s| if s.ends_with('.') {
                    format!("{s}*")
                } else {
                    s.to_string()
                })
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let Some(value) = value else {
        return Ok(());
    };
    let name = name.to_ascii_lowercase();
    let bad = |why: String| {
        Err(CatalogError::Invalid(format!(
            "SET {name} = '{}': {why}",
            value.chars().take(64).collect::<String>()
        )))
    };
    if value.len() > MAX_SETTING_BYTES {
        return bad(format!(
            "a session setting holds at most {MAX_SETTING_BYTES} bytes"
        ));
    }
    if name == "datafusion.execution.batch_size" {
        match value.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_BATCH_SIZE).contains(&n) => {}
            _ => {
                return bad(format!(
                    "the batch size is a whole number from 1 to {MAX_BATCH_SIZE}"
                ));
            }
        }
    }
    if name == "datafusion.execution.time_zone"
        && value
            .trim()
            .parse::<datafusion::arrow::array::timezone::Tz>()
            .is_err()
    {
        return bad("not a time zone (e.g. '+01:00' or 'Europe/Paris')".into());
    }
    Ok(())
}

/// The largest batch a remote session may ask for (DataFusion allocates whole batches).
const MAX_BATCH_SIZE: usize = 65_536;
/// The longest value of a session setting.
const MAX_SETTING_BYTES: usize = 256;

/// Whether a remote session may change setting `name` for itself.
pub fn session_setting(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SESSION_SETTINGS.iter().any(|s| {
        if s.ends_with('.') {
            name.starts_with(s) && name.len() > s.len()
        } else {
            name == *s
        }
    })
}

fn denied(message: String) -> CatalogError {
    CatalogError::Denied(format!("permission denied: {message}"))
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn kind(sql: &str) -> Classified {
        let mut stmts = DFParser::parse_sql(sql).unwrap();
        classify_sql(&stmts.pop_front().unwrap())
    }

    #[test]
    fn statements_are_classified_by_what_they_do() {
        use StatementKind::*;
        for (sql, want, word) in [
            ("SELECT 1", Read, "SELECT"),
            ("EXPLAIN SELECT 1", Read, "SELECT"),
            ("SHOW TABLES", Read, "SHOW TABLES"),
            (
                "SET datafusion.execution.batch_size = 10",
                SessionSetting,
                "SET",
            ),
            (
                "RESET datafusion.execution.batch_size",
                SessionSetting,
                "RESET",
            ),
            (
                "COPY (SELECT 1) TO '/tmp/x.csv' STORED AS CSV",
                FileAccess,
                "COPY",
            ),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                FileAccess,
                "CREATE EXTERNAL TABLE",
            ),
            (
                "EXPLAIN COPY (SELECT 1) TO '/tmp/x.csv'",
                FileAccess,
                "COPY",
            ),
            ("INSERT INTO t VALUES (1)", DataChange, "INSERT INTO"),
            ("DROP TABLE coactive_table", DataChange, "DROP TABLE"),
            ("CREATE TABLE t AS SELECT 1", DataChange, "CREATE TABLE"),
            ("CREATE VIEW v AS SELECT 1", DataChange, "CREATE VIEW"),
            ("DELETE FROM t", DataChange, "DELETE FROM"),
        ] {
            let c = kind(sql);
            assert_eq!(c.kind, want, "{sql}");
            assert_eq!(c.keyword, word, "{sql}");
        }
        let t = super::super::parse("ALTER TAG 'a' IN GROUP g SET THRESHOLD 0.5")
            .unwrap()
            .unwrap();
        assert_eq!(t.classify().kind, TagEdit);
    }

    #[test]
    fn only_session_settings_are_open_to_remote_sessions() {
        let remote = |n: &str, v: &str| authorize_setting(Door::Remote, n, Some(v));
        assert!(remote("datafusion.execution.time_zone", "+01:00").is_ok());
        assert!(remote("datafusion.execution.time_zone", "Europe/Paris").is_ok());
        assert!(remote("datafusion.explain.format", "tree").is_ok());
        assert!(remote("datafusion.explain.", "x").is_err());
        for name in [
            "datafusion.runtime.temp_directory",
            "datafusion.runtime.memory_limit",
            "datafusion.catalog.location",
            "datafusion.execution.target_partitions",
        ] {
            let e = remote(name, "1").unwrap_err().to_string();
            assert!(e.starts_with("permission denied: SET "), "{e}");
            assert!(authorize_setting(Door::Local, name, Some("1")).is_ok());
        }
        // Values in bounds: a batch size DataFusion would allocate whole, a long string.
        for (name, value) in [
            ("datafusion.execution.batch_size", "1000000000000"),
            ("datafusion.execution.batch_size", "0"),
            ("datafusion.execution.time_zone", "Mars/Olympus"),
        ] {
            let e = remote(name, value).unwrap_err();
            assert!(matches!(e, CatalogError::Invalid(_)), "{e}");
        }
        assert!(remote("datafusion.format.null", &"x".repeat(1000)).is_err());
        assert!(remote("datafusion.execution.batch_size", "4096").is_ok());
        assert!(authorize_setting(Door::Remote, "datafusion.execution.batch_size", None).is_ok());
    }
}
