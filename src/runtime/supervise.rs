//! Keeps a persistent query running through faults.
//!
//! A task that stops on an error of the outside world (the broker went
//! away, a write was not acknowledged, a commit failed) is built again
//! from its [`TaskPlan`] after a backoff: a new consumer resumes at the
//! committed offsets, new producers start clean, and the state is restored
//! from the changelog's last commit marker, exactly as after a restart of
//! the process. Nothing is lost: what was not committed is processed again.
//! Meanwhile the query shows the error and the next attempt. A panic, or
//! an error that is a bug in sluice, marks the query failed for good; the
//! server stays up.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use super::io::{Broker, ReaderSpec, Transaction};
use super::materialized::Materialized;
use super::pipeline::{EncodeStage, Pipeline};
use super::processing_log::ProcessingLog;
use super::task::{QuerySink, QueryStatus, QueryTask, StateSpec, TaskSettings};
use crate::error::{Error, Result};

/// The first wait before a failed task is built again; it doubles up to
/// [`MAX_BACKOFF`] while attempts keep failing.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// An attempt that ran this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// Where a persistent query's task writes.
pub struct SinkPlan {
    /// The output topic.
    pub topic: String,
    /// Rows to records.
    pub encode: EncodeStage,
    /// The materialized table the rows also go to.
    pub store: Option<Arc<Materialized>>,
}

/// Everything needed to build a persistent query's task, again and again.
pub struct TaskPlan {
    /// The broker.
    pub broker: Arc<dyn Broker>,
    /// What the task reads.
    pub reader: ReaderSpec,
    /// The compute, never run itself: each attempt forks it.
    pub pipeline: Mutex<Pipeline>,
    /// Where output goes.
    pub sink: SinkPlan,
    /// Failures.
    pub log: ProcessingLog,
    /// Batching and commits.
    pub settings: TaskSettings,
    /// Shared counters.
    pub status: Arc<QueryStatus>,
    /// For a query with state: its changelog topic and state fingerprint.
    pub state: Option<(String, u64)>,
    /// Exactly-once: the transactional id of the task's producer (the
    /// same on every attempt and restart, so that a new attempt fences the
    /// old one and aborts its open transaction).
    pub transactional_id: Option<String>,
}

impl TaskPlan {
    /// A fresh task: new consumer, producers and operators; the writers
    /// write in `txn` when given.
    pub fn build(&self, txn: Option<Arc<dyn Transaction>>) -> Result<QueryTask> {
        let writer = |topic: &str| match &txn {
            Some(t) => t.writer(topic),
            None => self.broker.writer(topic),
        };
        let pipeline = self
            .pipeline
            .lock()
            .map_err(|_| Error::internal("a query's plan is unusable after a panic"))?
            .fork()?;
        let mut sink = QuerySink::Topic {
            encode: self.sink.encode.clone(),
            writer: writer(&self.sink.topic)?,
            bytes: 0,
            report: Box::new(super::task::SinkReport {
                log: self.log.clone(),
                query_id: pipeline.query_id.clone(),
                topic: self.sink.topic.clone(),
            }),
        };
        if let Some(store) = &self.sink.store {
            sink = QuerySink::Materialize {
                store: Arc::clone(store),
                then: Some(Box::new(sink)),
            };
        }
        let state = match &self.state {
            None => None,
            Some((topic, fingerprint)) => Some(StateSpec {
                broker: Arc::clone(&self.broker),
                writer: writer(topic)?,
                topic: topic.clone(),
                fingerprint: *fingerprint,
            }),
        };
        let mut reader = self.broker.reader(&self.reader)?;
        reader.share_lag(Arc::clone(&self.status.lag));
        Ok(QueryTask {
            reader,
            pipeline,
            sink,
            log: self.log.clone(),
            settings: self.settings,
            status: Arc::clone(&self.status),
            state,
            txn,
        })
    }
}

/// Runs the task of `plan` until cancelled, building it again after each
/// failure of the outside world. Returns an error only for a failure that
/// retrying cannot fix (a bug, a panic).
pub async fn run_supervised(plan: TaskPlan, cancel: CancellationToken) -> Result<()> {
    let status = Arc::clone(&plan.status);
    let query = plan
        .pipeline
        .lock()
        .map(|p| p.query_id.clone())
        .unwrap_or_default();
    let mut backoff = FIRST_BACKOFF;
    let mut attempt: u64 = 0;
    let result = loop {
        attempt += 1;
        let started = Instant::now();
        let txn = match &plan.transactional_id {
            None => Ok(None),
            Some(id) => plan.broker.transaction(id).await.map(Some),
        };
        let built = txn.and_then(|txn| Ok((plan.build(txn.clone())?, txn)));
        let outcome = match built {
            Ok((task, txn)) => {
                let result = std::panic::AssertUnwindSafe(task.attempt(&cancel))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| {
                        Err(Error::internal(format!(
                            "the query's task panicked: {}",
                            panic_message(&panic)
                        )))
                    });
                if let (Err(_), Some(txn)) = (&result, txn) {
                    // What the attempt wrote since its last commit is
                    // dropped; the next attempt restores and rewinds.
                    if let Err(e) = txn.abort().await {
                        tracing::debug!(query = %query, "aborting the transaction: {e}");
                    }
                }
                result
            }
            Err(e) => Err(e),
        };
        let error = match outcome {
            Ok(()) => break Ok(()),
            Err(e) => e,
        };
        if !matches!(error, Error::External(_)) {
            tracing::error!(query = %query, "query failed: {error}");
            break Err(error);
        }
        if started.elapsed() >= HEALTHY_AFTER {
            backoff = FIRST_BACKOFF;
        }
        tracing::warn!(
            query = %query,
            attempt,
            retry_in_ms = backoff.as_millis() as u64,
            "query stopped, will retry: {error}"
        );
        status.set_error(Some(format!(
            "{error} (retrying in {:.1} s; attempt {attempt})",
            backoff.as_secs_f64()
        )));
        tokio::select! {
            _ = cancel.cancelled() => break Ok(()),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    };
    match &result {
        Ok(()) => status.set_error(None),
        Err(e) => status.set_error(Some(e.to_string())),
    }
    status
        .finished
        .store(true, std::sync::atomic::Ordering::SeqCst);
    result
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}
