//! Parsing the tag statements with sqlparser's tokenizer, before DataFusion sees the text.
//!
//! ```text
//! CREATE TAG GROUP <group> ON DATASET <dataset> TAGS ('<tag>', ...) [WITH (<option> = '<value>', ...)]
//! ALTER TAG GROUP <group> ADD TAG '<tag>'
//! ALTER TAG GROUP <group> DROP TAG '<tag>'
//! ALTER TAG GROUP <group> RENAME TAG '<tag>' TO '<new name>'
//! ALTER TAG GROUP <group> SET <option> = '<value>'
//! ALTER TAG '<tag>' IN GROUP <group> ADD [POSITIVE | NEGATIVE] PROMPT '<text>' [FOR VISUAL | TRANSCRIPT | BOTH]
//! ALTER TAG '<tag>' IN GROUP <group> DROP [POSITIVE | NEGATIVE] PROMPT '<text>' [FOR VISUAL | TRANSCRIPT | BOTH]
//! ALTER TAG '<tag>' IN GROUP <group> SET THRESHOLD <0..1>
//! ALTER TAG '<tag>' IN GROUP <group> RENAME TO '<new name>'
//! ALTER TAG '<tag>' IN GROUP <group> ADD POSITIVE | NEGATIVE LABELS ('<asset id>', ...)
//! ALTER TAG '<tag>' IN GROUP <group> DROP LABELS ('<asset id>', ...)
//! PREVIEW TAG '<tag>' IN GROUP <group> [FOR VISUAL | TRANSCRIPT] [PUBLISHED]
//!     [MODE COMPARE | POSITIVES | NEGATIVES | STRATIFIED | TOP] [THRESHOLD <0..1>] [LIMIT <n>]
//! PUBLISH TAG GROUP <group> [VISIBILITY SECRET | SHAREABLE]
//! APPLY TAG GROUP <group> TO DATASET <dataset>
//! UPDATE TAG GROUP <group> ON DATASET <dataset>
//! REMOVE TAG GROUP <group> FROM DATASET <dataset>
//! DROP TAG GROUP <group>
//! SHOW TAG GROUPS [ON DATASET <dataset>]
//! SHOW SHAREABLE TAG GROUPS [LIKE '<pattern>']
//! SHOW TAGS IN GROUP <group>
//! SHOW LABELS IN GROUP <group>
//! SHOW VERSIONS OF TAG GROUP <group>
//! SHOW DATASET ACCESS FOR TAG GROUP <group>
//! SHOW SCORING JOBS
//! CREATE USER <name> [ORG ADMIN] [READ ONLY]
//! CREATE [READ ONLY] TOKEN FOR USER <name>
//! DROP USER <name>
//! GRANT ADMIN | EDITOR | VIEWER ON DATASET <dataset> TO <user>
//! REVOKE ALL ON DATASET <dataset> FROM <user>
//! SHOW USERS
//! SHOW ROLES [ON DATASET <dataset>]
//! SET SESSION AUTHORIZATION <user> | RESET SESSION AUTHORIZATION
//! USE [DATASET] <dataset>
//! SUGGEST PROMPTS FOR TAG '<tag>' IN GROUP <group> [FOR VISUAL | TRANSCRIPT]
//! EVALUATE TAG '<tag>' IN GROUP <group> [SAMPLE <n>]
//! LABEL EVALUATION OF TAG '<tag>' IN GROUP <group> POSITIVE | NEGATIVE ('<asset id>', ...)
//! LABEL EVALUATION OF TAG '<tag>' IN GROUP <group> FROM FILE '<csv or parquet>' | WITH LLM
//! REMOVE EVALUATION ITEMS ('<asset id>', ...) OF TAG '<tag>' IN GROUP <group>
//! SHOW EVALUATION OF TAG '<tag>' IN GROUP <group>
//! SAVE THRESHOLD OF TAG '<tag>' IN GROUP <group> [FOR F1 | F0_5 | PRECISION | RECALL | ACCURACY]
//! SET TARGET OF TAG '<tag>' IN GROUP <group> PRECISION | RECALL <x> [CONFIDENCE <1 - δ>]
//! ```
//!
//! Any `ALTER` may end with `AT REVISION <n>`: the edit is refused with a conflict naming
//! the current revision if the group moved past revision `n` (without it, concurrent edits
//! of different fields merge). `<group>` is an identifier or a quoted name; options are `shot_aggregation` and
//! `video_aggregation`.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use dyntag_core::model::access::DatasetRole;
use dyntag_core::model::tags::{Polarity, Prompt, PromptModality, Visibility};
use dyntag_core::scoring::scan::PreviewMode;
use dyntag_core::service::evaluate::metrics::Metric;
use dyntag_core::service::evaluate::supg::Target;
use dyntag_core::service::tags::GroupEdit;
use dyntag_core::{CatalogError, Modality, Result};

/// A tag statement.
#[derive(Debug, Clone, PartialEq)]
pub enum TagStatement {
    CreateGroup {
        name: String,
        dataset: String,
        tags: Vec<String>,
        options: Vec<(String, String)>,
    },
    Edit {
        group: String,
        edit: GroupEdit,
        /// `AT REVISION n`: refuse the edit if the group moved past revision `n`.
        expected_revision: Option<u64>,
    },
    Publish {
        group: String,
        visibility: Option<Visibility>,
    },
    DropGroup {
        group: String,
    },
    ShowGroups {
        dataset: Option<String>,
    },
    ShowTags {
        group: String,
    },
    Use {
        dataset: String,
    },
    Preview {
        group: String,
        tag: String,
        modality: Modality,
        published: bool,
        mode: Option<PreviewMode>,
        threshold: Option<f64>,
        limit: Option<usize>,
    },
    Apply {
        group: String,
        dataset: String,
    },
    Update {
        group: String,
        dataset: String,
    },
    Remove {
        group: String,
        dataset: String,
    },
    ShowShareable {
        pattern: Option<String>,
    },
    ShowLabels {
        group: String,
    },
    ShowVersions {
        group: String,
    },
    ShowDatasetAccess {
        group: String,
    },
    ShowJobs,
    CreateUser {
        name: String,
        org_admin: bool,
        /// The user's token may only read (a login for BI tools).
        read_only: bool,
    },
    /// A further token for an existing user.
    CreateToken {
        user: String,
        read_only: bool,
    },
    DropUser {
        name: String,
    },
    Grant {
        role: DatasetRole,
        dataset: String,
        user: String,
    },
    Revoke {
        dataset: String,
        user: String,
    },
    ShowUsers,
    ShowRoles {
        dataset: Option<String>,
    },
    /// Act as another user (organisation admins only), or as oneself again (`None`).
    SetAuthorization {
        user: Option<String>,
    },
    Evaluate {
        group: String,
        tag: String,
        sample: Option<usize>,
    },
    Suggest {
        group: String,
        tag: String,
        modality: Modality,
    },
    LabelEvaluation {
        group: String,
        tag: String,
        labels: EvaluationLabels,
    },
    RemoveEvaluationItems {
        group: String,
        tag: String,
        asset_ids: Vec<String>,
    },
    ShowEvaluation {
        group: String,
        tag: String,
    },
    SaveThreshold {
        group: String,
        tag: String,
        metric: Metric,
    },
    SetTarget {
        group: String,
        tag: String,
        target: Target,
    },
}

/// Ground truth for an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum EvaluationLabels {
    Items {
        asset_ids: Vec<String>,
        positive: bool,
    },
    /// A labels file named in the statement: a path of the machine running `dyntag` from
    /// the command line, a file under the data root's `files/` folder from a remote caller.
    File { path: String },
    /// A labels file sent with the request (the HTTP API).
    Sent {
        file: dyntag_core::service::evaluate::LabelsFile,
    },
    /// The configured LLM looks at each item's image.
    Llm,
}

/// The grammar, shown with syntax errors.
pub const GRAMMAR: &str = "CREATE TAG GROUP <group> ON DATASET <dataset> TAGS ('<tag>', ...) [WITH (<option> = '<value>', ...)] | \
ALTER TAG GROUP <group> ADD TAG '<tag>' | DROP TAG '<tag>' | RENAME TAG '<tag>' TO '<name>' | SET <option> = '<value>' | \
ALTER TAG '<tag>' IN GROUP <group> ADD|DROP [POSITIVE|NEGATIVE] PROMPT '<text>' [FOR VISUAL|TRANSCRIPT|BOTH] | SET THRESHOLD <0..1> | RENAME TO '<name>' | \
(any ALTER may end with AT REVISION <n>: refused if the group moved past revision n) | \
ALTER TAG '<tag>' IN GROUP <group> ADD POSITIVE|NEGATIVE LABELS ('<asset id>', ...) | DROP LABELS ('<asset id>', ...) | \
PREVIEW TAG '<tag>' IN GROUP <group> [FOR VISUAL|TRANSCRIPT] [PUBLISHED] [MODE COMPARE|POSITIVES|NEGATIVES|STRATIFIED|TOP] [THRESHOLD <x>] [LIMIT <n>] | \
PUBLISH TAG GROUP <group> [VISIBILITY SECRET|SHAREABLE] | APPLY TAG GROUP <group> TO DATASET <dataset> | \
UPDATE TAG GROUP <group> ON DATASET <dataset> | REMOVE TAG GROUP <group> FROM DATASET <dataset> | DROP TAG GROUP <group> | \
SHOW TAG GROUPS [ON DATASET <dataset>] | SHOW SHAREABLE TAG GROUPS [LIKE '<pattern>'] | SHOW TAGS|LABELS IN GROUP <group> | \
SHOW VERSIONS OF TAG GROUP <group> | SHOW DATASET ACCESS FOR TAG GROUP <group> | SHOW SCORING JOBS | \
CREATE USER <name> [ORG ADMIN] [READ ONLY] | CREATE [READ ONLY] TOKEN FOR USER <name> | DROP USER <name> | GRANT ADMIN|EDITOR|VIEWER ON DATASET <dataset> TO <user> | \
REVOKE ALL ON DATASET <dataset> FROM <user> | SHOW USERS | SHOW ROLES [ON DATASET <dataset>] | \
SET SESSION AUTHORIZATION <user> | RESET SESSION AUTHORIZATION | USE <dataset> | \
SUGGEST PROMPTS FOR TAG '<tag>' IN GROUP <group> [FOR VISUAL|TRANSCRIPT] | EVALUATE TAG '<tag>' IN GROUP <group> [SAMPLE <n>] | LABEL EVALUATION OF TAG '<tag>' IN GROUP <group> POSITIVE|NEGATIVE ('<id>', ...) | FROM FILE '<path>' | \
REMOVE EVALUATION ITEMS ('<id>', ...) OF TAG '<tag>' IN GROUP <group> | SHOW EVALUATION OF TAG '<tag>' IN GROUP <group> | \
SAVE THRESHOLD OF TAG '<tag>' IN GROUP <group> [FOR F1|F0_5|PRECISION|RECALL|ACCURACY] | SET TARGET OF TAG '<tag>' IN GROUP <group> PRECISION|RECALL <x> [CONFIDENCE <c>]";

/// Parses `sql` if it is a tag statement; `Ok(None)` means it is for DataFusion.
pub fn parse(sql: &str) -> Result<Option<TagStatement>> {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return Ok(None);
    };
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut p = Cursor { tokens, pos: 0 };
    let first = p.peek_word();
    let second = p.peek_word_at(1);
    let third = p.peek_word_at(2);
    let ours = matches!(
        (first.as_deref(), second.as_deref()),
        (Some("CREATE" | "ALTER" | "DROP"), Some("TAG" | "USER"))
            | (Some("CREATE"), Some("READ" | "TOKEN"))
            | (Some("PREVIEW"), Some("TAG"))
            | (Some("PUBLISH" | "GRANT" | "REVOKE" | "USE"), _)
            | (
                Some("SHOW"),
                Some(
                    "TAG"
                        | "TAGS"
                        | "LABELS"
                        | "SHAREABLE"
                        | "VERSIONS"
                        | "SCORING"
                        | "USERS"
                        | "ROLES"
                )
            )
            | (Some("SET" | "RESET"), Some("SESSION"))
    ) || matches!(
        (first.as_deref(), second.as_deref(), third.as_deref()),
        (Some("SHOW"), Some("DATASET"), Some("ACCESS"))
            | (Some("EVALUATE"), Some("TAG"), _)
            | (Some("SUGGEST"), Some("PROMPTS"), _)
            | (Some("LABEL" | "REMOVE" | "SHOW"), Some("EVALUATION"), _)
            | (Some("SAVE"), Some("THRESHOLD"), _)
            | (Some("SET"), Some("TARGET"), _)
            | (
                Some("APPLY" | "UPDATE" | "REMOVE"),
                Some("TAG"),
                Some("GROUP")
            )
    );
    if !ours {
        return Ok(None);
    }
    let stmt = p.statement()?;
    p.eat(&Token::SemiColon);
    if !p.at_end() {
        return Err(p.error("end of statement"));
    }
    Ok(Some(stmt))
}

struct Cursor {
    tokens: Vec<Token>,
    pos: usize,
}

impl Cursor {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::EOF)
    }

    fn peek_word_at(&self, k: usize) -> Option<String> {
        match self.tokens.get(self.pos + k) {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn peek_word(&self) -> Option<String> {
        self.peek_word_at(0)
    }

    fn at_end(&self) -> bool {
        matches!(self.peek(), Token::EOF)
    }

    fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == t {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.peek_word().as_deref() == Some(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn error(&self, expected: &str) -> CatalogError {
        let found = match self.peek() {
            Token::EOF => "end of statement".to_string(),
            t => format!("'{t}'"),
        };
        CatalogError::Invalid(format!(
            "syntax error: expected {expected}, found {found}. Tag statements: {GRAMMAR}"
        ))
    }

    fn expect_word(&mut self, w: &str) -> Result<()> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.error(w))
        }
    }

    fn expect(&mut self, t: Token, what: &str) -> Result<()> {
        if self.eat(&t) {
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// A name: identifier (possibly quoted) or string literal.
    fn name(&mut self, what: &str) -> Result<String> {
        let v = match self.peek() {
            Token::Word(w) => w.value.clone(),
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
            _ => return Err(self.error(what)),
        };
        self.pos += 1;
        Ok(v)
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Token::SingleQuotedString(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.error(what)),
        }
    }

    fn number(&mut self, what: &str) -> Result<f64> {
        match self.peek() {
            Token::Number(n, _) => {
                let v = n.parse::<f64>().map_err(|_| self.error(what))?;
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.error(what)),
        }
    }

    /// `TAG '<tag>' IN [TAG] GROUP <group>`.
    fn tag_in_group(&mut self) -> Result<(String, String)> {
        self.expect_word("TAG")?;
        let tag = self.name("a tag name")?;
        self.expect_word("IN")?;
        self.eat_word("TAG");
        self.expect_word("GROUP")?;
        Ok((tag, self.name("a group name")?))
    }

    /// A whole number of at least 1.
    fn count(&mut self, what: &str) -> Result<usize> {
        let n = self.number(what)?;
        if n < 1.0 || n.fract() != 0.0 {
            return Err(CatalogError::Invalid(format!(
                "{what} is a whole number, at least 1 (found {n})"
            )));
        }
        Ok(n as usize)
    }

    /// An optional `AT REVISION <n>`.
    fn at_revision(&mut self) -> Result<Option<u64>> {
        if !self.eat_word("AT") {
            return Ok(None);
        }
        self.expect_word("REVISION")?;
        let n = self.number("a revision number")?;
        if n < 1.0 || n.fract() != 0.0 {
            return Err(CatalogError::Invalid(format!(
                "a revision is a whole number, at least 1 (found {n})"
            )));
        }
        Ok(Some(n as u64))
    }

    /// `('a', 'b', ...)`.
    fn string_list(&mut self, what: &str) -> Result<Vec<String>> {
        self.expect(Token::LParen, &format!("'(' and {what}"))?;
        let mut out = Vec::new();
        loop {
            out.push(self.string(what)?);
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        self.expect(Token::RParen, "')'")?;
        Ok(out)
    }

    fn preview(&mut self) -> Result<TagStatement> {
        self.expect_word("TAG")?;
        let tag = self.name("a tag name")?;
        self.expect_word("IN")?;
        self.eat_word("TAG");
        self.expect_word("GROUP")?;
        let group = self.name("a group name")?;
        let (mut modality, mut published, mut mode, mut threshold, mut limit) =
            (Modality::Visual, false, None, None, None);
        loop {
            if self.eat_word("FOR") {
                modality = if self.eat_word("VISUAL") {
                    Modality::Visual
                } else if self.eat_word("TRANSCRIPT") {
                    Modality::Transcript
                } else {
                    return Err(self.error("VISUAL or TRANSCRIPT"));
                };
            } else if self.eat_word("PUBLISHED") {
                published = true;
            } else if self.eat_word("MODE") {
                mode = Some(PreviewMode::parse(&self.name("a preview mode")?)?);
            } else if self.eat_word("THRESHOLD") {
                threshold = Some(self.number("a threshold between 0 and 1")?);
            } else if self.eat_word("LIMIT") {
                let n = self.number("a number of items")?;
                if n < 1.0 || n.fract() != 0.0 {
                    return Err(CatalogError::Invalid(format!(
                        "LIMIT must be a whole number of items, at least 1 (found {n})"
                    )));
                }
                limit = Some(n as usize);
            } else {
                break;
            }
        }
        Ok(TagStatement::Preview {
            group,
            tag,
            modality,
            published,
            mode,
            threshold,
            limit,
        })
    }

    /// `key = 'value'` pairs separated by commas.
    /// `READ ONLY`, if next.
    fn read_only(&mut self) -> Result<bool> {
        if self.eat_word("READ") {
            self.expect_word("ONLY")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn options(&mut self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        loop {
            let key = self.name("an option name")?;
            self.expect(Token::Eq, "'='")?;
            let value = match self.peek() {
                Token::Number(n, _) => {
                    let n = n.clone();
                    self.pos += 1;
                    n
                }
                _ => self.name("an option value")?,
            };
            out.push((key, value));
            if !self.eat(&Token::Comma) {
                return Ok(out);
            }
        }
    }

    fn statement(&mut self) -> Result<TagStatement> {
        match self.peek_word().as_deref() {
            Some("CREATE") if self.peek_word_at(1).as_deref() == Some("USER") => {
                self.pos += 2;
                let name = self.name("a user name")?;
                let org_admin = if self.eat_word("ORG") {
                    self.expect_word("ADMIN")?;
                    true
                } else {
                    false
                };
                let read_only = self.read_only()?;
                Ok(TagStatement::CreateUser {
                    name,
                    org_admin,
                    read_only,
                })
            }
            Some("CREATE") if matches!(self.peek_word_at(1).as_deref(), Some("READ" | "TOKEN")) => {
                self.pos += 1;
                let read_only = self.read_only()?;
                self.expect_word("TOKEN")?;
                self.expect_word("FOR")?;
                self.expect_word("USER")?;
                Ok(TagStatement::CreateToken {
                    user: self.name("a user name")?,
                    read_only,
                })
            }
            Some("DROP") if self.peek_word_at(1).as_deref() == Some("USER") => {
                self.pos += 2;
                Ok(TagStatement::DropUser {
                    name: self.name("a user name")?,
                })
            }
            Some("CREATE") => {
                self.pos += 1;
                self.expect_word("TAG")?;
                self.expect_word("GROUP")?;
                let name = self.name("a group name")?;
                self.expect_word("ON")?;
                self.eat_word("DATASET");
                let dataset = self.name("a dataset name")?;
                self.expect_word("TAGS")?;
                self.expect(Token::LParen, "'(' and a list of tags")?;
                let mut tags = Vec::new();
                loop {
                    tags.push(self.string("a tag name in quotes")?);
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                }
                self.expect(Token::RParen, "')'")?;
                let options = if self.eat_word("WITH") {
                    self.expect(Token::LParen, "'('")?;
                    let o = self.options()?;
                    self.expect(Token::RParen, "')'")?;
                    o
                } else {
                    Vec::new()
                };
                Ok(TagStatement::CreateGroup {
                    name,
                    dataset,
                    tags,
                    options,
                })
            }
            Some("ALTER") => {
                self.pos += 1;
                self.expect_word("TAG")?;
                if self.eat_word("GROUP") {
                    let group = self.name("a group name")?;
                    let edit = self.group_edit()?;
                    let expected_revision = self.at_revision()?;
                    Ok(TagStatement::Edit {
                        group,
                        edit,
                        expected_revision,
                    })
                } else {
                    let tag = self.name("a tag name or GROUP")?;
                    self.expect_word("IN")?;
                    self.eat_word("TAG");
                    self.expect_word("GROUP")?;
                    let group = self.name("a group name")?;
                    let edit = self.tag_edit(tag)?;
                    let expected_revision = self.at_revision()?;
                    Ok(TagStatement::Edit {
                        group,
                        edit,
                        expected_revision,
                    })
                }
            }
            Some("PUBLISH") => {
                self.pos += 1;
                self.expect_word("TAG")?;
                self.expect_word("GROUP")?;
                let group = self.name("a group name")?;
                let visibility = if self.eat_word("VISIBILITY") {
                    Some(if self.eat_word("SECRET") {
                        Visibility::Secret
                    } else if self.eat_word("SHAREABLE") {
                        Visibility::Shareable
                    } else {
                        return Err(self.error("SECRET or SHAREABLE"));
                    })
                } else {
                    None
                };
                Ok(TagStatement::Publish { group, visibility })
            }
            Some("DROP") => {
                self.pos += 1;
                self.expect_word("TAG")?;
                self.expect_word("GROUP")?;
                Ok(TagStatement::DropGroup {
                    group: self.name("a group name")?,
                })
            }
            Some("SHOW") => {
                self.pos += 1;
                if self.eat_word("SHAREABLE") {
                    self.expect_word("TAG")?;
                    self.expect_word("GROUPS")?;
                    let pattern = if self.eat_word("LIKE") {
                        Some(self.string("a pattern in quotes")?)
                    } else {
                        None
                    };
                    return Ok(TagStatement::ShowShareable { pattern });
                }
                if self.eat_word("LABELS") {
                    self.expect_word("IN")?;
                    self.eat_word("TAG");
                    self.expect_word("GROUP")?;
                    return Ok(TagStatement::ShowLabels {
                        group: self.name("a group name")?,
                    });
                }
                if self.eat_word("VERSIONS") {
                    self.expect_word("OF")?;
                    self.expect_word("TAG")?;
                    self.expect_word("GROUP")?;
                    return Ok(TagStatement::ShowVersions {
                        group: self.name("a group name")?,
                    });
                }
                if self.eat_word("DATASET") {
                    self.expect_word("ACCESS")?;
                    self.expect_word("FOR")?;
                    self.expect_word("TAG")?;
                    self.expect_word("GROUP")?;
                    return Ok(TagStatement::ShowDatasetAccess {
                        group: self.name("a group name")?,
                    });
                }
                if self.eat_word("SCORING") {
                    self.expect_word("JOBS")?;
                    return Ok(TagStatement::ShowJobs);
                }
                if self.eat_word("USERS") {
                    return Ok(TagStatement::ShowUsers);
                }
                if self.eat_word("EVALUATION") {
                    self.expect_word("OF")?;
                    let (tag, group) = self.tag_in_group()?;
                    return Ok(TagStatement::ShowEvaluation { group, tag });
                }
                if self.eat_word("ROLES") {
                    let dataset = if self.eat_word("ON") {
                        self.expect_word("DATASET")?;
                        Some(self.name("a dataset name")?)
                    } else {
                        None
                    };
                    return Ok(TagStatement::ShowRoles { dataset });
                }
                if self.eat_word("TAGS") {
                    self.expect_word("IN")?;
                    self.eat_word("TAG");
                    self.expect_word("GROUP")?;
                    Ok(TagStatement::ShowTags {
                        group: self.name("a group name")?,
                    })
                } else {
                    self.expect_word("TAG")?;
                    self.expect_word("GROUPS")?;
                    let dataset = if self.eat_word("ON") {
                        self.eat_word("DATASET");
                        Some(self.name("a dataset name")?)
                    } else {
                        None
                    };
                    Ok(TagStatement::ShowGroups { dataset })
                }
            }
            Some("PREVIEW") => {
                self.pos += 1;
                self.preview()
            }
            Some(w @ ("APPLY" | "UPDATE" | "REMOVE"))
                if self.peek_word_at(1).as_deref() == Some("TAG") =>
            {
                let w = w.to_string();
                self.pos += 1;
                self.expect_word("TAG")?;
                self.expect_word("GROUP")?;
                let group = self.name("a group name")?;
                self.expect_word(match w.as_str() {
                    "APPLY" => "TO",
                    "UPDATE" => "ON",
                    _ => "FROM",
                })?;
                self.expect_word("DATASET")?;
                let dataset = self.name("a dataset name")?;
                Ok(match w.as_str() {
                    "APPLY" => TagStatement::Apply { group, dataset },
                    "UPDATE" => TagStatement::Update { group, dataset },
                    _ => TagStatement::Remove { group, dataset },
                })
            }
            Some("GRANT") => {
                self.pos += 1;
                let role = DatasetRole::parse(&self.name("ADMIN, EDITOR or VIEWER")?)?;
                self.expect_word("ON")?;
                self.expect_word("DATASET")?;
                let dataset = self.name("a dataset name")?;
                self.expect_word("TO")?;
                let user = self.name("a user name")?;
                Ok(TagStatement::Grant {
                    role,
                    dataset,
                    user,
                })
            }
            Some("REVOKE") => {
                self.pos += 1;
                self.eat_word("ALL");
                self.expect_word("ON")?;
                self.expect_word("DATASET")?;
                let dataset = self.name("a dataset name")?;
                self.expect_word("FROM")?;
                let user = self.name("a user name")?;
                Ok(TagStatement::Revoke { dataset, user })
            }
            Some("SUGGEST") => {
                self.pos += 1;
                self.expect_word("PROMPTS")?;
                self.expect_word("FOR")?;
                let (tag, group) = self.tag_in_group()?;
                let modality = if self.eat_word("FOR") {
                    if self.eat_word("VISUAL") {
                        Modality::Visual
                    } else if self.eat_word("TRANSCRIPT") {
                        Modality::Transcript
                    } else {
                        return Err(self.error("VISUAL or TRANSCRIPT"));
                    }
                } else {
                    Modality::Visual
                };
                Ok(TagStatement::Suggest {
                    group,
                    tag,
                    modality,
                })
            }
            Some("EVALUATE") => {
                self.pos += 1;
                let (tag, group) = self.tag_in_group()?;
                let sample = if self.eat_word("SAMPLE") {
                    Some(self.count("a sample size")?)
                } else {
                    None
                };
                Ok(TagStatement::Evaluate { group, tag, sample })
            }
            Some("LABEL") => {
                self.pos += 1;
                self.expect_word("EVALUATION")?;
                self.expect_word("OF")?;
                let (tag, group) = self.tag_in_group()?;
                let labels = if self.eat_word("WITH") {
                    self.expect_word("LLM")?;
                    EvaluationLabels::Llm
                } else if self.eat_word("FROM") {
                    self.expect_word("FILE")?;
                    EvaluationLabels::File {
                        path: self.string("a file path in quotes")?,
                    }
                } else {
                    let positive = if self.eat_word("POSITIVE") {
                        true
                    } else if self.eat_word("NEGATIVE") {
                        false
                    } else {
                        return Err(self.error("POSITIVE, NEGATIVE or FROM FILE"));
                    };
                    EvaluationLabels::Items {
                        asset_ids: self.string_list("asset ids in quotes")?,
                        positive,
                    }
                };
                Ok(TagStatement::LabelEvaluation { group, tag, labels })
            }
            Some("REMOVE") if self.peek_word_at(1).as_deref() == Some("EVALUATION") => {
                self.pos += 2;
                self.expect_word("ITEMS")?;
                let asset_ids = self.string_list("asset ids in quotes")?;
                self.expect_word("OF")?;
                let (tag, group) = self.tag_in_group()?;
                Ok(TagStatement::RemoveEvaluationItems {
                    group,
                    tag,
                    asset_ids,
                })
            }
            Some("SAVE") => {
                self.pos += 1;
                self.expect_word("THRESHOLD")?;
                self.expect_word("OF")?;
                let (tag, group) = self.tag_in_group()?;
                let metric = if self.eat_word("FOR") {
                    Metric::parse(&self.name("a metric")?)?
                } else {
                    Metric::F1
                };
                Ok(TagStatement::SaveThreshold { group, tag, metric })
            }
            Some("SET") if self.peek_word_at(1).as_deref() == Some("TARGET") => {
                self.pos += 2;
                self.expect_word("OF")?;
                let (tag, group) = self.tag_in_group()?;
                let precision = if self.eat_word("PRECISION") {
                    true
                } else if self.eat_word("RECALL") {
                    false
                } else {
                    return Err(self.error("PRECISION or RECALL"));
                };
                self.eat(&Token::GtEq);
                let at_least = self.number("a target between 0 and 1")?;
                let confidence = if self.eat_word("CONFIDENCE") {
                    self.number("a confidence between 0 and 1")?
                } else {
                    0.95
                };
                if !(0.0..1.0).contains(&at_least) || !(0.5..1.0).contains(&confidence) {
                    return Err(CatalogError::Invalid(format!(
                        "a target is between 0 and 1 (found {at_least}) and a confidence between 0.5 and 1 (found {confidence})"
                    )));
                }
                let delta = 1.0 - confidence;
                let target = if precision {
                    Target::Precision { at_least, delta }
                } else {
                    Target::Recall { at_least, delta }
                };
                Ok(TagStatement::SetTarget { group, tag, target })
            }
            Some("SET") => {
                self.pos += 1;
                self.expect_word("SESSION")?;
                self.expect_word("AUTHORIZATION")?;
                Ok(TagStatement::SetAuthorization {
                    user: Some(self.name("a user name")?),
                })
            }
            Some("RESET") => {
                self.pos += 1;
                self.expect_word("SESSION")?;
                self.expect_word("AUTHORIZATION")?;
                Ok(TagStatement::SetAuthorization { user: None })
            }
            Some("USE") => {
                self.pos += 1;
                self.eat_word("DATASET");
                Ok(TagStatement::Use {
                    dataset: self.name("a dataset name")?,
                })
            }
            _ => Err(self.error("a tag statement")),
        }
    }

    fn group_edit(&mut self) -> Result<GroupEdit> {
        if self.eat_word("ADD") {
            self.expect_word("TAG")?;
            Ok(GroupEdit::AddTag {
                tag: self.string("a tag name in quotes")?,
            })
        } else if self.eat_word("DROP") {
            self.expect_word("TAG")?;
            Ok(GroupEdit::DropTag {
                tag: self.string("a tag name in quotes")?,
            })
        } else if self.eat_word("RENAME") {
            self.expect_word("TAG")?;
            let tag = self.string("a tag name in quotes")?;
            self.expect_word("TO")?;
            Ok(GroupEdit::RenameTag {
                tag,
                to: self.string("the new name in quotes")?,
            })
        } else if self.eat_word("SET") {
            let mut opts = self.options()?;
            if opts.len() != 1 {
                return Err(CatalogError::Invalid("set one option per statement".into()));
            }
            let (key, value) = opts.remove(0);
            Ok(GroupEdit::SetOption { key, value })
        } else {
            Err(self.error("ADD TAG, DROP TAG, RENAME TAG or SET"))
        }
    }

    fn tag_edit(&mut self, tag: String) -> Result<GroupEdit> {
        if self.eat_word("SET") {
            self.expect_word("THRESHOLD")?;
            self.eat(&Token::Eq);
            let threshold = self.number("a threshold between 0 and 1")?;
            return Ok(GroupEdit::SetThreshold { tag, threshold });
        }
        if self.eat_word("RENAME") {
            self.expect_word("TO")?;
            return Ok(GroupEdit::RenameTag {
                tag,
                to: self.string("the new name in quotes")?,
            });
        }
        let add = if self.eat_word("ADD") {
            true
        } else if self.eat_word("DROP") {
            false
        } else {
            return Err(self.error("ADD, DROP, SET THRESHOLD or RENAME TO"));
        };
        let polarity = if self.eat_word("NEGATIVE") {
            Polarity::Negative
        } else {
            self.eat_word("POSITIVE");
            Polarity::Positive
        };
        if self.eat_word("LABELS") || self.eat_word("LABEL") {
            let asset_ids = self.string_list("asset ids in quotes")?;
            return Ok(if add {
                GroupEdit::AddLabels {
                    tag,
                    asset_ids,
                    positive: polarity == Polarity::Positive,
                }
            } else {
                GroupEdit::DropLabels { tag, asset_ids }
            });
        }
        self.expect_word("PROMPT")?;
        let text = self.string("the prompt text in quotes")?;
        let modality = if self.eat_word("FOR") {
            if self.eat_word("VISUAL") {
                PromptModality::Visual
            } else if self.eat_word("TRANSCRIPT") {
                PromptModality::Transcript
            } else if self.eat_word("BOTH") {
                PromptModality::Both
            } else {
                return Err(self.error("VISUAL, TRANSCRIPT or BOTH"));
            }
        } else {
            PromptModality::Both
        };
        let prompt = Prompt {
            text,
            polarity,
            modality,
        };
        Ok(if add {
            GroupEdit::AddPrompt { tag, prompt }
        } else {
            GroupEdit::DropPrompt { tag, prompt }
        })
    }
}

/// Splits a script into statements at top-level `;` (quotes and comments respected).
pub fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    if chars.peek() == Some(&q) {
                        cur.push(chars.next().expect("peeked"));
                    } else {
                        quote = None;
                    }
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            cur.push('\n');
                            break;
                        }
                    }
                }
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    let mut prev = ' ';
                    for c in chars.by_ref() {
                        if prev == '*' && c == '/' {
                            break;
                        }
                        prev = c;
                    }
                    cur.push(' ');
                }
                ';' => {
                    if !cur.trim().is_empty() {
                        out.push(cur.trim().to_string());
                    }
                    cur.clear();
                }
                _ => cur.push(c),
            },
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn splits_scripts_at_top_level_semicolons() {
        let s = split_statements("SELECT ';' AS a; -- c;\nSELECT \"x;y\" FROM t /* ; */;\n;");
        assert_eq!(s, vec!["SELECT ';' AS a", "SELECT \"x;y\" FROM t"]);
    }
}
