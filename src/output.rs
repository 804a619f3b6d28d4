//! Printing answers as a table, CSV or JSON lines.

use std::io::Write;

use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::engine::Answer;
use crate::error::{AppError, Result};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A boxed table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row.
    Json,
}

/// Writes `answer` to `out` in `format`.
pub fn write(out: &mut dyn Write, answer: &Answer, format: Format) -> Result<()> {
    let io = |e| AppError::io("writing the answer", e);
    match format {
        Format::Table => {
            if answer.batches.iter().all(|b| b.num_rows() == 0) {
                let names: Vec<&str> = answer
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                writeln!(out, "(no rows; columns: {})", names.join(", ")).map_err(io)?;
            } else {
                writeln!(out, "{}", pretty_format_batches(&answer.batches)?).map_err(io)?;
                let n = answer.rows();
                writeln!(out, "{n} row{}", if n == 1 { "" } else { "s" }).map_err(io)?;
            }
        }
        Format::Csv => {
            let mut w = CsvWriterBuilder::new().with_header(true).build(&mut *out);
            for b in &answer.batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = LineDelimitedWriter::new(&mut *out);
            for b in &answer.batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}
