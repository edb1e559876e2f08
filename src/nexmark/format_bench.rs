//! `sluice bench formats`: what a Schema Registry format costs, beside
//! JSON, on the same Nexmark bids.
//!
//! 1. Decode alone, on one core: the same bids as JSON payloads and as
//!    AVRO payloads (Confluent's framing), through sluice's decoders, and
//!    the AVRO payloads through arrow-avro's decoder — a baseline written
//!    by others for the same bytes.
//! 2. End to end through the embedded broker: a pass-through
//!    `CREATE STREAM … AS SELECT *` over a JSON topic and over an AVRO topic
//!    (its columns inferred from the registry), until every bid is read,
//!    written and committed.
//!
//! Figures are events per second of process CPU time, medians of the runs.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{Field, Schema, SchemaRef};

use super::baseline::raw_bids;
use super::generator::{Generator, GeneratorConfig};
use super::measure::{Meter, Usage};
use super::report;
use crate::config::Config;
use crate::engine::{Engine, Outcome};
use crate::error::{Error, Result};
use crate::format::{registry, Encoded, Format, FormatSpec, Part, SrSpec};
use crate::kafka::KafkaBroker;
use crate::runtime::io::{Broker, OutBatch, StartFrom};
use crate::sr::{RegistryRef, SchemaRegistry, Store};
use crate::types::SqlType;

/// `sluice bench formats` options.
#[derive(Debug, Clone)]
pub struct FormatBenchOptions {
    /// Nexmark events generated (the bids among them are measured).
    pub events: u64,
    /// Records per batch.
    pub batch: usize,
    /// Timed runs of each measurement.
    pub runs: usize,
}

const JSON_TOPIC: &str = "bench-formats-bid-json";
const AVRO_TOPIC: &str = "bench-formats-bid-avro";

fn bid_schema() -> SchemaRef {
    let columns = [
        ("AUCTION", SqlType::Bigint),
        ("BIDDER", SqlType::Bigint),
        ("PRICE", SqlType::Bigint),
        ("CHANNEL", SqlType::String),
        ("URL", SqlType::String),
        ("DATETIME", SqlType::Timestamp),
        ("EXTRA", SqlType::String),
    ];
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.to_arrow(), true))
            .collect::<Vec<_>>(),
    ))
}

fn slices(e: &Encoded) -> Vec<Option<&[u8]>> {
    (0..e.len()).map(|i| e.get(i)).collect()
}

fn median(mut v: Vec<Usage>) -> Usage {
    v.sort_by_key(|u| u.cpu);
    v[v.len() / 2]
}

fn per_core(events: u64, u: &Usage) -> f64 {
    events as f64 / u.cpu.as_secs_f64().max(1e-9)
}

/// Runs the benchmark and prints its figures.
pub async fn run(
    opts: FormatBenchOptions,
    kafka: Arc<KafkaBroker>,
    out: &mut dyn Write,
) -> Result<()> {
    let io = |e: std::io::Error| Error::internal(format!("cannot print the figures: {e}"));
    writeln!(out, "{}", report::machine()).map_err(io)?;
    let generator = Generator::new(GeneratorConfig::default());
    let json_batches = raw_bids(&generator, opts.events, opts.batch, JSON_TOPIC);
    let bids: u64 = json_batches.iter().map(|b| b.len() as u64).sum();
    let schema = bid_schema();
    let store = Arc::new(Store::new("in-process"));
    let registry = RegistryRef(Arc::clone(&store) as Arc<dyn SchemaRegistry>);
    let json = FormatSpec::new(Format::Json);
    let avro = FormatSpec {
        sr: Some(SrSpec {
            registry: registry.clone(),
            subject: crate::sr::subject(AVRO_TOPIC, false),
            schema_id: None,
            full_name: None,
            default_name: "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema".into(),
        }),
        ..FormatSpec::new(Format::Avro)
    };

    // The same bids as AVRO payloads, and as PROTOBUF and JSON_SR ones.
    let other = |format: Format| FormatSpec {
        format,
        sr: avro.sr.as_ref().map(|sr| SrSpec {
            subject: crate::sr::subject(&format!("bench-formats-bid-{format}"), false),
            default_name: "ConnectDefault1".into(),
            ..sr.clone()
        }),
        ..FormatSpec::new(format)
    };
    let protobuf = other(Format::Protobuf);
    let json_sr = other(Format::JsonSr);
    let json_decoder = registry::decoder(&json, Part::Value, Arc::clone(&schema))?;
    let encoders = [&avro, &protobuf, &json_sr]
        .map(|spec| registry::encoder(spec, Part::Value, Arc::clone(&schema)));
    let [avro_encoder, protobuf_encoder, json_sr_encoder] = encoders;
    let (avro_encoder, protobuf_encoder, json_sr_encoder) =
        (avro_encoder?, protobuf_encoder?, json_sr_encoder?);
    let mut avro_payloads = Vec::with_capacity(json_batches.len());
    let mut protobuf_payloads = Vec::with_capacity(json_batches.len());
    let mut json_sr_payloads = Vec::with_capacity(json_batches.len());
    for b in &json_batches {
        let decoded = json_decoder.decode(&slices(&b.values))?;
        avro_payloads.push(avro_encoder.encode(&decoded.columns)?);
        protobuf_payloads.push(protobuf_encoder.encode(&decoded.columns)?);
        json_sr_payloads.push(json_sr_encoder.encode(&decoded.columns)?);
    }
    let json_bytes: usize = json_batches.iter().map(|b| b.values.data.len()).sum();
    let mib = |p: &[Encoded]| p.iter().map(|e| e.data.len()).sum::<usize>() as f64 / 1048576.0;
    writeln!(
        out,
        "{bids} bids in batches of {}: {:.1} MiB as JSON, {:.1} MiB as AVRO, {:.1} MiB as \
         PROTOBUF, {:.1} MiB as JSON_SR",
        opts.batch,
        json_bytes as f64 / 1048576.0,
        mib(&avro_payloads),
        mib(&protobuf_payloads),
        mib(&json_sr_payloads),
    )
    .map_err(io)?;

    // 1. Decode alone.
    let avro_decoder = registry::decoder(&avro, Part::Value, Arc::clone(&schema))?;
    let json_inputs: Vec<Vec<Option<&[u8]>>> =
        json_batches.iter().map(|b| slices(&b.values)).collect();
    let avro_inputs: Vec<Vec<Option<&[u8]>>> = avro_payloads.iter().map(slices).collect();
    let protobuf_decoder = registry::decoder(&protobuf, Part::Value, Arc::clone(&schema))?;
    let protobuf_inputs: Vec<Vec<Option<&[u8]>>> = protobuf_payloads.iter().map(slices).collect();
    let json_sr_decoder = registry::decoder(&json_sr, Part::Value, Arc::clone(&schema))?;
    let json_sr_inputs: Vec<Vec<Option<&[u8]>>> = json_sr_payloads.iter().map(slices).collect();
    let latest = store
        .latest(&crate::sr::subject(AVRO_TOPIC, false))?
        .ok_or_else(|| Error::internal("the AVRO schema was not registered"))?;
    let mut figures: Vec<(&str, Vec<Usage>)> = vec![
        ("sluice JSON decoder", Vec::new()),
        ("sluice AVRO decoder", Vec::new()),
        ("arrow-avro decoder (baseline)", Vec::new()),
        ("sluice PROTOBUF decoder", Vec::new()),
        ("sluice JSON_SR decoder", Vec::new()),
    ];
    for _ in 0..opts.runs {
        for (i, (_, usages)) in figures.iter_mut().enumerate() {
            let meter = Meter::start();
            let rows = match i {
                0 => decode_all(json_decoder.as_ref(), &json_inputs)?,
                1 => decode_all(avro_decoder.as_ref(), &avro_inputs)?,
                2 => arrow_avro_decode(latest.id, &latest.schema.text, &avro_inputs, opts.batch)?,
                3 => decode_all(protobuf_decoder.as_ref(), &protobuf_inputs)?,
                _ => decode_all(json_sr_decoder.as_ref(), &json_sr_inputs)?,
            };
            usages.push(meter.stop());
            if rows != bids {
                return Err(Error::internal(format!("decoded {rows} of {bids} bids")));
            }
        }
    }
    writeln!(
        out,
        "\ndecode alone, one core (median of {} runs):",
        opts.runs
    )
    .map_err(io)?;
    let json_rate = per_core(bids, &median(figures[0].1.clone()));
    for (name, usages) in &figures {
        let m = median(usages.clone());
        let rate = per_core(bids, &m);
        writeln!(
            out,
            "  {name:<32} {:>7.2} M events/s/core  ({:.2}× the JSON decoder)",
            rate / 1e6,
            rate / json_rate
        )
        .map_err(io)?;
    }

    // 2. End to end through the broker.
    let broker: Arc<dyn Broker> = Arc::clone(&kafka) as Arc<dyn Broker>;
    let per_partition = 4 * 1024 * 1024;
    let partitions = |bytes: usize| ((bytes / per_partition) as i32 + 1).clamp(1, 64);
    for (topic, payloads) in [
        (
            JSON_TOPIC,
            json_batches.iter().map(|b| &b.values).collect::<Vec<_>>(),
        ),
        (AVRO_TOPIC, avro_payloads.iter().collect::<Vec<_>>()),
    ] {
        let bytes: usize = payloads.iter().map(|e| e.data.len()).sum();
        let count = partitions(bytes);
        if broker.admin().describe_topic(topic).await?.is_none() {
            broker.admin().create_topic(topic, count, 1).await?;
        }
        let mut writer = broker.writer(topic)?;
        // Batches go round the partitions: the embedded broker keeps only
        // the newest 5 MiB of each.
        for (i, (values, raw)) in payloads.iter().zip(&json_batches).enumerate() {
            let n = values.len();
            let batch = OutBatch {
                keys: Encoded {
                    data: Vec::new(),
                    offsets: vec![0; n + 1],
                    nulls: vec![true; n],
                },
                values: (*values).clone(),
                timestamps: raw.timestamps.clone(),
                headers: None,
                partition: Some(i as i32 % count),
            };
            writer.write(&batch).await?;
        }
        writer.flush().await?;
    }
    let config = Config {
        default_start: StartFrom::Earliest,
        schema_registry: Some(registry),
        ..Config::default()
    };
    let engine = Engine::new(Arc::clone(&broker), config).await?;
    let mut session = crate::config::Session::default();
    engine
        .execute(
            &mut session,
            &format!(
                "CREATE STREAM BID_JSON (AUCTION BIGINT, BIDDER BIGINT, PRICE BIGINT, \
                 CHANNEL STRING, URL STRING, DATETIME TIMESTAMP, EXTRA STRING) \
                 WITH (KAFKA_TOPIC='{JSON_TOPIC}', VALUE_FORMAT='JSON', TIMESTAMP='DATETIME');"
            ),
        )
        .await?;
    engine
        .execute(
            &mut session,
            &format!(
                "CREATE STREAM BID_AVRO WITH (KAFKA_TOPIC='{AVRO_TOPIC}', VALUE_FORMAT='AVRO', \
                 TIMESTAMP='DATETIME');"
            ),
        )
        .await?;
    writeln!(
        out,
        "\nend to end through the embedded broker at {}: CREATE STREAM … AS SELECT * \
         (median of {} runs):",
        broker.address(),
        opts.runs
    )
    .map_err(io)?;
    let mut e2e = Vec::new();
    for source in ["BID_JSON", "BID_AVRO"] {
        let mut usages = Vec::new();
        for run in 0..opts.runs {
            let sink = format!("OUT_{source}_{run}");
            let usage = pass_through(&engine, source, &sink, bids).await?;
            engine
                .execute(&mut session, &format!("DROP STREAM {sink};"))
                .await?;
            usages.push(usage);
        }
        e2e.push((source, median(usages)));
    }
    let base = per_core(bids, &e2e[0].1);
    for (source, m) in &e2e {
        let rate = per_core(bids, m);
        writeln!(
            out,
            "  {:<6} {:>7.2} M events/s/core  wall {:>6.2} s  ({:.2}× JSON)",
            if *source == "BID_JSON" {
                "JSON"
            } else {
                "AVRO"
            },
            rate / 1e6,
            m.wall.as_secs_f64(),
            rate / base
        )
        .map_err(io)?;
    }
    engine.shutdown().await;
    Ok(())
}

fn decode_all(decoder: &dyn crate::format::Decoder, inputs: &[Vec<Option<&[u8]>>]) -> Result<u64> {
    let mut rows = 0u64;
    for payloads in inputs {
        let decoded = decoder.decode(payloads)?;
        if let Some(e) = decoded.errors.first() {
            return Err(Error::internal(format!(
                "a bid did not decode: {}",
                e.reason
            )));
        }
        rows += decoded.columns.first().map(|c| c.len() as u64).unwrap_or(0);
    }
    Ok(rows)
}

fn arrow_avro_decode(
    id: i32,
    schema: &str,
    inputs: &[Vec<Option<&[u8]>>],
    batch: usize,
) -> Result<u64> {
    use arrow_avro::reader::ReaderBuilder;
    use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
    let fail = |e: &dyn std::fmt::Display| Error::internal(format!("arrow-avro: {e}"));
    let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
    let id = u32::try_from(id).map_err(|e| fail(&e))?;
    store
        .set(Fingerprint::Id(id), AvroSchema::new(schema.to_string()))
        .map_err(|e| fail(&e))?;
    let mut decoder = ReaderBuilder::new()
        .with_writer_schema_store(store)
        .with_batch_size(batch)
        .build_decoder()
        .map_err(|e| fail(&e))?;
    let mut rows = 0u64;
    for payloads in inputs {
        for p in payloads.iter().flatten() {
            let mut at = 0;
            while at < p.len() {
                if decoder.batch_is_full() {
                    if let Some(b) = decoder.flush().map_err(|e| fail(&e))? {
                        rows += b.num_rows() as u64;
                    }
                }
                let n = decoder.decode(&p[at..]).map_err(|e| fail(&e))?;
                if n == 0 {
                    return Err(fail(&"the decoder made no progress"));
                }
                at += n;
            }
        }
        if let Some(b) = decoder.flush().map_err(|e| fail(&e))? {
            rows += b.num_rows() as u64;
        }
    }
    Ok(rows)
}

/// Runs `CREATE STREAM sink AS SELECT * FROM source` until it has read
/// every bid and is idle; what that cost.
async fn pass_through(engine: &Arc<Engine>, source: &str, sink: &str, bids: u64) -> Result<Usage> {
    let mut session = crate::config::Session::default();
    let meter = Meter::start();
    let outcomes = engine
        .execute(
            &mut session,
            &format!("CREATE STREAM {sink} AS SELECT * FROM {source};"),
        )
        .await?;
    let Some(Outcome::QueryStarted { query_id, .. }) = outcomes.into_iter().last() else {
        return Err(Error::internal("the CSAS did not start a query"));
    };
    let status = {
        let state = engine.state.lock().await;
        state
            .queries
            .get(&query_id)
            .map(|q| Arc::clone(&q.status))
            .ok_or_else(|| Error::internal(format!("query {query_id} is not running")))?
    };
    let start = Instant::now();
    let deadline = Duration::from_secs(120 + bids / 5_000);
    loop {
        let read = status.records_in.load(Ordering::SeqCst);
        if read >= bids && status.idle.load(Ordering::SeqCst) {
            break;
        }
        if status.finished.load(Ordering::SeqCst) {
            return Err(Error::external(format!(
                "query {query_id} stopped after {read} of {bids} bids: {}",
                status.error().unwrap_or_default()
            )));
        }
        if start.elapsed() > deadline {
            return Err(Error::external(format!(
                "query {query_id} read only {read} of {bids} bids within {deadline:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(meter.stop())
}
