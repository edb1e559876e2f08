//! Push queries over one source share one reader.
//!
//! A push query that starts from the end of its source (the default,
//! `auto.offset.reset=latest`) and reads one source (no join) does not
//! open a Kafka consumer of its own: it subscribes to the source's
//! [`Feed`], which reads the topic once, decodes each batch once, and
//! hands the same decoded batch (Arrow arrays behind `Arc`s, not copied)
//! to every subscriber through a broadcast channel. Each subscriber runs
//! its own filter, projection and other operators on the batch in a task
//! of its own and sends its rows to its caller.
//!
//! The broadcast channel is bounded and never waits for a subscriber: a
//! caller that reads slower than records arrive first pauses its own task
//! (its row channel is full) and, once the feed is
//! `push_buffer` batches ahead of it, is dropped with a message. The
//! others never wait for it. The feed stops when its last subscriber
//! leaves.
//!
//! So the threads and the memory of a server no longer grow with its
//! push queries: one consumer per source, one task and one bounded row
//! channel per query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::decode::DecodeStage;
use super::io::Broker;
use super::pipeline::Pipeline;
use super::processing_log::ProcessingLog;
use super::task::{QuerySink, SinkState, TaskSettings};
use crate::error::{Error, Result};

/// Decoded batches a feed holds for its slowest subscriber before that
/// subscriber is dropped, by default ([`TaskSettings::push_buffer`]).
pub const FEED_CAPACITY: usize = 1024;

/// The feeds of one engine, by source.
pub struct Feeds {
    broker: Arc<dyn Broker>,
    settings: TaskSettings,
    log: ProcessingLog,
    open: Arc<Mutex<HashMap<FeedKey, Arc<Feed>>>>,
}

/// A source as declared now: a source dropped and declared again (maybe
/// with other columns or formats) gets a new feed.
#[derive(Clone, PartialEq, Eq, Hash)]
struct FeedKey {
    source: String,
    /// The address of the catalog's `Arc<Source>`, which the feed holds,
    /// so it is not reused while the feed lives.
    declared: usize,
}

/// One source read once for all its push queries.
struct Feed {
    sender: broadcast::Sender<RecordBatch>,
    /// Why the feed stopped, when it failed.
    error: Mutex<Option<String>>,
    /// Cancelled when the feed stops.
    stopped: CancellationToken,
    /// Woken when a subscriber leaves, so the feed stops at once when it
    /// was the last.
    left: tokio::sync::Notify,
    /// The reading task.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    _declared: Arc<crate::catalog::Source>,
}

/// A push query's end of a feed.
pub struct Subscription {
    receiver: broadcast::Receiver<RecordBatch>,
    feed: Arc<Feed>,
}

type Registry = Arc<Mutex<HashMap<FeedKey, Arc<Feed>>>>;

impl Feeds {
    /// Feeds reading through `broker`, batching as `settings` say; records
    /// that cannot be decoded go to `log`.
    pub fn new(broker: Arc<dyn Broker>, settings: TaskSettings, log: ProcessingLog) -> Feeds {
        Feeds {
            broker,
            settings,
            log,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Subscribes to the feed of `source`, starting it (a reader of its
    /// topic from the end, decoding with `decode`) when none runs. The
    /// subscription sees the batches read after this call (a running feed
    /// may hand it records fetched a moment before).
    pub async fn subscribe(
        &self,
        source: &Arc<crate::catalog::Source>,
        with_headers: bool,
        decode: &DecodeStage,
    ) -> Result<Subscription> {
        let key = FeedKey {
            source: source.name.clone(),
            declared: Arc::as_ptr(source) as usize,
        };
        if let Some(subscription) = self.join(&key)? {
            return Ok(subscription);
        }
        // Positioned before the caller hears the query started: what is
        // written after that is in its answer.
        let reader = self
            .broker
            .reader_from_now(&source.topic, with_headers)
            .await?;
        let mut open = lock(&self.open)?;
        // Another query may have started the feed meanwhile.
        if let Some(feed) = open.get(&key).filter(|f| !f.stopped.is_cancelled()) {
            return Ok(Subscription {
                receiver: feed.sender.subscribe(),
                feed: Arc::clone(feed),
            });
        }
        let (sender, receiver) = broadcast::channel(self.settings.push_buffer.max(1));
        let feed = Arc::new(Feed {
            sender,
            error: Mutex::new(None),
            stopped: CancellationToken::new(),
            left: tokio::sync::Notify::new(),
            task: Mutex::new(None),
            _declared: Arc::clone(source),
        });
        open.insert(key.clone(), Arc::clone(&feed));
        drop(open);
        let mut decode = decode.clone();
        decode.query_id = format!("feed_{}", source.name);
        let task = tokio::spawn(read_feed(
            reader,
            decode,
            Arc::clone(&feed),
            self.settings,
            self.log.clone(),
            (Arc::clone(&self.open), key),
        ));
        if let Ok(mut slot) = feed.task.lock() {
            *slot = Some(task);
        }
        Ok(Subscription { receiver, feed })
    }

    /// A subscription to the running feed of `key`, if any.
    fn join(&self, key: &FeedKey) -> Result<Option<Subscription>> {
        let open = lock(&self.open)?;
        Ok(open
            .get(key)
            .filter(|f| !f.stopped.is_cancelled())
            .map(|feed| Subscription {
                receiver: feed.sender.subscribe(),
                feed: Arc::clone(feed),
            }))
    }

    /// Sources with a running feed, and the subscribers of each.
    pub fn running(&self) -> Vec<(String, usize)> {
        lock(&self.open)
            .map(|open| {
                open.iter()
                    .map(|(k, f)| (k.source.clone(), f.sender.receiver_count()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops every feed (the engine is shutting down), without waiting.
    pub fn close(&self) {
        if let Ok(open) = lock(&self.open) {
            for feed in open.values() {
                feed.stopped.cancel();
            }
        }
    }

    /// Stops every feed and waits until their readers are gone.
    pub async fn shut_down(&self) {
        let tasks: Vec<_> = match lock(&self.open) {
            Ok(open) => open
                .values()
                .filter_map(|feed| {
                    feed.stopped.cancel();
                    feed.task.lock().ok()?.take()
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for task in tasks {
            let _ = task.await;
        }
    }
}

fn lock(registry: &Registry) -> Result<std::sync::MutexGuard<'_, HashMap<FeedKey, Arc<Feed>>>> {
    registry
        .lock()
        .map_err(|_| Error::internal("the push query feeds are poisoned"))
}

/// Reads and decodes the source for the feed's subscribers until the last
/// one leaves or reading fails; then takes the feed out of the registry.
async fn read_feed(
    mut reader: Box<dyn super::io::TopicReader>,
    decode: DecodeStage,
    feed: Arc<Feed>,
    settings: TaskSettings,
    log: ProcessingLog,
    (registry, key): (Registry, FeedKey),
) {
    let outcome: Result<()> = async {
        loop {
            if feed.sender.receiver_count() == 0 {
                // Subscribing happens under the registry's lock: with it
                // held, no subscriber can come between the check and the
                // removal.
                let mut open = lock(&registry)?;
                if feed.sender.receiver_count() == 0 {
                    feed.stopped.cancel();
                    open.remove(&key);
                    return Ok(());
                }
            }
            let raw = tokio::select! {
                _ = feed.stopped.cancelled() => return Ok(()),
                _ = feed.left.notified() => continue,
                r = reader.poll(settings.max_batch, settings.poll_wait) => r?,
            };
            if raw.is_empty() {
                continue;
            }
            let batch = decode.decode(&raw, &log)?;
            if batch.num_rows() > 0 {
                // With no receiver left, the check above ends the feed.
                let _ = feed.sender.send(batch);
            }
        }
    }
    .await;
    if let Err(e) = outcome {
        tracing::error!(source = %key.source, "the push query feed stopped: {e}");
        if let Ok(mut slot) = feed.error.lock() {
            *slot = Some(e.to_string());
        }
    }
    if let Ok(mut open) = lock(&registry) {
        feed.stopped.cancel();
        if open.get(&key).is_some_and(|f| Arc::ptr_eq(f, &feed)) {
            open.remove(&key);
        }
    }
}

impl Subscription {
    /// Runs a push query over the feed: `pipeline`'s operators (its decode
    /// stage is the feed's) on each batch, rows into `sink` (a
    /// [`QuerySink::Channel`]), until cancelled, the caller leaves, LIMIT
    /// is reached, or the caller falls `push_buffer` batches behind.
    pub async fn run(
        mut self,
        mut pipeline: Pipeline,
        mut sink: QuerySink,
        settings: TaskSettings,
        log: ProcessingLog,
        cancel: CancellationToken,
    ) -> Result<()> {
        let QuerySink::Channel { sender, .. } = &sink else {
            return Err(Error::internal("a feed's subscriber writes to a channel"));
        };
        let caller = sender.clone();
        let stopped = self.feed.stopped.clone();
        let mut last_flush = Instant::now();
        loop {
            let batch = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = caller.closed() => return Ok(()),
                b = self.receiver.recv() => b,
                _ = stopped.cancelled() => {
                    let error = self.feed.error.lock().ok().and_then(|e| e.clone());
                    return match error {
                        Some(e) => Err(Error::external(format!(
                            "reading the push query's source failed: {e}"
                        ))),
                        None => Ok(()),
                    };
                }
            };
            let batch = match batch {
                Ok(b) => b,
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    return Err(Error::user(format!(
                        "This push query's client reads slower than records arrive: it fell \
                         {} batches behind and {skipped} batches were skipped, so the \
                         query was stopped. Read faster or narrow the query with WHERE.",
                        settings.push_buffer
                    )));
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            };
            let mut outputs = if settings.emit_every_update {
                pipeline.process_each_decoded(batch, &log)?
            } else {
                pipeline.process_decoded(batch, &log)?
            };
            // Held updates go out when the feed has nothing more queued,
            // or every commit interval under steady input.
            if !settings.emit_every_update
                && (self.receiver.is_empty() || last_flush.elapsed() >= settings.commit_interval)
            {
                outputs.extend(pipeline.flush(&log)?);
                last_flush = Instant::now();
            }
            if outputs.is_empty() {
                continue;
            }
            let (state, _) = sink.write(outputs, None, -1).await?;
            if matches!(state, SinkState::Done) {
                return Ok(());
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // The feed looks at once whether this was its last subscriber.
        self.feed.left.notify_one();
    }
}
