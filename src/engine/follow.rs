//! Following the command topic: the servers of one service id share one
//! command topic, and every server applies every command in the topic's
//! order, so that their catalogs and persistent queries agree.
//!
//! A server that accepts a statement validates it against its catalog,
//! appends it, and reads it back to learn its offset. When every command
//! before that offset has been applied here, the statement takes effect
//! at once (the catalog it was validated against is the one every other
//! server will apply it to). When another server's command landed in
//! between, the statement waits: it is applied in topic order like any
//! other server's command, and its caller gets the outcome of that, an
//! error when the earlier command conflicts with it (every server reaches
//! the same error, and the server that recorded it marks it void so that a
//! restart does not try it again).
//!
//! Two tasks per server: a reader that tails the topic from where the
//! start-up replay stopped, and an applier that applies what it read, one
//! command at a time under the engine's catalog lock. They are separate
//! so that a statement holding the lock can still learn its own offset.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};

use super::commands::{parse, Command, CommandLog, COMMAND_VERSION};
use super::{Engine, Outcome};
use crate::config::{Replay, Session};
use crate::error::{Error, Result};
use crate::runtime::io::TopicReader;
use crate::runtime::processing_log::LogEntry;

/// How long a statement waits to read its own command back.
const READ_BACK: Duration = Duration::from_secs(30);

/// What the reader and the applier share with the statements of this
/// server.
#[derive(Default)]
pub(crate) struct Following {
    state: std::sync::Mutex<FollowState>,
    /// Signalled whenever the state changes.
    changed: Notify,
}

#[derive(Default)]
struct FollowState {
    /// Commands read and not applied yet, by offset (or why one cannot be
    /// read).
    unapplied: BTreeMap<i64, std::result::Result<Command, String>>,
    /// Ids of the commands this server recorded and has not applied yet.
    own: HashSet<String>,
    /// The offsets at which the reader found them.
    seen: HashMap<String, i64>,
    /// Statements waiting for the applier to reach their command.
    waiters: HashMap<String, oneshot::Sender<Result<Outcome>>>,
    /// When the last poll that found the topic read to its end began.
    synced: Option<Instant>,
    /// Set when a command cannot be applied: nothing after it is.
    stopped: bool,
}

/// A statement recorded behind another server's command.
pub(crate) struct Queued {
    offset: i64,
    outcome: oneshot::Receiver<Result<Outcome>>,
}

impl Following {
    fn lock(&self) -> std::sync::MutexGuard<'_, FollowState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Notes a command this server is about to record.
    pub(crate) fn note_own(&self, id: &str) {
        self.lock().own.insert(id.to_string());
    }

    /// Forgets a command that could not be recorded.
    pub(crate) fn forget(&self, id: &str) {
        let mut st = self.lock();
        st.own.remove(id);
        st.seen.remove(id);
    }

    /// Waits until the reader found command `id`; its offset.
    async fn offset_of(&self, id: &str) -> Result<i64> {
        let deadline = tokio::time::Instant::now() + READ_BACK;
        loop {
            let notified = self.changed.notified();
            if let Some(&offset) = self.lock().seen.get(id) {
                return Ok(offset);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Error::external(format!(
                    "the statement was recorded in the command topic but not read back within \
                     {} s; it takes effect once this server reads it",
                    READ_BACK.as_secs()
                )));
            }
        }
    }

    /// Decides how command `id` at `offset` (recorded by this server, the
    /// catalog lock held) takes effect: `None` when nothing before it
    /// waits, so it applies at once; else the applier's outcome to wait
    /// for.
    fn claim(&self, id: &str, offset: i64) -> Result<Option<Queued>> {
        let mut st = self.lock();
        st.seen.remove(id);
        if st.stopped {
            return Err(Error::user(
                "This server stopped applying the command topic (a command it cannot apply); \
                 the statement was recorded and takes effect on the other servers",
            ));
        }
        if st.unapplied.range(..offset).next().is_none() {
            st.unapplied.remove(&offset);
            st.own.remove(id);
            return Ok(None);
        }
        let (tx, rx) = oneshot::channel();
        st.waiters.insert(id.to_string(), tx);
        Ok(Some(Queued {
            offset,
            outcome: rx,
        }))
    }

    /// Waits until the topic was read to its end after `since` and every
    /// command read was applied (at most `limit`).
    async fn caught_up(&self, since: Instant, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            {
                let st = self.lock();
                if st.unapplied.is_empty() && st.synced.is_some_and(|t| t >= since) {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }
}

impl Engine {
    /// Starts following the command topic from `next` (the offset after
    /// the commands replayed at start).
    pub(super) fn start_following(self: &Arc<Self>, next: i64) -> Result<()> {
        let (Some(log), Some(following)) = (&self.commands, &self.following) else {
            return Ok(());
        };
        let reader = self.broker.tail(log.topic(), 0, next)?;
        tokio::spawn(read_commands(
            Arc::downgrade(self),
            Arc::clone(following),
            reader,
        ));
        tokio::spawn(apply_commands(Arc::downgrade(self), Arc::clone(following)));
        Ok(())
    }

    /// Before a statement that changes the catalog is validated: waits
    /// (briefly) until the commands other servers recorded are applied.
    pub(super) async fn catch_up(&self) {
        let Some(following) = &self.following else {
            return;
        };
        // A poll that starts after this statement arrived and finds the
        // topic read to its end (the broker's end offset, asked then) has
        // seen every command recorded before it.
        following
            .caught_up(Instant::now(), Duration::from_secs(5))
            .await;
    }

    /// Appends `command` (the catalog lock held) and decides when it takes
    /// effect: `Ok(())` to apply it now; [`Error::Queued`] when it waits
    /// for the topic's order (see [`Engine::await_queued`]).
    pub(super) async fn append_command(
        &self,
        log: &CommandLog,
        mut command: Command,
    ) -> Result<()> {
        let Some(following) = &self.following else {
            return log.append(&command).await;
        };
        let id = uuid::Uuid::new_v4().to_string();
        command.id = Some(id.clone());
        following.note_own(&id);
        if let Err(e) = log.append(&command).await {
            following.forget(&id);
            return Err(e);
        }
        let offset = match following.offset_of(&id).await {
            Ok(o) => o,
            Err(e) => {
                // Applied by the applier when it is read, as this server's.
                return Err(e);
            }
        };
        match following.claim(&id, offset)? {
            None => Ok(()),
            Some(queued) => {
                if let Ok(mut q) = self.queued.lock() {
                    q.insert(id.clone(), queued);
                }
                Err(Error::Queued(id))
            }
        }
    }

    /// Waits for a statement recorded behind another server's command to
    /// be applied in topic order; its outcome. One that fails there is
    /// marked void in the topic.
    pub(super) async fn await_queued(&self, id: &str) -> Result<Outcome> {
        let queued = self.queued.lock().ok().and_then(|mut q| q.remove(id));
        let Some(queued) = queued else {
            return Err(Error::internal("a queued statement was lost"));
        };
        tracing::info!(
            offset = queued.offset,
            "the statement was recorded behind another server's command; it takes effect in \
             command-topic order"
        );
        let outcome = match queued.outcome.await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::internal(
                "the command applier stopped before it reached the statement",
            )),
        };
        if outcome.is_err() {
            if let Some(log) = &self.commands {
                let void = Command {
                    version: COMMAND_VERSION,
                    voids: Some(queued.offset),
                    ..Command::default()
                };
                if let Err(e) = log.append(&void).await {
                    tracing::warn!("cannot mark a failed command void: {e}");
                }
            }
        }
        outcome
    }

    /// Applies the first command read and not applied yet.
    async fn apply_next(&self, following: &Following) {
        let _ddl = self.ddl.lock().await;
        let next = {
            let st = following.lock();
            if st.stopped {
                return;
            }
            st.unapplied.first_key_value().map(|(&o, c)| (o, c.clone()))
        };
        let Some((offset, command)) = next else {
            return;
        };
        let topic = self
            .commands
            .as_ref()
            .map(|l| l.topic())
            .unwrap_or_default();
        let command = match command {
            Ok(c) => c,
            Err(why) => {
                let message = format!(
                    "the command at offset {offset} of '{topic}' cannot be applied ({why}); it \
                     and every later command were left out"
                );
                tracing::error!("{message}");
                if let Ok(mut d) = self.degraded.lock() {
                    *d = Some(message);
                }
                following.lock().stopped = true;
                following.changed.notify_waiters();
                return;
            }
        };
        let own = command
            .id
            .as_ref()
            .is_some_and(|id| following.lock().own.contains(id));
        let result = if command.statement.trim().is_empty() {
            // A void mark: nothing to apply.
            Ok(Outcome::Message {
                message: String::new(),
            })
        } else {
            let mut session = Session {
                properties: command.properties.clone(),
                variables: command.variables.clone().into_iter().collect(),
                replay: Some(Replay {
                    query_id: command.query_id.clone(),
                    start: true,
                    pin: command.pin.clone(),
                    own,
                    locked: true,
                }),
                partitions: None,
                authorization: None,
            };
            self.execute(&mut session, &command.statement)
                .await
                .and_then(|mut outcomes| {
                    outcomes
                        .pop()
                        .ok_or_else(|| Error::internal("a command without a statement"))
                })
        };
        match &result {
            Ok(_) => tracing::debug!(offset, "applied a command of '{topic}'"),
            Err(e) if !own => {
                // Every server reaches the same error; the server that
                // recorded the command answers it and marks it void.
                let message = format!(
                    "the command at offset {offset} of '{topic}' (recorded by another server) \
                     failed: {e}"
                );
                tracing::warn!("{message}");
                self.log.record(LogEntry {
                    query_id: command.query_id.clone().unwrap_or_default(),
                    kind: "command",
                    origin: None,
                    target: None,
                    message,
                    record: None,
                });
            }
            Err(e) => tracing::warn!(
                "the command at offset {offset} of '{topic}', recorded by this server, failed \
                 when its turn came: {e}"
            ),
        }
        let waiter = {
            let mut st = following.lock();
            st.unapplied.remove(&offset);
            match &command.id {
                Some(id) => {
                    st.own.remove(id);
                    st.seen.remove(id);
                    st.waiters.remove(id)
                }
                None => None,
            }
        };
        following.changed.notify_waiters();
        if let Some(tx) = waiter {
            let _ = tx.send(result);
        }
    }
}

/// Reads the command topic from where the start-up replay stopped.
async fn read_commands(
    engine: Weak<Engine>,
    following: Arc<Following>,
    mut reader: Box<dyn TopicReader>,
) {
    let mut errors = 0u32;
    loop {
        if engine.strong_count() == 0 {
            return;
        }
        let started = Instant::now();
        let batch = match reader.poll(256, Duration::from_millis(100)).await {
            Ok(b) => b,
            Err(e) => {
                errors += 1;
                if errors == 1 || errors.is_multiple_of(100) {
                    tracing::warn!("reading the command topic: {e}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        errors = 0;
        if batch.is_empty() {
            if reader.caught_up() {
                following.lock().synced = Some(started);
                following.changed.notify_waiters();
            }
            continue;
        }
        {
            let mut st = following.lock();
            for i in 0..batch.len() {
                let offset = batch.offsets[i];
                let command = match batch.values.get(i) {
                    None => Err("the record has no value".to_string()),
                    Some(v) => parse(v),
                };
                if let Ok(Command { id: Some(id), .. }) = &command {
                    if st.own.contains(id) {
                        st.seen.insert(id.clone(), offset);
                    }
                }
                st.unapplied.insert(offset, command);
            }
        }
        following.changed.notify_waiters();
    }
}

/// Applies the commands read, in order.
async fn apply_commands(engine: Weak<Engine>, following: Arc<Following>) {
    loop {
        let notified = following.changed.notified();
        let pending = {
            let st = following.lock();
            !st.stopped && !st.unapplied.is_empty()
        };
        if !pending {
            // Woken by the reader, or checking now and then that the
            // engine is still there.
            let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
            if engine.strong_count() == 0 {
                return;
            }
            continue;
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        engine.apply_next(&following).await;
    }
}
