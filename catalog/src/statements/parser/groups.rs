//! Statements on tag groups: creating, editing groups and tags, previewing, publishing,
//! applying, updating, removing and dropping.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::Cursor;
use crate::statements::tag_statement::TagStatement;
use dyntag_core::model::tags::{Polarity, Prompt, PromptModality, Visibility};
use dyntag_core::scoring::scan::PreviewMode;
use dyntag_core::service::tags::GroupEdit;
use dyntag_core::{CatalogError, Modality, Result};

impl Cursor {
    /// `CREATE TAG GROUP … TAGS (…) [WITH (…)]`
    pub(super) fn create_group(&mut self) -> Result<TagStatement> {
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

    /// `ALTER TAG GROUP <group> …` and `ALTER TAG '<tag>' IN GROUP <group> …`
    pub(super) fn alter(&mut self) -> Result<TagStatement> {
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

    /// `PUBLISH TAG GROUP <group> [VISIBILITY …]`
    pub(super) fn publish(&mut self) -> Result<TagStatement> {
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

    /// `DROP TAG GROUP <group>`
    pub(super) fn drop_group(&mut self) -> Result<TagStatement> {
        self.pos += 1;
        self.expect_word("TAG")?;
        self.expect_word("GROUP")?;
        Ok(TagStatement::DropGroup {
            group: self.name("a group name")?,
        })
    }

    /// `APPLY`, `UPDATE` and `REMOVE TAG GROUP <group> … DATASET <dataset>` (`w` is the first word).
    pub(super) fn application(&mut self, w: &str) -> Result<TagStatement> {
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

    /// `PREVIEW TAG …`
    pub(super) fn preview_statement(&mut self) -> Result<TagStatement> {
        self.pos += 1;
        self.preview()
    }

    pub(super) fn preview(&mut self) -> Result<TagStatement> {
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

    pub(super) fn options(&mut self) -> Result<Vec<(String, String)>> {
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

    pub(super) fn group_edit(&mut self) -> Result<GroupEdit> {
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

    pub(super) fn tag_edit(&mut self, tag: String) -> Result<GroupEdit> {
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
