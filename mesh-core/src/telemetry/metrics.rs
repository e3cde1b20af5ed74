//! Request metrics (placeholder until the metrics layers land).

/// The mesh's request metrics.
#[derive(Debug, Default)]
pub struct Metrics {}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self {}
    }
}
