//! `sluice bench join`: the join operator alone, in-process, over
//! already-decoded Arrow batches (no Kafka, no JSON), beside DataFusion's
//! batch hash join over the same batches in the same run.
//!
//! Three joins of Nexmark data (persons, auctions and bids from
//! [`super::generator`], read into Arrow batches before anything is
//! timed):
//!
//! - **stream-table**: bids ⋈ auctions on the auction id (INNER); the
//!   auction table is loaded first, then the bids are streamed;
//! - **table-table** (q3's join): auctions ⋈ persons on the seller, as a
//!   foreign-key join — auctions the left table (primary key the auction
//!   id), persons the right (primary key the person id);
//! - **stream-stream** (q8's join): new persons ⋈ new auctions on the
//!   seller `WITHIN 10 SECONDS GRACE PERIOD 0`, at `--events` and at four
//!   times that, with the rows the operator holds: the state stays flat
//!   as the input grows, because records older than the window expire.
//!
//! Each input is fed in batches of `--batch` rows. Where both inputs flow
//! together (table-table, stream-stream) the next `--batch` rows of the
//! event stream are split into a batch per side, left first, so both
//! sides advance together in event time as they would from Kafka.
//!
//! A first, untimed run of each join checks sluice's output against
//! DataFusion's: the row count and an order-independent checksum of the
//! ids in each row. Then `--runs` timed runs of each; medians are printed.
//! Events per second per core are input rows over process CPU time;
//! DataFusion runs with one partition, so both run on one core. A
//! mismatch is printed as an error and the command fails.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde_json::Value;

use super::generator::{EventKind, Generator, GeneratorConfig};
use super::measure::{Meter, Usage};
use super::report::{machine, thousands};
use crate::error::{Error, Result};
use crate::runtime::operators::join::{Join, JoinKind, JoinSpec, JoinType, SideLayout};
use crate::runtime::operators::{Operator, OperatorContext};
use crate::runtime::processing_log::ProcessingLog;

/// The stream-stream window: 10 seconds before and after (q8's).
const WINDOW_MS: i64 = 10_000;
/// The stream-stream join also runs at this many times `--events`.
const GROWTH: usize = 4;

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct JoinBenchOptions {
    /// Input rows of each join: bids (stream-table), persons and auctions
    /// (table-table, stream-stream).
    pub events: usize,
    /// Rows per input batch.
    pub batch: usize,
    /// Timed runs of each join.
    pub runs: usize,
    /// The generator's seed.
    pub seed: u64,
    /// Events (all kinds) per second of event time.
    pub event_rate: u64,
}

struct Person {
    id: i64,
    name: String,
    city: String,
    state: String,
    ts: i64,
}

struct Auction {
    id: i64,
    seller: i64,
    category: i64,
    expires: i64,
    ts: i64,
}

struct Bid {
    auction: i64,
    bidder: i64,
    price: i64,
    ts: i64,
}

enum Event {
    Person(Person),
    Auction(Auction),
    Bid(Bid),
}

impl Event {
    fn ts(&self) -> i64 {
        match self {
            Event::Person(p) => p.ts,
            Event::Auction(a) => a.ts,
            Event::Bid(b) => b.ts,
        }
    }
}

/// Event `n`, generated as JSON and read back.
fn event(generator: &Generator, n: u64, buf: &mut Vec<u8>) -> Result<Event> {
    buf.clear();
    let info = generator.write_event(n, false, buf);
    let v: Value = serde_json::from_slice(buf)
        .map_err(|e| Error::internal(format!("generated event {n} is not JSON: {e}")))?;
    let missing = |field: &str| Error::internal(format!("generated event {n} has no '{field}'"));
    let int = |field: &str| {
        v.get(field)
            .and_then(Value::as_i64)
            .ok_or_else(|| missing(field))
    };
    let text = |field: &str| {
        v.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| missing(field))
    };
    let ts = info.timestamp;
    Ok(match info.kind {
        EventKind::Person => Event::Person(Person {
            id: int("id")?,
            name: text("name")?,
            city: text("city")?,
            state: text("state")?,
            ts,
        }),
        EventKind::Auction => Event::Auction(Auction {
            id: int("id")?,
            seller: int("seller")?,
            category: int("category")?,
            expires: int("expires")?,
            ts,
        }),
        EventKind::Bid => Event::Bid(Bid {
            auction: int("auction")?,
            bidder: int("bidder")?,
            price: int("price")?,
            ts,
        }),
    })
}

/// The first `bids` bids of the event stream and the auctions opened
/// meanwhile.
fn bids_and_auctions(generator: &Generator, bids: usize) -> Result<(Vec<Auction>, Vec<Bid>)> {
    let (mut auctions, mut out) = (Vec::new(), Vec::with_capacity(bids));
    let mut buf = Vec::new();
    let mut n = 0;
    while out.len() < bids {
        if EventKind::of(n) != EventKind::Person {
            match event(generator, n, &mut buf)? {
                Event::Auction(a) => auctions.push(a),
                Event::Bid(b) => out.push(b),
                Event::Person(_) => {}
            }
        }
        n += 1;
    }
    Ok((auctions, out))
}

/// The first `rows` persons and auctions of the event stream, in order.
fn persons_and_auctions(generator: &Generator, rows: usize) -> Result<Vec<Event>> {
    let mut out = Vec::with_capacity(rows);
    let mut buf = Vec::new();
    let mut n = 0;
    while out.len() < rows {
        if EventKind::of(n) != EventKind::Bid {
            out.push(event(generator, n, &mut buf)?);
        }
        n += 1;
    }
    Ok(out)
}

fn field(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

/// A join input's schema as the planner lays it out: the row's columns,
/// then the join key, the event time and the null-row flag.
fn input_schema(columns: &[(&str, DataType)]) -> SchemaRef {
    let mut fields: Vec<Field> = columns.iter().map(|(n, t)| field(n, t.clone())).collect();
    fields.push(field("k", DataType::Int64));
    fields.push(field("ts", DataType::Int64));
    fields.push(field("tombstone", DataType::Boolean));
    Arc::new(Schema::new(fields))
}

fn person_schema() -> SchemaRef {
    input_schema(&[
        ("id", DataType::Int64),
        ("name", DataType::Utf8),
        ("city", DataType::Utf8),
        ("state", DataType::Utf8),
    ])
}

fn auction_schema() -> SchemaRef {
    input_schema(&[
        ("id", DataType::Int64),
        ("seller", DataType::Int64),
        ("category", DataType::Int64),
        ("expires", DataType::Int64),
    ])
}

fn bid_schema() -> SchemaRef {
    input_schema(&[
        ("auction", DataType::Int64),
        ("bidder", DataType::Int64),
        ("price", DataType::Int64),
    ])
}

fn ints<T>(rows: &[&T], value: impl Fn(&T) -> i64) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| value(r))))
}

fn texts<T>(rows: &[&T], value: impl Fn(&T) -> &str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| value(r))))
}

fn no_tombstones(rows: usize) -> ArrayRef {
    Arc::new(BooleanArray::from(vec![false; rows]))
}

fn person_batch(schema: &SchemaRef, rows: &[&Person]) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            ints(rows, |p| p.id),
            texts(rows, |p| &p.name),
            texts(rows, |p| &p.city),
            texts(rows, |p| &p.state),
            ints(rows, |p| p.id),
            ints(rows, |p| p.ts),
            no_tombstones(rows.len()),
        ],
    )?)
}

/// What auctions are joined on.
#[derive(Debug, Clone, Copy)]
enum AuctionKey {
    Id,
    Seller,
}

fn auction_batch(schema: &SchemaRef, rows: &[&Auction], key: AuctionKey) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            ints(rows, |a| a.id),
            ints(rows, |a| a.seller),
            ints(rows, |a| a.category),
            ints(rows, |a| a.expires),
            match key {
                AuctionKey::Id => ints(rows, |a| a.id),
                AuctionKey::Seller => ints(rows, |a| a.seller),
            },
            ints(rows, |a| a.ts),
            no_tombstones(rows.len()),
        ],
    )?)
}

fn bid_batch(schema: &SchemaRef, rows: &[&Bid]) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            ints(rows, |b| b.auction),
            ints(rows, |b| b.bidder),
            ints(rows, |b| b.price),
            ints(rows, |b| b.auction),
            ints(rows, |b| b.ts),
            no_tombstones(rows.len()),
        ],
    )?)
}

/// `items` in batches of `batch` rows.
fn batches<T>(
    items: &[T],
    batch: usize,
    build: impl Fn(&[&T]) -> Result<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    items
        .chunks(batch)
        .map(|c| build(&c.iter().collect::<Vec<_>>()))
        .collect()
}

/// A batch for one input of the join.
enum Input {
    Left(RecordBatch),
    Right(RecordBatch),
}

/// Persons and auctions as both inputs of a join see them.
struct Interleaved {
    /// The batches in the order they are fed.
    inputs: Vec<Input>,
    persons: Vec<RecordBatch>,
    auctions: Vec<RecordBatch>,
    /// The most event time one round of batches spans (ms).
    span_ms: i64,
}

/// Cuts `events` (persons and auctions) into rounds of `batch` rows, each
/// split into a batch per side, the left side's first.
fn interleave(
    events: &[Event],
    batch: usize,
    persons_left: bool,
    key: AuctionKey,
) -> Result<Interleaved> {
    let (p_schema, a_schema) = (person_schema(), auction_schema());
    let mut fed = Interleaved {
        inputs: Vec::new(),
        persons: Vec::new(),
        auctions: Vec::new(),
        span_ms: 0,
    };
    for round in events.chunks(batch) {
        if let (Some(first), Some(last)) = (round.first(), round.last()) {
            fed.span_ms = fed.span_ms.max(last.ts() - first.ts());
        }
        let persons: Vec<&Person> = round
            .iter()
            .filter_map(|e| match e {
                Event::Person(p) => Some(p),
                _ => None,
            })
            .collect();
        let auctions: Vec<&Auction> = round
            .iter()
            .filter_map(|e| match e {
                Event::Auction(a) => Some(a),
                _ => None,
            })
            .collect();
        let p = match persons.is_empty() {
            true => None,
            false => Some(person_batch(&p_schema, &persons)?),
        };
        let a = match auctions.is_empty() {
            true => None,
            false => Some(auction_batch(&a_schema, &auctions, key)?),
        };
        fed.persons.extend(p.clone());
        fed.auctions.extend(a.clone());
        if persons_left {
            fed.inputs.extend(p.map(Input::Left));
            fed.inputs.extend(a.map(Input::Right));
        } else {
            fed.inputs.extend(a.map(Input::Left));
            fed.inputs.extend(p.map(Input::Right));
        }
    }
    Ok(fed)
}

/// A join's plan as the planner gives it: each side's key, time and
/// null-row flag are its last three columns; INNER.
fn spec(kind: JoinKind, left: &SchemaRef, right: &SchemaRef, primary_key: Vec<usize>) -> JoinSpec {
    let layout = |schema: &SchemaRef, primary_key: Vec<usize>| {
        let n = schema.fields().len();
        SideLayout {
            schema: Arc::clone(schema),
            key: vec![n - 3],
            primary_key,
            time: n - 2,
            null_row: n - 1,
        }
    };
    let mut fields = Vec::new();
    for (tag, schema) in [("l_", left), ("r_", right)] {
        for f in schema.fields() {
            fields.push(field(&format!("{tag}{}", f.name()), f.data_type().clone()));
        }
    }
    // The join key, or the left's primary key: BIGINT either way here.
    fields.push(field("$key0", DataType::Int64));
    fields.push(field("$time", DataType::Int64));
    fields.push(field("$null", DataType::Boolean));
    fields.push(field("$right", DataType::Boolean));
    JoinSpec {
        kind,
        join_type: JoinType::Inner,
        left: layout(left, primary_key),
        right: layout(right, Vec::new()),
        output: Arc::new(Schema::new(fields)),
    }
}

/// One join to measure.
struct Case {
    spec: JoinSpec,
    /// Fed first and timed apart: the table of a stream-table join.
    load: Vec<Input>,
    /// Fed after: what the join is measured on.
    stream: Vec<Input>,
    /// The tables DataFusion reads: the same batches.
    tables: Vec<(&'static str, SchemaRef, Vec<RecordBatch>)>,
    /// DataFusion's equivalent, `SELECT *`: its columns are where the
    /// join's left and right columns are.
    sql: String,
    /// The BIGINT output columns that identify a result row.
    identity: Vec<usize>,
    /// Event time the input spans (ms).
    span_ms: i64,
}

impl Case {
    fn rows(inputs: &[Input]) -> u64 {
        inputs
            .iter()
            .map(|i| match i {
                Input::Left(b) | Input::Right(b) => b.num_rows() as u64,
            })
            .sum()
    }
}

fn stream_table(generator: &Generator, opts: &JoinBenchOptions) -> Result<Case> {
    let (auctions, bids) = bids_and_auctions(generator, opts.events)?;
    let (a_schema, b_schema) = (auction_schema(), bid_schema());
    let auction_batches = batches(&auctions, opts.batch, |c| {
        auction_batch(&a_schema, c, AuctionKey::Id)
    })?;
    let bid_batches = batches(&bids, opts.batch, |c| bid_batch(&b_schema, c))?;
    let span_ms = match (bids.first(), bids.last()) {
        (Some(f), Some(l)) => l.ts - f.ts,
        _ => 0,
    };
    Ok(Case {
        spec: spec(JoinKind::StreamTable, &b_schema, &a_schema, Vec::new()),
        load: auction_batches.iter().cloned().map(Input::Right).collect(),
        stream: bid_batches.iter().cloned().map(Input::Left).collect(),
        tables: vec![
            ("bids", b_schema, bid_batches),
            ("auctions", a_schema, auction_batches),
        ],
        sql: "SELECT * FROM bids b JOIN auctions a ON b.auction = a.id".to_string(),
        // The bid's auction, bidder, price and time; the auction's id.
        identity: vec![0, 1, 2, 4, 6],
        span_ms,
    })
}

fn span(events: &[Event]) -> i64 {
    match (events.first(), events.last()) {
        (Some(f), Some(l)) => l.ts() - f.ts(),
        _ => 0,
    }
}

fn table_table(events: &[Event], batch: usize) -> Result<Case> {
    let fed = interleave(events, batch, false, AuctionKey::Seller)?;
    let (a_schema, p_schema) = (auction_schema(), person_schema());
    Ok(Case {
        // The auction's primary key, its id, is column 0.
        spec: spec(JoinKind::ForeignKey, &a_schema, &p_schema, vec![0]),
        load: Vec::new(),
        stream: fed.inputs,
        tables: vec![
            ("auctions", a_schema, fed.auctions),
            ("persons", p_schema, fed.persons),
        ],
        sql: "SELECT * FROM auctions a JOIN persons p ON a.seller = p.id".to_string(),
        // The auction's id and seller; the person's id.
        identity: vec![0, 1, 7],
        span_ms: span(events),
    })
}

fn stream_stream(events: &[Event], batch: usize) -> Result<Case> {
    let fed = interleave(events, batch, true, AuctionKey::Seller)?;
    if fed.span_ms >= WINDOW_MS {
        return Err(Error::user(format!(
            "--batch {batch} rows span {} ms of event time, as much as the stream-stream \
             window ({WINDOW_MS} ms): the two inputs would drift too far apart for the \
             join's result to be DataFusion's. Use a smaller --batch or a higher --event-rate.",
            fed.span_ms
        )));
    }
    let (p_schema, a_schema) = (person_schema(), auction_schema());
    Ok(Case {
        spec: spec(
            JoinKind::StreamStream {
                before: WINDOW_MS,
                after: WINDOW_MS,
                grace: Some(0),
            },
            &p_schema,
            &a_schema,
            Vec::new(),
        ),
        load: Vec::new(),
        stream: fed.inputs,
        tables: vec![
            ("persons", p_schema, fed.persons),
            ("auctions", a_schema, fed.auctions),
        ],
        sql: format!(
            "SELECT * FROM persons p JOIN auctions a ON p.id = a.seller \
             AND a.ts BETWEEN p.ts - {WINDOW_MS} AND p.ts + {WINDOW_MS}"
        ),
        // The person's id; the auction's id and seller.
        identity: vec![0, 7, 8],
        span_ms: span(events),
    })
}

/// splitmix64's finalizer.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// An order-independent checksum of the rows of `batch`, over its BIGINT
/// `columns`.
fn checksum(batch: &RecordBatch, columns: &[usize]) -> Result<u64> {
    let arrays = columns
        .iter()
        .map(|&c| {
            batch
                .columns()
                .get(c)
                .and_then(|a| a.as_primitive_opt::<Int64Type>())
                .ok_or_else(|| Error::internal(format!("join output column {c} is not BIGINT")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut sum = 0u64;
    for row in 0..batch.num_rows() {
        let mut h = 0u64;
        for a in &arrays {
            let v = if a.is_null(row) {
                u64::MAX
            } else {
                a.value(row) as u64
            };
            h = mix(h ^ v);
        }
        sum = sum.wrapping_add(h);
    }
    Ok(sum)
}

/// Feeds `inputs` to `join`, handing each call's output to `sink`;
/// returns the rows emitted.
fn feed(
    join: &mut Join,
    inputs: &[Input],
    ctx: &OperatorContext<'_>,
    mut sink: impl FnMut(&Join, &[RecordBatch]) -> Result<()>,
) -> Result<u64> {
    let mut out = Vec::new();
    let mut rows = 0u64;
    for input in inputs {
        match input {
            Input::Left(b) => join.process(b.clone(), ctx, &mut out)?,
            Input::Right(b) => join.process_right(b.clone(), ctx, &mut out)?,
        }
        rows += out.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        sink(join, &out)?;
        out.clear();
    }
    Ok(rows)
}

/// Hands freed heap back to the kernel, so that a phase's RSS growth is
/// its own and not a reuse of what an earlier phase freed.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's heap; it
    // has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A session of plain DataFusion over `tables`, one partition: its batch
/// hash join on one core, as the operator runs on one.
fn session(tables: &[(&'static str, SchemaRef, Vec<RecordBatch>)]) -> Result<SessionContext> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    for (name, schema, batches) in tables {
        let table = MemTable::try_new(Arc::clone(schema), vec![batches.clone()])?;
        ctx.register_table(*name, Arc::new(table))?;
    }
    Ok(ctx)
}

/// Runs `sql`, planned beforehand; times the execution.
async fn datafusion_join(ctx: &SessionContext, sql: &str) -> Result<(Usage, Vec<RecordBatch>)> {
    let plan = ctx.sql(sql).await?.create_physical_plan().await?;
    trim();
    let meter = Meter::start();
    let out = datafusion::physical_plan::collect(plan, ctx.task_ctx()).await?;
    Ok((meter.stop(), out))
}

/// What the runs of a case measured.
struct Measured {
    /// Loading the table first (stream-table only).
    load: Vec<Usage>,
    /// Feeding the (other) input.
    stream: Vec<Usage>,
    datafusion: Vec<Usage>,
    load_rows: u64,
    stream_rows: u64,
    /// Rows the join emitted, and DataFusion returned.
    emitted: u64,
    returned: u64,
    /// Rows the join's state held at the end, and at most between batches.
    state_end: usize,
    state_peak: usize,
    /// How sluice's output differs from DataFusion's.
    mismatch: Option<String>,
}

/// Checks, then times, one case.
async fn measure(case: &Case, runs: usize) -> Result<Measured> {
    let log = ProcessingLog::new(None);
    let ctx = OperatorContext {
        query_id: "bench_join",
        log: &log,
        topic: None,
    };
    let (mut join_sum, mut state_peak) = (0u64, 0usize);
    let mut join = Join::new(case.spec.clone())?;
    let mut check = |j: &Join, out: &[RecordBatch]| -> Result<()> {
        for b in out {
            join_sum = join_sum.wrapping_add(checksum(b, &case.identity)?);
        }
        state_peak = state_peak.max(j.state_rows());
        Ok(())
    };
    let emitted = feed(&mut join, &case.load, &ctx, &mut check)?
        + feed(&mut join, &case.stream, &ctx, &mut check)?;
    drop(join);
    let df = session(&case.tables)?;
    let (_, output) = datafusion_join(&df, &case.sql).await?;
    let returned: u64 = output.iter().map(|b| b.num_rows() as u64).sum();
    let mut df_sum = 0u64;
    for b in &output {
        df_sum = df_sum.wrapping_add(checksum(b, &case.identity)?);
    }
    drop(output);
    let mut mismatch = match (emitted == returned, join_sum == df_sum) {
        (true, true) => None,
        (false, _) => Some(format!(
            "sluice emitted {} rows, DataFusion returned {}",
            thousands(emitted as f64),
            thousands(returned as f64)
        )),
        (true, false) => Some(format!(
            "sluice emitted the {} rows DataFusion returned, but not the same rows (the \
             checksums of their ids differ)",
            thousands(emitted as f64)
        )),
    };
    let mut m = Measured {
        load: Vec::new(),
        stream: Vec::new(),
        datafusion: Vec::new(),
        load_rows: Case::rows(&case.load),
        stream_rows: Case::rows(&case.stream),
        emitted,
        returned,
        state_end: 0,
        state_peak,
        mismatch: None,
    };
    for _ in 0..runs {
        let mut join = Join::new(case.spec.clone())?;
        trim();
        let mut rows = 0;
        if !case.load.is_empty() {
            let meter = Meter::start();
            rows += feed(&mut join, &case.load, &ctx, |_, _| Ok(()))?;
            m.load.push(meter.stop());
        }
        let meter = Meter::start();
        rows += feed(&mut join, &case.stream, &ctx, |_, _| Ok(()))?;
        m.stream.push(meter.stop());
        m.state_end = join.state_rows();
        drop(join);
        if rows != emitted && mismatch.is_none() {
            mismatch = Some(format!(
                "sluice emitted {} rows in a timed run, {} in the first",
                thousands(rows as f64),
                thousands(emitted as f64)
            ));
        }
        let (usage, output) = datafusion_join(&df, &case.sql).await?;
        m.datafusion.push(usage);
        drop(output);
    }
    m.mismatch = mismatch;
    Ok(m)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Medians of a phase's runs.
struct Figures {
    wall: f64,
    cpu: f64,
    /// RSS growth during the phase and the phase's peak RSS (MiB).
    rss: Option<(f64, f64)>,
}

impl Figures {
    fn of(runs: &[Usage]) -> Figures {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let rss: Vec<(f64, f64)> = runs
            .iter()
            .filter(|u| u.peak_is_phase)
            .filter_map(|u| Some((u.peak_rss?, u.start_rss?)))
            .map(|(peak, start)| (mib(peak.saturating_sub(start)), mib(peak)))
            .collect();
        Figures {
            wall: median(runs.iter().map(|u| u.wall.as_secs_f64()).collect()),
            cpu: median(runs.iter().map(|u| u.cpu.as_secs_f64()).collect()),
            rss: (rss.len() == runs.len() && !rss.is_empty()).then(|| {
                (
                    median(rss.iter().map(|r| r.0).collect()),
                    median(rss.iter().map(|r| r.1).collect()),
                )
            }),
        }
    }

    /// Input rows per second of CPU time.
    fn rate(&self, rows: u64) -> f64 {
        if self.cpu > 0.0 {
            rows as f64 / self.cpu
        } else {
            f64::INFINITY
        }
    }
}

/// The sum of two phases, run by run.
fn both(load: &[Usage], stream: &[Usage]) -> Vec<Usage> {
    load.iter()
        .zip(stream)
        .map(|(l, s)| Usage {
            wall: l.wall + s.wall,
            cpu: l.cpu + s.cpu,
            broker_cpu: Duration::ZERO,
            start_rss: l.start_rss,
            peak_rss: l.peak_rss.max(s.peak_rss),
            peak_is_phase: l.peak_is_phase && s.peak_is_phase,
        })
        .collect()
}

const HEADER: &str = "| | input rows | rows out | wall s | CPU s | events/s/core | \
                      state rows (end / peak) | RSS growth / peak |\n\
                      |---|---:|---:|---:|---:|---:|---:|---:|";

/// One line of a figures table; returns its events/s/core.
fn line(
    out: &mut dyn Write,
    what: &str,
    rows_in: u64,
    rows_out: Option<u64>,
    runs: &[Usage],
    state: Option<(usize, usize)>,
) -> Result<f64> {
    let f = Figures::of(runs);
    let rate = f.rate(rows_in);
    writeln!(
        out,
        "| {what} | {} | {} | {:.3} | {:.3} | {} | {} | {} |",
        thousands(rows_in as f64),
        rows_out.map_or("—".to_string(), |r| thousands(r as f64)),
        f.wall,
        f.cpu,
        thousands(rate),
        state.map_or("—".to_string(), |(end, peak)| format!(
            "{} / {}",
            thousands(end as f64),
            thousands(peak as f64)
        )),
        f.rss.map_or("n/a".to_string(), |(growth, peak)| format!(
            "+{growth:.1} / {peak:.0} MiB"
        )),
    )?;
    Ok(rate)
}

/// The check's line; the mismatch, if any, joins `failures`.
fn check_line(
    out: &mut dyn Write,
    name: &str,
    m: &Measured,
    failures: &mut Vec<String>,
) -> Result<()> {
    match &m.mismatch {
        None => writeln!(
            out,
            "check: sluice emitted {} rows, DataFusion returned {}; the checksums of their ids \
             are equal",
            thousands(m.emitted as f64),
            thousands(m.returned as f64)
        )?,
        Some(e) => {
            writeln!(out, "error: {name}: {e}")?;
            failures.push(format!("{name}: {e}"));
        }
    }
    Ok(())
}

fn ratio(sluice: f64, datafusion: f64) -> String {
    format!("{:.2}", sluice / datafusion.max(1e-9))
}

/// Runs the join benchmark and prints its figures.
pub async fn run(opts: JoinBenchOptions, out: &mut dyn Write) -> Result<()> {
    let generator = Generator::new(GeneratorConfig {
        seed: opts.seed,
        event_rate: opts.event_rate,
        ..GeneratorConfig::default()
    });
    let big = opts.events.saturating_mul(GROWTH);
    eprintln!(
        "generating {} bids and {} persons and auctions …",
        opts.events, big
    );
    let st = stream_table(&generator, &opts)?;
    let events = persons_and_auctions(&generator, big)?;
    let small = events.get(..opts.events).unwrap_or(&events);
    let tt = table_table(small, opts.batch)?;
    let ss = [
        stream_stream(small, opts.batch)?,
        stream_stream(&events, opts.batch)?,
    ];
    drop(events);
    let mut failures = Vec::new();

    writeln!(out, "join: {}", machine())?;
    writeln!(
        out,
        "Nexmark data (seed {}, {} events/s of event time) decoded to Arrow before timing; \
         batches of {} rows; one core (DataFusion with one partition); medians of {} timed \
         runs, after a first run that checks sluice's output against DataFusion's",
        opts.seed,
        thousands(opts.event_rate as f64),
        thousands(opts.batch as f64),
        opts.runs
    )?;

    eprintln!("stream-table …");
    let m = measure(&st, opts.runs).await?;
    writeln!(
        out,
        "\nstream-table: bids ⋈ auctions ON bid.auction = auction.id (INNER), the auction table \
         loaded first, then {} bids ({:.1} s of event time)\n{HEADER}",
        thousands(m.stream_rows as f64),
        st.span_ms as f64 / 1000.0
    )?;
    let table = Some((m.state_end, m.state_peak));
    line(
        out,
        "sluice: load the auction table",
        m.load_rows,
        Some(0),
        &m.load,
        None,
    )?;
    let bids = line(
        out,
        "**sluice: stream the bids**",
        m.stream_rows,
        Some(m.emitted),
        &m.stream,
        table,
    )?;
    let all = m.load_rows + m.stream_rows;
    let sluice = line(
        out,
        "sluice: both",
        all,
        Some(m.emitted),
        &both(&m.load, &m.stream),
        table,
    )?;
    let datafusion = line(
        out,
        "DataFusion hash join",
        all,
        Some(m.returned),
        &m.datafusion,
        None,
    )?;
    writeln!(
        out,
        "sluice streams {} bid events/s/core; sluice / DataFusion over the same {} input rows \
         (table load + bids against the whole hash join): {}",
        thousands(bids),
        thousands(all as f64),
        ratio(sluice, datafusion)
    )?;
    check_line(out, "stream-table", &m, &mut failures)?;

    eprintln!("table-table …");
    let m = measure(&tt, opts.runs).await?;
    writeln!(
        out,
        "\ntable-table (q3's join): auctions ⋈ persons ON auction.seller = person.id (INNER, \
         foreign key: auctions keyed by id, persons by id), {} rows in event order\n{HEADER}",
        thousands(m.stream_rows as f64)
    )?;
    let state = Some((m.state_end, m.state_peak));
    let sluice = line(
        out,
        "**sluice**",
        m.stream_rows,
        Some(m.emitted),
        &m.stream,
        state,
    )?;
    let datafusion = line(
        out,
        "DataFusion hash join",
        m.stream_rows,
        Some(m.returned),
        &m.datafusion,
        None,
    )?;
    writeln!(
        out,
        "sluice / DataFusion over the same {} input rows: {}",
        thousands(m.stream_rows as f64),
        ratio(sluice, datafusion)
    )?;
    check_line(out, "table-table", &m, &mut failures)?;

    writeln!(
        out,
        "\nstream-stream (q8's join): persons ⋈ auctions ON person.id = auction.seller WITHIN \
         {} SECONDS GRACE PERIOD 0 (INNER); DataFusion: the same ON clause with \
         `a.ts BETWEEN p.ts - {WINDOW_MS} AND p.ts + {WINDOW_MS}`\n{HEADER}",
        WINDOW_MS / 1000
    )?;
    let mut measured = Vec::new();
    for case in &ss {
        eprintln!("stream-stream, {} rows …", Case::rows(&case.stream));
        let m = measure(case, opts.runs).await?;
        let rows = m.stream_rows;
        let state = Some((m.state_end, m.state_peak));
        let what = format!("**sluice**, {} s of event time", case.span_ms / 1000);
        let sluice = line(out, &what, rows, Some(m.emitted), &m.stream, state)?;
        let what = format!("DataFusion hash join, {} s", case.span_ms / 1000);
        let datafusion = line(out, &what, rows, Some(m.returned), &m.datafusion, None)?;
        measured.push((m, sluice, datafusion));
    }
    for (m, sluice, datafusion) in &measured {
        writeln!(
            out,
            "{} rows: sluice / DataFusion {}; the join held at most {} rows ({:.1}% of its \
             input), {} at the end",
            thousands(m.stream_rows as f64),
            ratio(*sluice, *datafusion),
            thousands(m.state_peak as f64),
            100.0 * m.state_peak as f64 / (m.stream_rows.max(1)) as f64,
            thousands(m.state_end as f64)
        )?;
    }
    writeln!(
        out,
        "Records are kept for before + after + grace = {} s of event time (~{} rows at this \
         event rate) and swept every quarter of that, so up to a quarter more are held \
         between sweeps.",
        2 * WINDOW_MS / 1000,
        thousands(opts.event_rate as f64 * 4.0 / 50.0 * (2 * WINDOW_MS / 1000) as f64)
    )?;
    for (case, (m, _, _)) in ss.iter().zip(&measured) {
        let name = format!(
            "stream-stream, {} rows",
            thousands(Case::rows(&case.stream) as f64)
        );
        check_line(out, &name, m, &mut failures)?;
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "the join's output is not DataFusion's: {}",
            failures.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> (Generator, JoinBenchOptions) {
        let opts = JoinBenchOptions {
            events: 3_000,
            batch: 256,
            runs: 1,
            seed: 7,
            event_rate: 1_000,
        };
        let generator = Generator::new(GeneratorConfig {
            seed: opts.seed,
            event_rate: opts.event_rate,
            ..GeneratorConfig::default()
        });
        (generator, opts)
    }

    #[tokio::test]
    async fn every_join_emits_what_datafusion_returns() {
        let (generator, opts) = small();
        let events = persons_and_auctions(&generator, opts.events).unwrap();
        let cases = [
            stream_table(&generator, &opts).unwrap(),
            table_table(&events, opts.batch).unwrap(),
            stream_stream(&events, opts.batch).unwrap(),
        ];
        for case in &cases {
            let m = measure(case, 1).await.unwrap();
            assert_eq!(m.mismatch, None, "{}", case.sql);
            assert!(m.emitted > 0, "{}", case.sql);
        }
    }

    #[tokio::test]
    async fn stream_stream_state_expires_with_event_time() {
        // 3,000 persons and auctions at 1,000 events/s span ~37 s of event
        // time: more than the 20 s the window keeps.
        let (generator, opts) = small();
        let events = persons_and_auctions(&generator, opts.events).unwrap();
        let m = measure(&stream_stream(&events, opts.batch).unwrap(), 1)
            .await
            .unwrap();
        assert!(m.state_peak < events.len() * 3 / 4, "{}", m.state_peak);
    }

    #[tokio::test]
    async fn a_different_result_is_a_mismatch() {
        let (generator, opts) = small();
        let events = persons_and_auctions(&generator, opts.events).unwrap();
        let mut case = stream_stream(&events, opts.batch).unwrap();
        case.sql = case.sql.replace("p.ts + 10000", "p.ts + 1000");
        let m = measure(&case, 1).await.unwrap();
        assert!(m.mismatch.is_some());
    }

    #[test]
    fn a_checksum_ignores_row_order() {
        let schema = Arc::new(Schema::new(vec![field("a", DataType::Int64)]));
        let batch = |v: Vec<i64>| {
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from(v))]).unwrap()
        };
        let one = checksum(&batch(vec![1, 2, 3]), &[0]).unwrap();
        assert_eq!(one, checksum(&batch(vec![3, 1, 2]), &[0]).unwrap());
        assert_ne!(one, checksum(&batch(vec![1, 2, 4]), &[0]).unwrap());
    }
}
