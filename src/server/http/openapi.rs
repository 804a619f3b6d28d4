//! The OpenAPI 3 document of the HTTP API, served at `/api/openapi.json`.

use axum::Json;
use axum::response::IntoResponse;
use serde_json::{Value, json};

pub async fn document() -> impl IntoResponse {
    Json(spec())
}

fn formats() -> Value {
    json!({
        "application/json": { "schema": { "$ref": "#/components/schemas/Result" } },
        "application/x-ndjson": { "schema": { "type": "string", "description": "one JSON object per row" } },
        "text/csv": { "schema": { "type": "string" } },
        "application/vnd.apache.arrow.stream": { "schema": { "type": "string", "format": "binary" } },
        "application/vnd.apache.parquet": { "schema": { "type": "string", "format": "binary" } }
    })
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn statement_body() -> Value {
    json!({
        "required": true,
        "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/Statement" } },
            "text/plain": { "schema": { "type": "string", "description": "the SQL text" } }
        }
    })
}

fn id_param() -> Value {
    json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }])
}

/// The document: the SQL routes below, and the lifecycle routes of [`super::lifecycle`].
pub fn spec() -> Value {
    let mut doc = sql_spec();
    if let Some(paths) = doc["paths"].as_object_mut() {
        paths.extend(super::lifecycle::openapi_paths());
    }
    doc
}

fn sql_spec() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "dyntag HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "SQL over the dyntag catalog: datasets, dt_<group>_* tables, tag statements. \
                Every route except /api/health needs 'Authorization: Bearer <token>' (the token `dyntag serve` printed, \
                or one from /api/login)."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Statement": {
                    "type": "object",
                    "required": ["sql"],
                    "properties": {
                        "sql": { "type": "string", "example": "SELECT tag_name, count(*) FROM dt_subjects_visual WHERE threshold_decision GROUP BY 1" },
                        "dataset": { "type": "string", "description": "the dataset to run in (default: the server's default dataset)" },
                        "history": { "type": "boolean", "description": "keep the statement in the caller's query history (GET /api/history)" }
                    }
                },
                "Result": {
                    "type": "object",
                    "properties": {
                        "columns": { "type": "array", "items": { "type": "object", "properties": {
                            "name": { "type": "string" }, "type": { "type": "string" } } } },
                        "rows": { "type": "array", "items": { "type": "object" } },
                        "row_count": { "type": "integer" },
                        "error": { "$ref": "#/components/schemas/Error", "description": "present when the query failed after rows were sent" }
                    }
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "code": { "type": "string", "enum": ["invalid_argument", "not_found", "already_exists", "conflict",
                            "failed_precondition", "resource_exhausted", "deadline_exceeded", "cancelled",
                            "unauthenticated", "permission_denied", "unimplemented", "internal"] },
                        "error": { "type": "string" }
                    }
                },
                "QueryStatus": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" },
                        "status": { "type": "string", "enum": ["running", "succeeded", "failed", "cancelled"] },
                        "sql": { "type": "string" },
                        "dataset": { "type": "string", "nullable": true },
                        "submitted_at_ms": { "type": "integer" },
                        "elapsed_ms": { "type": "integer" },
                        "rows": { "type": "integer" },
                        "bytes": { "type": "integer" },
                        "error": { "type": "object", "nullable": true },
                        "expires_in_s": { "type": "integer", "nullable": true }
                    }
                }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/api/health": { "get": { "summary": "Liveness", "security": [],
                "responses": { "200": { "description": "the server is up" } } } },
            "/api/login": { "post": {
                "summary": "Exchange basic credentials (header) or {user, password} (JSON body) for a session token",
                "security": [],
                "responses": { "200": { "description": "{user, token}" }, "401": error("wrong credentials") } } },
            "/api/sql": { "post": {
                "summary": "Run a statement; the answer streams in the format the Accept header asks for",
                "requestBody": statement_body(),
                "responses": {
                    "200": { "description": "the answer", "content": formats() },
                    "400": error("malformed statement, unknown table, tag or column"),
                    "401": error("missing or wrong token"),
                    "409": error("conflict with a concurrent change, or not allowed in the current state"),
                    "429": error("a limit was reached (memory, concurrent queries)"),
                    "504": error("the query ran longer than the server's limit")
                } } },
            "/api/queries": {
                "post": { "summary": "Submit a statement to run in the background", "requestBody": statement_body(),
                    "responses": { "202": { "description": "accepted", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/QueryStatus" } } } } } },
                "get": { "summary": "The caller's asynchronous queries, newest first",
                    "responses": { "200": { "description": "statuses" } } }
            },
            "/api/queries/{id}": {
                "parameters": id_param(),
                "get": { "summary": "Status of an asynchronous query",
                    "responses": { "200": { "description": "status", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/QueryStatus" } } } }, "404": error("unknown or expired") } },
                "delete": { "summary": "Cancel it (or drop its kept results)",
                    "responses": { "200": { "description": "status after cancelling" } } }
            },
            "/api/queries/{id}/results": {
                "parameters": id_param(),
                "get": { "summary": "Results of a finished query",
                    "responses": { "200": { "description": "the answer", "content": formats() },
                        "409": error("still running, or it failed (the error says why)") } }
            },
            "/api/running": { "get": { "summary": "Statements of the caller running now (Flight SQL and HTTP)",
                "responses": { "200": { "description": "{running: [...], cancelled_total}" } } } },
            "/api/history": { "get": { "summary": "The caller's query history, newest first (statements sent with \"history\": true)",
                "responses": { "200": { "description": "{rows: [{at, dataset, sql, outcome, elapsed_ms}]}" } } } }
        }
    })
}
