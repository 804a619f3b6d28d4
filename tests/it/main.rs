//! Integration tests: the real engine, the real models through ONNX Runtime, real files in
//! a temporary data folder, and the real `dyntag` binary where a process is needed.

#[path = "../common/mod.rs"]
mod common;

mod budget;
mod cli;
mod clients;
mod cluster;
mod compact;
mod concurrency;
mod console;
mod crash;
mod e2e_topics;
mod error_kinds;
mod export;
mod fuzz;
mod import_errors;
mod lifecycle;
mod media;
mod object_store;
mod search_index;
mod security;
mod serve;
mod suggest;
mod util;
