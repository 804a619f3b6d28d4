//! Parsing the tag statements with sqlparser's tokenizer, before DataFusion sees the text.
//! The grammar is written once, in [`super::grammar`]; this module reads the common words
//! and dispatches on the first ones to a file per family: [`groups`] (creating, editing,
//! previewing, publishing and applying groups), [`show`], [`users`] (users, roles, the
//! session) and [`evaluation`] (suggestions and the Tag Evaluator).
//!
//! Any `ALTER` may end with `AT REVISION <n>`: the edit is refused with a conflict naming
//! the current revision if the group moved past revision `n` (without it, concurrent edits
//! of different fields merge). `<group>` is an identifier or a quoted name; options are
//! `shot_aggregation` and `video_aggregation`.

mod evaluation;
mod groups;
mod show;
#[cfg(test)]
mod tests;
mod users;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::grammar;
use super::tag_statement::TagStatement;
use dyntag_core::{CatalogError, Result};

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
            "syntax error: expected {expected}, found {found}. Tag statements: {}",
            grammar::one_line()
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

    /// `key = 'value'` pairs separated by commas.
    /// `READ ONLY`, if next.
    fn read_only(&mut self) -> Result<bool> {
        if self.eat_word("READ") {
            self.expect_word("ONLY")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// One statement, by its first words; each family parses in a file of its own.
    fn statement(&mut self) -> Result<TagStatement> {
        match self.peek_word().as_deref() {
            Some("CREATE") if self.peek_word_at(1).as_deref() == Some("USER") => self.create_user(),
            Some("CREATE") if matches!(self.peek_word_at(1).as_deref(), Some("READ" | "TOKEN")) => {
                self.create_token()
            }
            Some("DROP") if self.peek_word_at(1).as_deref() == Some("USER") => self.drop_user(),
            Some("CREATE") => self.create_group(),
            Some("ALTER") => self.alter(),
            Some("PUBLISH") => self.publish(),
            Some("DROP") => self.drop_group(),
            Some("SHOW") => self.show(),
            Some("PREVIEW") => self.preview_statement(),
            Some(w @ ("APPLY" | "UPDATE" | "REMOVE"))
                if self.peek_word_at(1).as_deref() == Some("TAG") =>
            {
                self.application(w)
            }
            Some("GRANT") => self.grant(),
            Some("REVOKE") => self.revoke(),
            Some("SUGGEST") => self.suggest(),
            Some("EVALUATE") => self.evaluate(),
            Some("LABEL") => self.label(),
            Some("REMOVE") if self.peek_word_at(1).as_deref() == Some("EVALUATION") => {
                self.remove_items()
            }
            Some("SAVE") => self.save_threshold(),
            Some("SET") if self.peek_word_at(1).as_deref() == Some("TARGET") => self.set_target(),
            Some("SET") => self.set_authorization(),
            Some("RESET") => self.reset_authorization(),
            Some("USE") => self.use_dataset(),
            _ => Err(self.error("a tag statement")),
        }
    }
}
