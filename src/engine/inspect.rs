//! Read-only views of the engine for tools that drive it, such as the test
//! runner: a snapshot of the catalog, how far each persistent query has
//! read, and constant expressions evaluated as INSERT VALUES does.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::Schema;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::DFSchema;
use datafusion::sql::sqlparser::ast::Expr;

use super::Engine;
use crate::catalog::Catalog;
use crate::error::Result;

/// How far a persistent query has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryProgress {
    /// The query id.
    pub id: String,
    /// The topics it reads.
    pub topics: Vec<String>,
    /// Records it has read so far.
    pub records_in: u64,
    /// True when its last poll found nothing new and every partition read.
    pub idle: bool,
    /// True when it has stopped (terminated or failed).
    pub finished: bool,
}

/// A persistent query's counters, for metrics.
#[derive(Debug, Clone, Default)]
pub struct QueryMetrics {
    /// The query id.
    pub id: String,
    /// RUNNING or ERROR.
    pub state: &'static str,
    /// Records read from its input (the first stage's, for a query that
    /// re-keys), and their bytes.
    pub records_in: u64,
    /// See `records_in`.
    pub bytes_in: u64,
    /// Rows written to its output, and their bytes.
    pub records_out: u64,
    /// See `records_out`.
    pub bytes_out: u64,
    /// Records a windowed aggregation dropped as late.
    pub late_records: u64,
    /// Consumer lag of every stage: topic, partition, records.
    pub lag: Vec<(String, i32, i64)>,
    /// Rows and bytes of its materialized table, when it has one.
    pub store: Option<(usize, usize)>,
    /// Changelog records read to restore state, and the time it took.
    pub restored_records: u64,
    /// See `restored_records`.
    pub restore_seconds: f64,
    /// True when its state is restored and it processes.
    pub ready: bool,
    /// Commits, and the time they took in all.
    pub commits: u64,
    /// See `commits`.
    pub commit_seconds: f64,
}

impl Engine {
    /// The counters of every persistent query this server runs; with
    /// `store_sizes`, the size of each materialized table too (a scan of
    /// its rows: for metrics scrapes, not for health checks).
    pub async fn query_metrics(&self, store_sizes: bool) -> Vec<QueryMetrics> {
        let state = self.state.lock().await;
        let mut all: Vec<QueryMetrics> = state
            .queries
            .iter()
            .map(|(id, q)| {
                let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
                let first = q.statuses().next().unwrap_or(&q.status);
                let mut lag = Vec::new();
                for s in q.statuses() {
                    if let Ok(map) = s.lag.lock() {
                        lag.extend(map.iter().map(|((t, p), l)| (t.to_string(), *p, *l)));
                    }
                }
                QueryMetrics {
                    id: id.clone(),
                    state: if q.statuses().any(|s| s.error().is_some()) {
                        "ERROR"
                    } else {
                        "RUNNING"
                    },
                    records_in: load(&first.records_in),
                    bytes_in: load(&first.bytes_in),
                    records_out: load(&q.status.records_out),
                    bytes_out: load(&q.status.bytes_out),
                    late_records: q.late_records.as_deref().map_or(0, load),
                    lag,
                    store: q
                        .materialized
                        .as_ref()
                        .filter(|_| store_sizes)
                        .map(|m| m.size()),
                    restored_records: q.statuses().map(|s| load(&s.restored_records)).sum(),
                    restore_seconds: q
                        .statuses()
                        .map(|s| load(&s.restore_micros) as f64 / 1e6)
                        .sum(),
                    ready: q.statuses().all(|s| s.ready.load(Ordering::Relaxed)),
                    commits: q.statuses().map(|s| load(&s.commits)).sum(),
                    commit_seconds: q
                        .statuses()
                        .map(|s| load(&s.commit_micros) as f64 / 1e6)
                        .sum(),
                }
            })
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Processing-log entries by query and kind.
    pub fn processing_errors_by_kind(&self) -> Vec<(String, &'static str, u64)> {
        self.log.counts_by_kind()
    }

    /// A copy of the catalog as it is now.
    pub async fn catalog(&self) -> Catalog {
        self.state.lock().await.catalog.clone()
    }

    /// The progress of every persistent query.
    pub async fn query_progress(&self) -> Vec<QueryProgress> {
        let state = self.state.lock().await;
        state
            .queries
            .iter()
            .map(|(id, q)| {
                let topics = state
                    .catalog
                    .query(id)
                    .map(|info| {
                        info.sources
                            .iter()
                            .filter_map(|s| state.catalog.source(s).map(|s| s.topic.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                QueryProgress {
                    id: id.clone(),
                    topics,
                    records_in: q.status.records_in.load(Ordering::SeqCst),
                    idle: q.status.idle.load(Ordering::SeqCst),
                    finished: q.status.finished.load(Ordering::SeqCst),
                }
            })
            .collect()
    }

    /// True when every persistent query's state is restored (its tables
    /// answer pull queries).
    pub async fn all_ready(&self) -> bool {
        let state = self.state.lock().await;
        state
            .queries
            .values()
            .all(|q| q.statuses().all(|s| s.ready.load(Ordering::SeqCst)))
    }

    /// Changelog records and bytes read so far to restore state, and the
    /// wall time the restores took.
    pub async fn restored(&self) -> (u64, u64, std::time::Duration) {
        let state = self.state.lock().await;
        let (records, bytes, micros) =
            state
                .queries
                .values()
                .flat_map(|q| q.statuses())
                .fold((0, 0, 0), |(r, b, m), s| {
                    (
                        r + s.restored_records.load(Ordering::SeqCst),
                        b + s.restored_bytes.load(Ordering::SeqCst),
                        m + s.restore_micros.load(Ordering::SeqCst),
                    )
                });
        (records, bytes, std::time::Duration::from_micros(micros))
    }

    /// How many rows the materialized state of table `name` holds.
    pub async fn table_rows(&self, name: &str) -> Option<usize> {
        let state = self.state.lock().await;
        state
            .queries
            .values()
            .find_map(|q| q.materialized.as_ref().filter(|m| m.table() == name))
            .map(|m| m.len())
    }

    /// Evaluates an expression without columns (a literal, a function of
    /// literals), as `INSERT INTO … VALUES` does: one row.
    pub fn evaluate_constant(&self, expr: &Expr) -> Result<ArrayRef> {
        let empty = DFSchema::empty();
        let planned = crate::plan::expr::to_datafusion(&self.session_state, expr, &empty)?;
        let physical = self.session_state.create_physical_expr(planned, &empty)?;
        let one = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        Ok(physical.evaluate(&one)?.into_array(1)?)
    }
}
