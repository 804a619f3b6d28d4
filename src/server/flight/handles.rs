//! What a Flight ticket or prepared-statement handle carries: opaque to the client, JSON to
//! us, bound to the user it was issued to.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ParamValues;
use serde::{Deserialize, Serialize};

use super::super::errors::{Code, ServeError};
use super::super::lock;
use crate::engine::Answer;

/// The statement ticket of `GetFlightInfo` → `DoGet`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TicketHandle {
    /// A query, planned again when fetched.
    Query {
        user: String,
        dataset: String,
        sql: String,
    },
    /// The answer of a tag statement, run when its FlightInfo was asked for.
    Answer { user: String, id: String },
}

impl TicketHandle {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("ticket serialises")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ServeError> {
        serde_json::from_slice(bytes)
            .map_err(|_| ServeError::invalid("this ticket was not issued by this server"))
    }

    pub fn user(&self) -> &str {
        match self {
            Self::Query { user, .. } | Self::Answer { user, .. } => user,
        }
    }
}

/// A prepared statement.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub user: String,
    pub dataset: String,
    pub sql: String,
    /// A tag statement: run when executed, its answer's schema known only then.
    pub is_tag: bool,
    pub dataset_schema: SchemaRef,
    pub parameter_schema: SchemaRef,
    pub params: Option<ParamValues>,
}

/// Things kept between calls: prepared statements and answers waiting to be fetched.
#[derive(Default)]
pub struct Handles {
    prepared: Mutex<HashMap<String, Prepared>>,
    answers: Mutex<HashMap<String, (Instant, Answer)>>,
}

/// Prepared statements a server keeps at most (clients close theirs; this bounds leaks).
const MAX_PREPARED: usize = 10_000;
/// How long an unfetched answer is kept.
const ANSWER_TTL: Duration = Duration::from_secs(600);

impl Handles {
    pub fn add_prepared(&self, p: Prepared) -> Result<String, ServeError> {
        let mut map = lock(&self.prepared);
        if map.len() >= MAX_PREPARED {
            return Err(ServeError::new(
                Code::ResourceExhausted,
                format!("too many open prepared statements ({MAX_PREPARED}); close some"),
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        map.insert(id.clone(), p);
        Ok(id)
    }

    pub fn prepared(&self, handle: &[u8], user: &str) -> Result<Prepared, ServeError> {
        let id = std::str::from_utf8(handle).unwrap_or("");
        match lock(&self.prepared).get(id) {
            Some(p) if p.user == user => Ok(p.clone()),
            _ => Err(unknown_prepared()),
        }
    }

    pub fn bind(&self, handle: &[u8], user: &str, params: ParamValues) -> Result<(), ServeError> {
        let id = std::str::from_utf8(handle).unwrap_or("");
        match lock(&self.prepared).get_mut(id) {
            Some(p) if p.user == user => {
                p.params = Some(params);
                Ok(())
            }
            _ => Err(unknown_prepared()),
        }
    }

    pub fn close_prepared(&self, handle: &[u8], user: &str) {
        let id = std::str::from_utf8(handle).unwrap_or("");
        let mut map = lock(&self.prepared);
        if map.get(id).is_some_and(|p| p.user == user) {
            map.remove(id);
        }
    }

    pub fn add_answer(&self, answer: Answer) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut map = lock(&self.answers);
        map.retain(|_, (at, _)| at.elapsed() < ANSWER_TTL);
        map.insert(id.clone(), (Instant::now(), answer));
        id
    }

    pub fn take_answer(&self, id: &str) -> Result<Answer, ServeError> {
        lock(&self.answers)
            .remove(id)
            .map(|(_, a)| a)
            .ok_or_else(|| {
                ServeError::not_found(
                    "this statement's result was already fetched or has expired; run it again",
                )
            })
    }
}

fn unknown_prepared() -> ServeError {
    ServeError::not_found("unknown or closed prepared statement")
}
