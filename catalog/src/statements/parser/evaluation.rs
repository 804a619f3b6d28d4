//! Prompt suggestions and the Tag Evaluator's statements.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::Cursor;
use crate::statements::tag_statement::{EvaluationLabels, TagStatement};
use dyntag_core::service::evaluate::metrics::Metric;
use dyntag_core::service::evaluate::supg::Target;
use dyntag_core::{CatalogError, Modality, Result};

impl Cursor {
    /// `SUGGEST PROMPTS FOR TAG …`
    pub(super) fn suggest(&mut self) -> Result<TagStatement> {
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

    /// `EVALUATE TAG … [SAMPLE <n>]`
    pub(super) fn evaluate(&mut self) -> Result<TagStatement> {
        self.pos += 1;
        let (tag, group) = self.tag_in_group()?;
        let sample = if self.eat_word("SAMPLE") {
            Some(self.count("a sample size")?)
        } else {
            None
        };
        Ok(TagStatement::Evaluate { group, tag, sample })
    }

    /// `LABEL EVALUATION OF TAG …`
    pub(super) fn label(&mut self) -> Result<TagStatement> {
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

    /// `REMOVE EVALUATION ITEMS (…) OF TAG …`
    pub(super) fn remove_items(&mut self) -> Result<TagStatement> {
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

    /// `SAVE THRESHOLD OF TAG … [FOR <metric>]`
    pub(super) fn save_threshold(&mut self) -> Result<TagStatement> {
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

    /// `SET TARGET OF TAG … PRECISION|RECALL <x> [CONFIDENCE <c>]`
    pub(super) fn set_target(&mut self) -> Result<TagStatement> {
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
}
