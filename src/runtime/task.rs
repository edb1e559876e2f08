//! Runs a pipeline as a tokio task: reader → pipeline → sink, committing
//! source offsets only after the sink acknowledged everything derived from
//! them (at-least-once).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::io::{TopicReader, TopicWriter};
use super::materialized::Materialized;
use super::pipeline::{EncodeStage, Pipeline};
use super::processing_log::ProcessingLog;
use crate::error::{Error, Result};

/// How a query task batches and commits.
#[derive(Debug, Clone, Copy)]
pub struct TaskSettings {
    /// Most records per batch.
    pub max_batch: usize,
    /// How long a poll waits for records.
    pub poll_wait: Duration,
    /// How often offsets are committed (after a flush of the sink).
    pub commit_interval: Duration,
    /// Record caching off (`cache.max.bytes.buffering` = 0): stateful
    /// operators emit every update instead of one per key and window per
    /// commit interval.
    pub emit_every_update: bool,
}

impl Default for TaskSettings {
    fn default() -> Self {
        TaskSettings {
            max_batch: 4096,
            poll_wait: Duration::from_millis(50),
            commit_interval: Duration::from_millis(500),
            emit_every_update: false,
        }
    }
}

/// Live counters and state of a running query, shared with the engine.
#[derive(Debug, Default)]
pub struct QueryStatus {
    /// Records read.
    pub records_in: AtomicU64,
    /// Rows written.
    pub records_out: AtomicU64,
    /// True when the last poll found nothing new and every partition read.
    pub idle: AtomicBool,
    /// Set when the task stopped on an error.
    pub error: Mutex<Option<String>>,
    /// Set when the task has ended.
    pub finished: AtomicBool,
}

impl QueryStatus {
    /// The error that stopped the query, if any.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// Where a query's output goes.
pub enum QuerySink {
    /// Encoded and written to a topic.
    Topic {
        /// The encoder.
        encode: EncodeStage,
        /// The writer.
        writer: Box<dyn TopicWriter>,
    },
    /// Applied to a table's materialized state (for pull queries), then
    /// passed on to `then`: a TABLE sink's topic, or nothing for the
    /// internal query of a `CREATE SOURCE TABLE`.
    Materialize {
        /// The store.
        store: Arc<Materialized>,
        /// Where the rows go next.
        then: Option<Box<QuerySink>>,
    },
    /// Stateful operators' changelogs written beside `then`, flushed with
    /// it, so state and output commit together.
    Changelog {
        /// One per stateful operator.
        changelogs: Vec<super::changelog::ChangelogSink>,
        /// Where the rows go.
        then: Box<QuerySink>,
    },
    /// Sent to a caller (push queries), at most `limit` rows.
    Channel {
        /// The caller's end.
        sender: mpsc::Sender<RecordBatch>,
        /// Rows still allowed, when LIMIT was given.
        remaining: Option<u64>,
    },
}

/// What a sink said after a write.
enum SinkState {
    Open,
    /// No more rows wanted (LIMIT reached or the caller left).
    Done,
}

impl QuerySink {
    /// The changelog writers in this chain of sinks, if any.
    fn changelogs(&mut self) -> Option<&mut Vec<super::changelog::ChangelogSink>> {
        match self {
            QuerySink::Changelog { changelogs, .. } => Some(changelogs),
            QuerySink::Materialize {
                then: Some(next), ..
            } => next.changelogs(),
            _ => None,
        }
    }

    async fn write(&mut self, batches: Vec<RecordBatch>) -> Result<(SinkState, u64)> {
        let mut written = 0u64;
        match self {
            QuerySink::Topic { encode, writer } => {
                for b in batches {
                    let out = encode.encode(&b)?;
                    writer.write(&out)?;
                    written += out.len() as u64;
                }
                Ok((SinkState::Open, written))
            }
            QuerySink::Changelog { then, .. } => Box::pin(then.write(batches)).await,
            QuerySink::Materialize { store, then } => {
                for b in &batches {
                    store.apply(b)?;
                }
                match then {
                    Some(next) => Box::pin(next.write(batches)).await,
                    None => {
                        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
                        Ok((SinkState::Open, rows))
                    }
                }
            }
            QuerySink::Channel { sender, remaining } => {
                for mut b in batches {
                    if let Some(r) = remaining {
                        if (b.num_rows() as u64) >= *r {
                            b = b.slice(0, *r as usize);
                            *r = 0;
                        } else {
                            *r -= b.num_rows() as u64;
                        }
                    }
                    written += b.num_rows() as u64;
                    if b.num_rows() > 0 && sender.send(b).await.is_err() {
                        return Ok((SinkState::Done, written));
                    }
                    if *remaining == Some(0) {
                        return Ok((SinkState::Done, written));
                    }
                }
                if sender.is_closed() {
                    return Ok((SinkState::Done, written));
                }
                Ok((SinkState::Open, written))
            }
        }
    }

    async fn flush(&mut self) -> Result<()> {
        match self {
            QuerySink::Topic { writer, .. } => writer.flush().await,
            QuerySink::Channel { .. } => Ok(()),
            QuerySink::Changelog { changelogs, then } => {
                for c in changelogs.iter_mut() {
                    c.writer.flush().await?;
                }
                Box::pin(then.flush()).await
            }
            QuerySink::Materialize { then, .. } => match then {
                Some(next) => Box::pin(next.flush()).await,
                None => Ok(()),
            },
        }
    }
}

/// A query ready to run.
pub struct QueryTask {
    /// Where input comes from.
    pub reader: Box<dyn TopicReader>,
    /// The compute.
    pub pipeline: Pipeline,
    /// Where output goes.
    pub sink: QuerySink,
    /// Failures.
    pub log: ProcessingLog,
    /// Batching and commits.
    pub settings: TaskSettings,
    /// Shared counters.
    pub status: Arc<QueryStatus>,
}

impl QueryTask {
    /// Runs until cancelled, until the sink wants no more rows, or until an
    /// error. Always flushes and commits what was processed before returning.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<()> {
        let result = self.run_loop(&cancel).await;
        let status = Arc::clone(&self.status);
        if let Err(e) = &result {
            tracing::error!(query = %self.pipeline.query_id, "query stopped: {e}");
            if let Ok(mut slot) = status.error.lock() {
                *slot = Some(e.to_string());
            }
        }
        status.finished.store(true, Ordering::SeqCst);
        result
    }

    async fn run_loop(&mut self, cancel: &CancellationToken) -> Result<()> {
        let mut last_commit = Instant::now();
        let mut uncommitted = false;
        loop {
            let batch = tokio::select! {
                _ = cancel.cancelled() => break,
                b = self.reader.poll(self.settings.max_batch, self.settings.poll_wait) => b?,
            };
            if batch.is_empty() {
                self.status
                    .idle
                    .store(self.reader.caught_up() && !uncommitted, Ordering::SeqCst);
                if uncommitted {
                    self.commit().await?;
                    uncommitted = false;
                    last_commit = Instant::now();
                }
                if let QuerySink::Channel { sender, .. } = &self.sink {
                    if sender.is_closed() {
                        break;
                    }
                }
                continue;
            }
            for gap in &batch.gaps {
                self.log.record(crate::runtime::processing_log::LogEntry {
                    query_id: self.pipeline.query_id.clone(),
                    kind: "data-loss",
                    origin: Some(crate::runtime::processing_log::RecordOrigin {
                        topic: batch.topic.to_string(),
                        partition: gap.partition,
                        offset: gap.from,
                    }),
                    target: None,
                    message: format!(
                        "Records at offsets {}..={} of partition {} of topic '{}' were deleted \
                         by the broker (retention) before this query read them",
                        gap.from, gap.to, gap.partition, batch.topic
                    ),
                    record: None,
                });
            }
            self.status.idle.store(false, Ordering::SeqCst);
            self.status
                .records_in
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            let outputs = if self.settings.emit_every_update {
                self.pipeline.process_each(&batch, &self.log)?
            } else {
                self.pipeline.process(&batch, &self.log)?
            };
            self.write_changelogs()?;
            let (state, written) = self.sink.write(outputs).await?;
            self.status
                .records_out
                .fetch_add(written, Ordering::Relaxed);
            uncommitted = true;
            if matches!(state, SinkState::Done) {
                break;
            }
            if last_commit.elapsed() >= self.settings.commit_interval {
                self.commit().await?;
                uncommitted = false;
                last_commit = Instant::now();
            }
        }
        if uncommitted {
            self.commit().await?;
        }
        Ok(())
    }

    /// Writes the state changes the stateful operators collected.
    fn write_changelogs(&mut self) -> Result<()> {
        if let Some(changelogs) = self.sink.changelogs() {
            for c in changelogs.iter_mut() {
                if let Some(changes) = self
                    .pipeline
                    .operators
                    .get_mut(c.operator)
                    .and_then(|op| op.take_changelog())
                {
                    c.write(&changes)?;
                }
            }
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        // Updates held back by stateful operators go out before the commit
        // that covers the records they came from.
        let held = self.pipeline.flush(&self.log)?;
        self.write_changelogs()?;
        if !held.is_empty() {
            let (_, written) = self.sink.write(held).await?;
            self.status
                .records_out
                .fetch_add(written, Ordering::Relaxed);
        }
        self.sink
            .flush()
            .await
            .map_err(|e| e.context("writing the query's output failed"))?;
        self.reader.commit().await.map_err(|e| match e {
            Error::External(m) => Error::External(format!("committing offsets failed: {m}")),
            other => other,
        })
    }
}
