//! Progress reports of long work (imports, scoring jobs), to a terminal or a job table.

/// Progress of long work (embedding transcripts, writing files).
pub trait Progress: Send + Sync {
    /// A stage starts; `total` items if known.
    fn begin(&self, stage: &str, total: Option<u64>);
    /// `n` more items done.
    fn advance(&self, n: u64);
    /// The stage is done.
    fn end(&self);
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}
