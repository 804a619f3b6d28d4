//! The `SHOW` statements of the dialect.

use super::Cursor;
use crate::statements::tag_statement::TagStatement;
use dyntag_core::Result;

impl Cursor {
    /// Every `SHOW` of the tag statements.
    pub(super) fn show(&mut self) -> Result<TagStatement> {
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
}
