//! Tag statements printed as the SQL that parses back to them: names and strings in single
//! quotes, keywords in capitals. This is what logs and the audit trail record for
//! statements the HTTP API builds. A few statements exist only inside the product (a tag
//! marked reviewed by opening its preview, a threshold chosen by the Evaluator, a labels
//! file sent with a request); they print as a `--` comment saying what they did.

use std::fmt::{self, Display, Formatter, Write};

use super::tag_statement::{EvaluationLabels, TagStatement};
use dyntag_core::Modality;
use dyntag_core::model::access::DatasetRole;
use dyntag_core::model::tags::{Polarity, Prompt, PromptModality, Visibility};
use dyntag_core::scoring::scan::PreviewMode;
use dyntag_core::service::evaluate::metrics::Metric;
use dyntag_core::service::evaluate::supg::Target;
use dyntag_core::service::tags::GroupEdit;

/// A name or string literal: single quotes, quotes inside doubled.
struct Q<'a>(&'a str);

impl Display for Q<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('\'')?;
        for c in self.0.chars() {
            if c == '\'' {
                f.write_char('\'')?;
            }
            f.write_char(c)?;
        }
        f.write_char('\'')
    }
}

/// `('a', 'b', …)`.
struct List<'a>(&'a [String]);

impl Display for List<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('(')?;
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Q(s))?;
        }
        f.write_char(')')
    }
}

fn modality(m: Modality) -> &'static str {
    match m {
        Modality::Visual => "VISUAL",
        Modality::Transcript => "TRANSCRIPT",
    }
}

fn role(r: DatasetRole) -> &'static str {
    match r {
        DatasetRole::Viewer => "VIEWER",
        DatasetRole::Editor => "EDITOR",
        DatasetRole::Admin => "ADMIN",
    }
}

fn metric(m: Metric) -> &'static str {
    match m {
        Metric::F1 => "F1",
        Metric::F05 => "F0_5",
        Metric::Precision => "PRECISION",
        Metric::Recall => "RECALL",
        Metric::Accuracy => "ACCURACY",
    }
}

fn prompt(f: &mut Formatter<'_>, verb: &str, p: &Prompt) -> fmt::Result {
    let polarity = match p.polarity {
        Polarity::Positive => "POSITIVE",
        Polarity::Negative => "NEGATIVE",
    };
    let m = match p.modality {
        PromptModality::Visual => "VISUAL",
        PromptModality::Transcript => "TRANSCRIPT",
        PromptModality::Both => "BOTH",
    };
    write!(f, "{verb} {polarity} PROMPT {} FOR {m}", Q(&p.text))
}

/// `ALTER TAG GROUP g …` or `ALTER TAG 't' IN GROUP g …` for an edit; `None` for the edits
/// no statement makes.
fn edit(f: &mut Formatter<'_>, group: &str, e: &GroupEdit) -> Result<bool, fmt::Error> {
    let g = Q(group);
    match e {
        GroupEdit::AddTag { tag } => write!(f, "ALTER TAG GROUP {g} ADD TAG {}", Q(tag))?,
        GroupEdit::DropTag { tag } => write!(f, "ALTER TAG GROUP {g} DROP TAG {}", Q(tag))?,
        GroupEdit::RenameTag { tag, to } => {
            write!(f, "ALTER TAG GROUP {g} RENAME TAG {} TO {}", Q(tag), Q(to))?
        }
        GroupEdit::SetOption { key, value } => {
            write!(f, "ALTER TAG GROUP {g} SET {} = {}", Q(key), Q(value))?
        }
        GroupEdit::AddPrompt { tag, prompt: p } => {
            write!(f, "ALTER TAG {} IN GROUP {g} ", Q(tag))?;
            prompt(f, "ADD", p)?
        }
        GroupEdit::DropPrompt { tag, prompt: p } => {
            write!(f, "ALTER TAG {} IN GROUP {g} ", Q(tag))?;
            prompt(f, "DROP", p)?
        }
        GroupEdit::SetThreshold { tag, threshold } => write!(
            f,
            "ALTER TAG {} IN GROUP {g} SET THRESHOLD {threshold}",
            Q(tag)
        )?,
        GroupEdit::AddLabels {
            tag,
            asset_ids,
            positive,
        } => {
            let p = if *positive { "POSITIVE" } else { "NEGATIVE" };
            write!(
                f,
                "ALTER TAG {} IN GROUP {g} ADD {p} LABELS {}",
                Q(tag),
                List(asset_ids)
            )?
        }
        GroupEdit::DropLabels { tag, asset_ids } => write!(
            f,
            "ALTER TAG {} IN GROUP {g} DROP LABELS {}",
            Q(tag),
            List(asset_ids)
        )?,
        GroupEdit::Reviewed { tag } => {
            write!(
                f,
                "-- preview of tag {} in group {g} opened (the tag is reviewed)",
                Q(tag)
            )?;
            return Ok(false);
        }
        GroupEdit::SetGuarantee { tag, guarantee } => {
            write!(
                f,
                "-- threshold of tag {} in group {g} set to {} by the Evaluator to meet {:?}",
                Q(tag),
                guarantee.threshold,
                guarantee.target
            )?;
            return Ok(false);
        }
    }
    Ok(true)
}

impl Display for TagStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreateGroup {
                name,
                dataset,
                tags,
                options,
            } => {
                write!(
                    f,
                    "CREATE TAG GROUP {} ON DATASET {} TAGS {}",
                    Q(name),
                    Q(dataset),
                    List(tags)
                )?;
                if !options.is_empty() {
                    f.write_str(" WITH (")?;
                    for (i, (k, v)) in options.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{} = {}", Q(k), Q(v))?;
                    }
                    f.write_char(')')?;
                }
                Ok(())
            }
            Self::Edit {
                group,
                edit: e,
                expected_revision,
            } => {
                let statement = edit(f, group, e)?;
                match expected_revision {
                    Some(r) if statement => write!(f, " AT REVISION {r}"),
                    Some(r) => write!(f, " at revision {r}"),
                    None => Ok(()),
                }
            }
            Self::Publish { group, visibility } => {
                write!(f, "PUBLISH TAG GROUP {}", Q(group))?;
                match visibility {
                    Some(Visibility::Secret) => f.write_str(" VISIBILITY SECRET"),
                    Some(Visibility::Shareable) => f.write_str(" VISIBILITY SHAREABLE"),
                    None => Ok(()),
                }
            }
            Self::DropGroup { group } => write!(f, "DROP TAG GROUP {}", Q(group)),
            Self::ShowGroups { dataset: None } => f.write_str("SHOW TAG GROUPS"),
            Self::ShowGroups { dataset: Some(d) } => {
                write!(f, "SHOW TAG GROUPS ON DATASET {}", Q(d))
            }
            Self::ShowTags { group } => write!(f, "SHOW TAGS IN GROUP {}", Q(group)),
            Self::Use { dataset } => write!(f, "USE {}", Q(dataset)),
            Self::Preview {
                group,
                tag,
                modality: m,
                published,
                mode,
                threshold,
                limit,
            } => {
                write!(
                    f,
                    "PREVIEW TAG {} IN GROUP {} FOR {}",
                    Q(tag),
                    Q(group),
                    modality(*m)
                )?;
                if *published {
                    f.write_str(" PUBLISHED")?;
                }
                if let Some(mode) = mode {
                    f.write_str(match mode {
                        PreviewMode::Compare => " MODE COMPARE",
                        PreviewMode::Positives => " MODE POSITIVES",
                        PreviewMode::Negatives => " MODE NEGATIVES",
                        PreviewMode::Stratified { .. } => " MODE STRATIFIED",
                        PreviewMode::Top => " MODE TOP",
                    })?;
                }
                if let Some(t) = threshold {
                    write!(f, " THRESHOLD {t}")?;
                }
                if let Some(n) = limit {
                    write!(f, " LIMIT {n}")?;
                }
                Ok(())
            }
            Self::Apply { group, dataset } => {
                write!(f, "APPLY TAG GROUP {} TO DATASET {}", Q(group), Q(dataset))
            }
            Self::Update { group, dataset } => {
                write!(f, "UPDATE TAG GROUP {} ON DATASET {}", Q(group), Q(dataset))
            }
            Self::Remove { group, dataset } => write!(
                f,
                "REMOVE TAG GROUP {} FROM DATASET {}",
                Q(group),
                Q(dataset)
            ),
            Self::ShowShareable { pattern: None } => f.write_str("SHOW SHAREABLE TAG GROUPS"),
            Self::ShowShareable { pattern: Some(p) } => {
                write!(f, "SHOW SHAREABLE TAG GROUPS LIKE {}", Q(p))
            }
            Self::ShowLabels { group } => write!(f, "SHOW LABELS IN GROUP {}", Q(group)),
            Self::ShowVersions { group } => {
                write!(f, "SHOW VERSIONS OF TAG GROUP {}", Q(group))
            }
            Self::ShowDatasetAccess { group } => {
                write!(f, "SHOW DATASET ACCESS FOR TAG GROUP {}", Q(group))
            }
            Self::ShowJobs => f.write_str("SHOW SCORING JOBS"),
            Self::CreateUser {
                name,
                org_admin,
                read_only,
            } => {
                write!(f, "CREATE USER {}", Q(name))?;
                if *org_admin {
                    f.write_str(" ORG ADMIN")?;
                }
                if *read_only {
                    f.write_str(" READ ONLY")?;
                }
                Ok(())
            }
            Self::CreateToken { user, read_only } => {
                let ro = if *read_only { "READ ONLY " } else { "" };
                write!(f, "CREATE {ro}TOKEN FOR USER {}", Q(user))
            }
            Self::DropUser { name } => write!(f, "DROP USER {}", Q(name)),
            Self::Grant {
                role: r,
                dataset,
                user,
            } => write!(
                f,
                "GRANT {} ON DATASET {} TO {}",
                role(*r),
                Q(dataset),
                Q(user)
            ),
            Self::Revoke { dataset, user } => {
                write!(f, "REVOKE ALL ON DATASET {} FROM {}", Q(dataset), Q(user))
            }
            Self::ShowUsers => f.write_str("SHOW USERS"),
            Self::ShowRoles { dataset: None } => f.write_str("SHOW ROLES"),
            Self::ShowRoles { dataset: Some(d) } => {
                write!(f, "SHOW ROLES ON DATASET {}", Q(d))
            }
            Self::SetAuthorization { user: Some(u) } => {
                write!(f, "SET SESSION AUTHORIZATION {}", Q(u))
            }
            Self::SetAuthorization { user: None } => f.write_str("RESET SESSION AUTHORIZATION"),
            Self::Evaluate { group, tag, sample } => {
                write!(f, "EVALUATE TAG {} IN GROUP {}", Q(tag), Q(group))?;
                match sample {
                    Some(n) => write!(f, " SAMPLE {n}"),
                    None => Ok(()),
                }
            }
            Self::Suggest {
                group,
                tag,
                modality: m,
            } => write!(
                f,
                "SUGGEST PROMPTS FOR TAG {} IN GROUP {} FOR {}",
                Q(tag),
                Q(group),
                modality(*m)
            ),
            Self::LabelEvaluation { group, tag, labels } => {
                let head = format!("LABEL EVALUATION OF TAG {} IN GROUP {}", Q(tag), Q(group));
                match labels {
                    EvaluationLabels::Items {
                        asset_ids,
                        positive,
                    } => {
                        let p = if *positive { "POSITIVE" } else { "NEGATIVE" };
                        write!(f, "{head} {p} {}", List(asset_ids))
                    }
                    EvaluationLabels::File { path } => write!(f, "{head} FROM FILE {}", Q(path)),
                    EvaluationLabels::Llm => write!(f, "{head} WITH LLM"),
                    EvaluationLabels::Sent { file } => {
                        write!(
                            f,
                            "-- {head} from a labels file sent with the request ({file:?})"
                        )
                    }
                }
            }
            Self::RemoveEvaluationItems {
                group,
                tag,
                asset_ids,
            } => write!(
                f,
                "REMOVE EVALUATION ITEMS {} OF TAG {} IN GROUP {}",
                List(asset_ids),
                Q(tag),
                Q(group)
            ),
            Self::ShowEvaluation { group, tag } => {
                write!(f, "SHOW EVALUATION OF TAG {} IN GROUP {}", Q(tag), Q(group))
            }
            Self::SaveThreshold {
                group,
                tag,
                metric: m,
            } => write!(
                f,
                "SAVE THRESHOLD OF TAG {} IN GROUP {} FOR {}",
                Q(tag),
                Q(group),
                metric(*m)
            ),
            Self::SetTarget { group, tag, target } => {
                let (what, at_least, delta) = match target {
                    Target::Precision { at_least, delta } => ("PRECISION", at_least, delta),
                    Target::Recall { at_least, delta } => ("RECALL", at_least, delta),
                };
                write!(
                    f,
                    "SET TARGET OF TAG {} IN GROUP {} {what} {at_least} CONFIDENCE {}",
                    Q(tag),
                    Q(group),
                    1.0 - delta
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::parse;
    use dyntag_core::store::random::Random;

    /// A random name: letters, digits, spaces, quotes, dashes, accents.
    fn name(r: &mut Random) -> String {
        const CHARS: &[char] = &[
            'a', 'b', 'z', 'Q', 'X', '0', '7', ' ', '_', '\'', '-', '.', 'é', '中',
        ];
        let n = 1 + r.below(12) as usize;
        (0..n)
            .map(|_| CHARS[r.below(CHARS.len() as u64) as usize])
            .collect()
    }

    fn names(r: &mut Random) -> Vec<String> {
        (0..1 + r.below(4)).map(|_| name(r)).collect()
    }

    fn pick<T: Copy>(r: &mut Random, v: &[T]) -> T {
        v[r.below(v.len() as u64) as usize]
    }

    fn maybe<T>(r: &mut Random, f: impl FnOnce(&mut Random) -> T) -> Option<T> {
        (r.below(2) == 0).then(|| f(r))
    }

    fn unit(r: &mut Random) -> f64 {
        r.below(1001) as f64 / 1000.0
    }

    fn edit(r: &mut Random) -> GroupEdit {
        let tag = name(r);
        let prompt = |r: &mut Random| Prompt {
            text: name(r),
            polarity: pick(r, &[Polarity::Positive, Polarity::Negative]),
            modality: pick(
                r,
                &[
                    PromptModality::Visual,
                    PromptModality::Transcript,
                    PromptModality::Both,
                ],
            ),
        };
        match r.below(9) {
            0 => GroupEdit::AddTag { tag },
            1 => GroupEdit::DropTag { tag },
            2 => GroupEdit::RenameTag { tag, to: name(r) },
            3 => GroupEdit::SetOption {
                key: name(r),
                value: name(r),
            },
            4 => GroupEdit::AddPrompt {
                tag,
                prompt: prompt(r),
            },
            5 => GroupEdit::DropPrompt {
                tag,
                prompt: prompt(r),
            },
            6 => GroupEdit::SetThreshold {
                tag,
                threshold: unit(r),
            },
            7 => GroupEdit::AddLabels {
                tag,
                asset_ids: names(r),
                positive: r.below(2) == 0,
            },
            _ => GroupEdit::DropLabels {
                tag,
                asset_ids: names(r),
            },
        }
    }

    /// A random statement of those the parser reads.
    fn statement(r: &mut Random) -> TagStatement {
        let (group, tag, dataset) = (name(r), name(r), name(r));
        let modality = |r: &mut Random| pick(r, &[Modality::Visual, Modality::Transcript]);
        match r.below(34) {
            0 => TagStatement::CreateGroup {
                name: group,
                dataset,
                tags: names(r),
                options: (0..r.below(3)).map(|_| (name(r), name(r))).collect(),
            },
            1..=4 => TagStatement::Edit {
                group,
                edit: edit(r),
                expected_revision: maybe(r, |r| 1 + r.below(1000)),
            },
            5 => TagStatement::Publish {
                group,
                visibility: maybe(r, |r| pick(r, &[Visibility::Secret, Visibility::Shareable])),
            },
            6 => TagStatement::DropGroup { group },
            7 => TagStatement::ShowGroups {
                dataset: maybe(r, name),
            },
            8 => TagStatement::ShowTags { group },
            9 => TagStatement::Use { dataset },
            10 => TagStatement::Preview {
                group,
                tag,
                modality: modality(r),
                published: r.below(2) == 0,
                mode: maybe(r, |r| {
                    pick(
                        r,
                        &[
                            PreviewMode::Compare,
                            PreviewMode::Positives,
                            PreviewMode::Negatives,
                            PreviewMode::Stratified { per_bucket: 10 },
                            PreviewMode::Top,
                        ],
                    )
                }),
                threshold: maybe(r, unit),
                limit: maybe(r, |r| 1 + r.below(500) as usize),
            },
            11 => TagStatement::Apply { group, dataset },
            12 => TagStatement::Update { group, dataset },
            13 => TagStatement::Remove { group, dataset },
            14 => TagStatement::ShowShareable {
                pattern: maybe(r, name),
            },
            15 => TagStatement::ShowLabels { group },
            16 => TagStatement::ShowVersions { group },
            17 => TagStatement::ShowDatasetAccess { group },
            18 => TagStatement::ShowJobs,
            19 => TagStatement::CreateUser {
                name: name(r),
                org_admin: r.below(2) == 0,
                read_only: r.below(2) == 0,
            },
            20 => TagStatement::CreateToken {
                user: name(r),
                read_only: r.below(2) == 0,
            },
            21 => TagStatement::DropUser { name: name(r) },
            22 => TagStatement::Grant {
                role: pick(
                    r,
                    &[DatasetRole::Viewer, DatasetRole::Editor, DatasetRole::Admin],
                ),
                dataset,
                user: name(r),
            },
            23 => TagStatement::Revoke {
                dataset,
                user: name(r),
            },
            24 => TagStatement::ShowUsers,
            25 => TagStatement::ShowRoles {
                dataset: maybe(r, name),
            },
            26 => TagStatement::SetAuthorization {
                user: maybe(r, name),
            },
            27 => TagStatement::Evaluate {
                group,
                tag,
                sample: maybe(r, |r| 1 + r.below(1000) as usize),
            },
            28 => TagStatement::Suggest {
                group,
                tag,
                modality: modality(r),
            },
            29 => TagStatement::LabelEvaluation {
                group,
                tag,
                labels: match r.below(3) {
                    0 => EvaluationLabels::Items {
                        asset_ids: names(r),
                        positive: r.below(2) == 0,
                    },
                    1 => EvaluationLabels::File { path: name(r) },
                    _ => EvaluationLabels::Llm,
                },
            },
            30 => TagStatement::RemoveEvaluationItems {
                group,
                tag,
                asset_ids: names(r),
            },
            31 => TagStatement::ShowEvaluation { group, tag },
            32 => TagStatement::SaveThreshold {
                group,
                tag,
                metric: pick(
                    r,
                    &[
                        Metric::F1,
                        Metric::F05,
                        Metric::Precision,
                        Metric::Recall,
                        Metric::Accuracy,
                    ],
                ),
            },
            _ => {
                let at_least = r.below(100) as f64 / 100.0;
                let delta = 1.0 - pick(r, &[0.5, 0.8, 0.9, 0.95, 0.99]);
                TagStatement::SetTarget {
                    group,
                    tag,
                    target: if r.below(2) == 0 {
                        Target::Precision { at_least, delta }
                    } else {
                        Target::Recall { at_least, delta }
                    },
                }
            }
        }
    }

    #[test]
    fn every_statement_prints_as_the_sql_that_parses_back_to_it() {
        let cases: u64 = std::env::var("DYNTAG_DISPLAY_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let mut r = Random::seeded(17);
        for i in 0..cases {
            let stmt = statement(&mut r);
            let sql = stmt.to_string();
            let back = parse(&sql)
                .unwrap_or_else(|e| panic!("case {i}: {sql}\n does not parse: {e}"))
                .unwrap_or_else(|| panic!("case {i}: {sql}\n is not read as a tag statement"));
            assert_eq!(back, stmt, "case {i}: {sql}");
        }
    }

    #[test]
    fn statements_no_sql_makes_print_as_comments() {
        let stmt = TagStatement::Edit {
            group: "news".into(),
            edit: GroupEdit::Reviewed { tag: "it's".into() },
            expected_revision: None,
        };
        assert_eq!(
            stmt.to_string(),
            "-- preview of tag 'it''s' in group 'news' opened (the tag is reviewed)"
        );
        assert!(parse(&stmt.to_string()).unwrap().is_none());
    }
}
