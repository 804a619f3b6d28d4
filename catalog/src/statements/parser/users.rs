//! Statements on users, roles and the session.

use super::Cursor;
use crate::statements::tag_statement::TagStatement;
use dyntag_core::Result;
use dyntag_core::model::access::DatasetRole;

impl Cursor {
    /// `CREATE USER <name> [ORG ADMIN] [READ ONLY]`
    pub(super) fn create_user(&mut self) -> Result<TagStatement> {
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

    /// `CREATE [READ ONLY] TOKEN FOR USER <name>`
    pub(super) fn create_token(&mut self) -> Result<TagStatement> {
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

    /// `DROP USER <name>`
    pub(super) fn drop_user(&mut self) -> Result<TagStatement> {
        self.pos += 2;
        Ok(TagStatement::DropUser {
            name: self.name("a user name")?,
        })
    }

    /// `GRANT <role> ON DATASET <dataset> TO <user>`
    pub(super) fn grant(&mut self) -> Result<TagStatement> {
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

    /// `REVOKE ALL ON DATASET <dataset> FROM <user>`
    pub(super) fn revoke(&mut self) -> Result<TagStatement> {
        self.pos += 1;
        self.eat_word("ALL");
        self.expect_word("ON")?;
        self.expect_word("DATASET")?;
        let dataset = self.name("a dataset name")?;
        self.expect_word("FROM")?;
        let user = self.name("a user name")?;
        Ok(TagStatement::Revoke { dataset, user })
    }

    /// `SET SESSION AUTHORIZATION <user>`
    pub(super) fn set_authorization(&mut self) -> Result<TagStatement> {
        self.pos += 1;
        self.expect_word("SESSION")?;
        self.expect_word("AUTHORIZATION")?;
        Ok(TagStatement::SetAuthorization {
            user: Some(self.name("a user name")?),
        })
    }

    /// `RESET SESSION AUTHORIZATION`
    pub(super) fn reset_authorization(&mut self) -> Result<TagStatement> {
        self.pos += 1;
        self.expect_word("SESSION")?;
        self.expect_word("AUTHORIZATION")?;
        Ok(TagStatement::SetAuthorization { user: None })
    }

    /// `USE [DATASET] <dataset>`
    pub(super) fn use_dataset(&mut self) -> Result<TagStatement> {
        self.pos += 1;
        self.eat_word("DATASET");
        Ok(TagStatement::Use {
            dataset: self.name("a dataset name")?,
        })
    }
}
