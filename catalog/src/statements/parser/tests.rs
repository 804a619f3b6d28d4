use super::parse;
use crate::statements::tag_statement::TagStatement;
use dyntag_core::model::tags::{Polarity, Prompt, PromptModality, Visibility};
use dyntag_core::service::tags::GroupEdit;

#[test]
fn parses_create_with_options() {
    let s = parse("create tag group \"Celebrities\" on dataset news tags ('Taylor Swift', 'Will Smith') with (shot_aggregation = 'mean')")
        .unwrap()
        .unwrap();
    assert_eq!(
        s,
        TagStatement::CreateGroup {
            name: "Celebrities".into(),
            dataset: "news".into(),
            tags: vec!["Taylor Swift".into(), "Will Smith".into()],
            options: vec![("shot_aggregation".into(), "mean".into())],
        }
    );
}

#[test]
fn parses_tag_edits() {
    let s = parse(
        "ALTER TAG 'goal keeper' IN GROUP sports ADD NEGATIVE PROMPT 'a referee' FOR VISUAL;",
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        s,
        TagStatement::Edit {
            group: "sports".into(),
            edit: GroupEdit::AddPrompt {
                tag: "goal keeper".into(),
                prompt: Prompt {
                    text: "a referee".into(),
                    polarity: Polarity::Negative,
                    modality: PromptModality::Visual
                },
            },
            expected_revision: None,
        }
    );
    let s = parse("alter tag 'a' in group g set threshold 0.7 at revision 4")
        .unwrap()
        .unwrap();
    assert_eq!(
        s,
        TagStatement::Edit {
            group: "g".into(),
            edit: GroupEdit::SetThreshold {
                tag: "a".into(),
                threshold: 0.7
            },
            expected_revision: Some(4),
        }
    );
    let s = parse("ALTER TAG 'a' IN GROUP g ADD POSITIVE LABELS ('x', 'y')")
        .unwrap()
        .unwrap();
    assert!(matches!(
        s,
        TagStatement::Edit { edit: GroupEdit::AddLabels { positive: true, ref asset_ids, .. }, .. }
            if asset_ids.len() == 2
    ));
    for sql in [
        "APPLY TAG GROUP g TO DATASET d",
        "UPDATE TAG GROUP g ON DATASET d",
        "REMOVE TAG GROUP g FROM DATASET d",
        "PREVIEW TAG 'a' IN GROUP g FOR TRANSCRIPT MODE top LIMIT 5",
        "GRANT EDITOR ON DATASET d TO ann",
        "REVOKE ALL ON DATASET d FROM ann",
        "CREATE USER ann ORG ADMIN",
        "CREATE USER bi READ ONLY",
        "CREATE READ ONLY TOKEN FOR USER ann",
        "CREATE TOKEN FOR USER ann",
        "SHOW SCORING JOBS",
        "SHOW DATASET ACCESS FOR TAG GROUP g",
        "SET SESSION AUTHORIZATION ann",
    ] {
        assert!(parse(sql).unwrap().is_some(), "{sql}");
    }
    assert_eq!(
        parse("CREATE READ ONLY TOKEN FOR USER ann").unwrap(),
        Some(TagStatement::CreateToken {
            user: "ann".into(),
            read_only: true
        })
    );
    assert!(matches!(
        parse("CREATE USER bi ORG ADMIN READ ONLY").unwrap(),
        Some(TagStatement::CreateUser {
            org_admin: true,
            read_only: true,
            ..
        })
    ));
    // Ordinary SQL that starts with the same words is DataFusion's.
    assert!(parse("UPDATE tag SET x = 1").unwrap().is_none());
    let err = parse("ALTER TAG 'a' IN GROUP g SET THRESHOLD 0.5 AT REVISION 0")
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 1"), "{err}");
    let s = parse("PUBLISH TAG GROUP g VISIBILITY SHAREABLE")
        .unwrap()
        .unwrap();
    assert_eq!(
        s,
        TagStatement::Publish {
            group: "g".into(),
            visibility: Some(Visibility::Shareable)
        }
    );
}

#[test]
fn leaves_other_sql_alone() {
    assert_eq!(parse("SELECT 1").unwrap(), None);
    assert_eq!(parse("CREATE TABLE t AS SELECT 1").unwrap(), None);
    assert_eq!(parse("SHOW TABLES").unwrap(), None);
}

#[test]
fn syntax_errors_say_what_was_expected() {
    let err = parse("ALTER TAG 'a' IN GROUP g ADD PROMT 'x'")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("syntax error: expected PROMPT, found 'PROMT'"),
        "{err}"
    );
    let err = parse("PUBLISH TAG GROUP g VISIBILITY public")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected SECRET or SHAREABLE"), "{err}");
    let err = parse("CREATE TAG GROUP g ON DATASET d TAGS (a)")
        .unwrap_err()
        .to_string();
    assert!(err.contains("a tag name in quotes"), "{err}");
}
