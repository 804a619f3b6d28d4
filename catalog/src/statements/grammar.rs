//! The grammar of the tag statements, written once. The parser's syntax errors quote it
//! ([`one_line`]), the README's list of statements is this text ([`text`], checked by a test),
//! and every form comes with an example that the parser must accept (tested), so the three
//! cannot drift apart.

use std::sync::LazyLock;

/// One statement form: its syntax, an example the parser accepts, and a note for the README.
pub struct Form {
    pub syntax: &'static str,
    pub example: &'static str,
    pub note: &'static str,
}

const fn form(syntax: &'static str, example: &'static str, note: &'static str) -> Form {
    Form {
        syntax,
        example,
        note,
    }
}

/// Every form, in the order the README lists them.
pub const FORMS: &[Form] = &[
    form(
        "CREATE TAG GROUP <group> ON DATASET <dataset> TAGS ('<tag>', ...) [WITH (shot_aggregation = 'max|mean|top<k>_mean', video_aggregation = 'max|coverage(<min>)')]",
        "CREATE TAG GROUP Topics ON DATASET news TAGS ('football', 'cooking') WITH (shot_aggregation = 'top3_mean')",
        "",
    ),
    form(
        "ALTER TAG GROUP <group> ADD TAG '<tag>' | DROP TAG '<tag>' | RENAME TAG '<tag>' TO '<name>' | SET <option> = '<value>'",
        "ALTER TAG GROUP topics RENAME TAG 'cooking' TO 'baking'",
        "",
    ),
    form(
        "ALTER TAG '<tag>' IN GROUP <group> ADD|DROP [POSITIVE|NEGATIVE] PROMPT '<text>' [FOR VISUAL|TRANSCRIPT|BOTH]",
        "ALTER TAG 'football' IN GROUP topics ADD NEGATIVE PROMPT 'a rugby match' FOR VISUAL",
        "",
    ),
    form(
        "ALTER TAG '<tag>' IN GROUP <group> ADD POSITIVE|NEGATIVE LABELS ('<asset id>', ...) | DROP LABELS ('<asset id>', ...)",
        "ALTER TAG 'football' IN GROUP topics ADD POSITIVE LABELS ('kf_1', 'kf_2')",
        "",
    ),
    form(
        "ALTER TAG '<tag>' IN GROUP <group> SET THRESHOLD <0..1> | RENAME TO '<name>'",
        "ALTER TAG 'football' IN GROUP topics SET THRESHOLD 0.6",
        "",
    ),
    form(
        "    (any ALTER may end with AT REVISION <n>: refused with a conflict if the group moved past n)",
        "ALTER TAG 'football' IN GROUP topics SET THRESHOLD 0.6 AT REVISION 3",
        "",
    ),
    form(
        "PREVIEW TAG '<tag>' IN GROUP <group> [FOR VISUAL|TRANSCRIPT] [PUBLISHED] [MODE COMPARE|POSITIVES|NEGATIVES|STRATIFIED|TOP] [THRESHOLD <x>] [LIMIT <n>]",
        "PREVIEW TAG 'football' IN GROUP topics FOR VISUAL MODE POSITIVES THRESHOLD 0.4 LIMIT 10",
        "",
    ),
    form(
        "PUBLISH TAG GROUP <group> [VISIBILITY SECRET|SHAREABLE]",
        "PUBLISH TAG GROUP topics VISIBILITY SHAREABLE",
        "",
    ),
    form(
        "APPLY TAG GROUP <group> TO DATASET <dataset>",
        "APPLY TAG GROUP topics TO DATASET archive",
        "",
    ),
    form(
        "UPDATE TAG GROUP <group> ON DATASET <dataset>",
        "UPDATE TAG GROUP topics ON DATASET archive",
        "",
    ),
    form(
        "REMOVE TAG GROUP <group> FROM DATASET <dataset>",
        "REMOVE TAG GROUP topics FROM DATASET archive",
        "",
    ),
    form("DROP TAG GROUP <group>", "DROP TAG GROUP topics", ""),
    form(
        "SHOW TAG GROUPS [ON DATASET <dataset>]",
        "SHOW TAG GROUPS ON DATASET news",
        "\"manage groups\": version applied, update available, scoring status",
    ),
    form(
        "SHOW SHAREABLE TAG GROUPS [LIKE '<pattern>']",
        "SHOW SHAREABLE TAG GROUPS LIKE 'top%'",
        "groups other datasets may apply",
    ),
    form(
        "SHOW TAGS IN GROUP <group> | SHOW LABELS IN GROUP <group>",
        "SHOW LABELS IN GROUP topics",
        "",
    ),
    form(
        "SHOW VERSIONS OF TAG GROUP <group> | SHOW DATASET ACCESS FOR TAG GROUP <group> | SHOW SCORING JOBS",
        "SHOW DATASET ACCESS FOR TAG GROUP topics",
        "",
    ),
    form(
        "CREATE USER <name> [ORG ADMIN] [READ ONLY] | CREATE [READ ONLY] TOKEN FOR USER <name>",
        "CREATE READ ONLY TOKEN FOR USER ann",
        "a read-only login may only query",
    ),
    form("DROP USER <name> | SHOW USERS", "DROP USER ann", ""),
    form(
        "GRANT ADMIN|EDITOR|VIEWER ON DATASET <dataset> TO <user> | REVOKE ALL ON DATASET <dataset> FROM <user> | SHOW ROLES [ON DATASET <dataset>]",
        "GRANT EDITOR ON DATASET news TO ann",
        "",
    ),
    form(
        "SET SESSION AUTHORIZATION <user> | RESET SESSION AUTHORIZATION",
        "SET SESSION AUTHORIZATION ann",
        "`dyntag sql` sessions of an organisation admin",
    ),
    form("USE [DATASET] <dataset>", "USE DATASET news", ""),
    form(
        "SUGGEST PROMPTS FOR TAG '<tag>' IN GROUP <group> [FOR VISUAL|TRANSCRIPT]",
        "SUGGEST PROMPTS FOR TAG 'football' IN GROUP topics FOR TRANSCRIPT",
        "",
    ),
    form(
        "EVALUATE TAG '<tag>' IN GROUP <group> [SAMPLE <n>]",
        "EVALUATE TAG 'football' IN GROUP topics SAMPLE 100",
        "the Tag Evaluator's sample (default 400)",
    ),
    form(
        "LABEL EVALUATION OF TAG '<tag>' IN GROUP <group> POSITIVE|NEGATIVE ('<asset id>', ...) | FROM FILE '<csv or parquet>' | WITH LLM",
        "LABEL EVALUATION OF TAG 'football' IN GROUP topics FROM FILE 'labels.csv'",
        "",
    ),
    form(
        "REMOVE EVALUATION ITEMS ('<asset id>', ...) OF TAG '<tag>' IN GROUP <group>",
        "REMOVE EVALUATION ITEMS ('kf_1') OF TAG 'football' IN GROUP topics",
        "",
    ),
    form(
        "SHOW EVALUATION OF TAG '<tag>' IN GROUP <group>",
        "SHOW EVALUATION OF TAG 'football' IN GROUP topics",
        "",
    ),
    form(
        "SAVE THRESHOLD OF TAG '<tag>' IN GROUP <group> [FOR F1|F0_5|PRECISION|RECALL|ACCURACY]",
        "SAVE THRESHOLD OF TAG 'football' IN GROUP topics FOR F0_5",
        "",
    ),
    form(
        "SET TARGET OF TAG '<tag>' IN GROUP <group> PRECISION|RECALL <x> [CONFIDENCE <1-δ>]",
        "SET TARGET OF TAG 'football' IN GROUP topics PRECISION 0.9 CONFIDENCE 0.95",
        "",
    ),
];

/// The grammar as the README lists it: one form a line, a note as a `--` comment.
pub fn text() -> String {
    FORMS
        .iter()
        .map(|f| match f.note {
            "" => format!("{}\n", f.syntax),
            note => format!("{}  -- {note}\n", f.syntax),
        })
        .collect()
}

/// The grammar on one line, forms separated by ` | ` (quoted by syntax errors).
pub fn one_line() -> &'static str {
    static LINE: LazyLock<String> = LazyLock::new(|| {
        FORMS
            .iter()
            .map(|f| f.syntax.trim())
            .collect::<Vec<_>>()
            .join(" | ")
    });
    &LINE
}

#[cfg(test)]
mod tests {
    use super::{FORMS, text};
    use crate::statements::parse;

    #[test]
    fn every_form_has_an_example_the_parser_accepts() {
        for f in FORMS {
            let parsed = parse(f.example);
            assert!(
                matches!(parsed, Ok(Some(_))),
                "the example of `{}` does not parse as a tag statement: {parsed:?}",
                f.syntax
            );
        }
    }

    #[test]
    fn the_readme_lists_the_grammar() {
        // The checkout's README, read at run time (a test binary in a shared target
        // directory may have been built by another checkout).
        let root = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
        let readme = std::fs::read_to_string(std::path::Path::new(&root).join("../README.md"))
            .expect("README.md");
        let block = format!("```text\n{}```", text());
        assert!(
            readme.contains(&block),
            "the README's list of tag statements differs from statements/grammar.rs; it should read:\n{block}"
        );
    }
}
