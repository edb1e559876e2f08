//! Writing a scenario's generated records into its input topic, through
//! the broker port ([`Broker::writer`]): as fast as possible, or paced at
//! a number of records per second of wall time, to watch results arrive.

use std::time::{Duration, Instant};

use super::Event;
use crate::error::{Error, Result};
use crate::format::Encoded;
use crate::runtime::io::{Broker, OutBatch};

/// Records per batch handed to the writer.
const BATCH: usize = 1000;

/// Creates `topic` with one partition when it does not exist yet (the
/// pipelines create their input topics; this lets the data come first).
pub async fn ensure_topic(broker: &dyn Broker, topic: &str) -> Result<()> {
    if broker.admin().describe_topic(topic).await?.is_some() {
        return Ok(());
    }
    broker.admin().create_topic(topic, 1, 1).await.map_err(|e| {
        Error::external(format!(
            "topic '{topic}' does not exist and could not be created ({e}); run the \
                 example's pipeline first, which creates it"
        ))
    })
}

/// Writes `events` to `topic`; `rate` is records per second of wall time,
/// 0 for as fast as possible. Returns once every record is acknowledged.
pub async fn write(broker: &dyn Broker, topic: &str, events: &[Event], rate: u64) -> Result<()> {
    let mut writer = broker.writer(topic)?;
    let begin = Instant::now();
    let mut next = 0;
    while next < events.len() {
        let due = if rate == 0 {
            events.len()
        } else {
            let elapsed = begin.elapsed().as_secs_f64();
            ((elapsed * rate as f64) as usize + 1).min(events.len())
        };
        if due <= next {
            let at = begin + Duration::from_secs_f64(next as f64 / rate as f64);
            tokio::time::sleep_until(at.into()).await;
            continue;
        }
        for chunk in events[next..due].chunks(BATCH) {
            writer.write(&batch(chunk)?).await?;
        }
        if rate > 0 {
            writer.flush().await?;
        }
        next = due;
    }
    writer.flush().await
}

/// The records of `events`: STRING keys (KAFKA format), JSON values, event
/// times as record times.
fn batch(events: &[Event]) -> Result<OutBatch> {
    let mut keys = empty(events.len());
    let mut values = empty(events.len());
    let mut timestamps = Vec::with_capacity(events.len());
    for e in events {
        push(&mut keys, e.key.as_bytes());
        let value = serde_json::to_vec(&e.value)
            .map_err(|err| Error::internal(format!("cannot encode an example record: {err}")))?;
        push(&mut values, &value);
        timestamps.push(e.time);
    }
    Ok(OutBatch {
        keys,
        values,
        timestamps,
        headers: None,
        partition: None,
    })
}

fn empty(rows: usize) -> Encoded {
    let mut e = Encoded {
        data: Vec::new(),
        offsets: Vec::with_capacity(rows + 1),
        nulls: Vec::with_capacity(rows),
    };
    e.offsets.push(0);
    e
}

fn push(e: &mut Encoded, payload: &[u8]) {
    e.data.extend_from_slice(payload);
    e.offsets.push(e.data.len());
    e.nulls.push(false);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runtime::io::{ReaderSpec, StartFrom};
    use crate::runtime::memory::MemoryBroker;

    #[tokio::test]
    async fn records_are_written_with_their_keys_values_and_times() {
        let log = MemoryBroker::new();
        let broker: Arc<dyn Broker> = Arc::new(Arc::clone(&log));
        let events = vec![
            Event {
                key: "k1".into(),
                value: serde_json::json!({"a": 1}),
                time: 1000,
            },
            Event {
                key: "k2".into(),
                value: serde_json::json!({"a": 2.5}),
                time: 2000,
            },
        ];
        ensure_topic(broker.as_ref(), "in").await.expect("topic");
        write(broker.as_ref(), "in", &events, 0)
            .await
            .expect("write");
        let mut reader = broker
            .reader(&ReaderSpec {
                topic: "in".into(),
                group_id: None,
                start: StartFrom::Earliest,
                with_headers: false,
                also: Vec::new(),
            })
            .expect("reader");
        let batch = reader
            .poll(10, Duration::from_millis(100))
            .await
            .expect("poll");
        assert_eq!(batch.timestamps, [1000, 2000]);
        assert_eq!(batch.keys.get(1), Some(&b"k2"[..]));
        assert_eq!(batch.values.get(0), Some(&br#"{"a":1}"#[..]));
    }
}
