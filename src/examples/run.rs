//! `sluice example run NAME`: a scenario end to end in one process. Runs
//! the pipeline on an engine, writes the generated data into the input
//! topic, waits until every query has processed everything (including
//! queries that read other queries' output), then prints what each result
//! topic holds ([`super::output`]).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::output::{self, Record};
use super::{data, GenOptions, Scenario};
use crate::config::{Config, Session};
use crate::engine::{Engine, Outcome};
use crate::error::{Error, Result};
use crate::runtime::io::{Broker, StartFrom};

/// How long the queries may take to process the data (a debug build on
/// a busy machine needs a few seconds).
const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `scenario` over `broker` with the data of `opts`, printing the
/// pipeline's outcomes and then the result topics to `out`.
pub async fn run(
    scenario: &Scenario,
    broker: Arc<dyn Broker>,
    opts: &GenOptions,
    out: &mut dyn Write,
) -> Result<()> {
    opts.check()?;
    let config = Config {
        default_start: StartFrom::Earliest,
        ..Config::default()
    };
    let engine = Engine::new(Arc::clone(&broker), config).await?;
    let result = run_on(scenario, &engine, broker.as_ref(), opts, out).await;
    engine.shutdown().await;
    result
}

async fn run_on(
    scenario: &Scenario,
    engine: &Engine,
    broker: &dyn Broker,
    opts: &GenOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let io = |e: std::io::Error| Error::external(format!("cannot print the results: {e}"));
    // Records left by an earlier run would be read again and counted twice.
    let topics =
        std::iter::once(scenario.input_topic).chain(scenario.outputs.iter().map(|o| o.topic));
    for topic in topics {
        if broker.admin().describe_topic(topic).await?.is_some() {
            return Err(Error::user(format!(
                "topic '{topic}' already exists on {}: `sluice example run {}` needs a broker \
                 without the example's topics (the embedded one, or delete them first)",
                broker.address(),
                scenario.name
            )));
        }
    }
    writeln!(out, "== examples/{}/pipeline.sql", scenario.name).map_err(io)?;
    let mut session = Session::default();
    for stmt in engine.parse(&session, scenario.pipeline).await? {
        let outcome = engine
            .execute_statement(&mut session, &stmt)
            .await
            .map_err(|e| crate::engine::with_statement(e, &stmt))?;
        if matches!(outcome, Outcome::Push(_) | Outcome::Print(_)) {
            return Err(Error::internal(format!(
                "the pipeline of example '{}' streams results to the caller; examples hold \
                 persistent queries only",
                scenario.name
            )));
        }
        let text = crate::shell::render::render(&outcome);
        if !text.is_empty() {
            writeln!(out, "{text}").map_err(io)?;
        }
    }

    let events = (scenario.generate)(opts);
    data::ensure_topic(broker, scenario.input_topic).await?;
    data::write(broker, scenario.input_topic, &events, 0).await?;
    let (first, last) = match (events.first(), events.last()) {
        (Some(f), Some(l)) => (f.time, l.time),
        _ => (opts.start, opts.start),
    };
    writeln!(
        out,
        "== {} records written to '{}' (event time {} to {} UTC, seed {})",
        events.len(),
        scenario.input_topic,
        output::date_time(first),
        output::clock(last),
        opts.seed
    )
    .map_err(io)?;

    let results = settle(scenario, engine, broker).await?;
    let failed = engine.failed_queries().await;
    if let Some((id, e)) = failed.first() {
        return Err(Error::external(format!("query {id} failed: {e}")));
    }
    writeln!(
        out,
        "== every query is idle; the result topics hold (times are UTC):"
    )
    .map_err(io)?;
    for (o, records) in scenario.outputs.iter().zip(&results) {
        writeln!(out).map_err(io)?;
        for line in output::render(o, records) {
            writeln!(out, "{line}").map_err(io)?;
        }
    }
    Ok(())
}

/// Waits until every query is idle and the result topics stop growing
/// (a query that reads another's output is idle for a moment before that
/// output arrives), and returns their records.
async fn settle(
    scenario: &Scenario,
    engine: &Engine,
    broker: &dyn Broker,
) -> Result<Vec<Vec<Record>>> {
    let begin = std::time::Instant::now();
    let mut previous: Option<Vec<usize>> = None;
    loop {
        let left = DEADLINE.saturating_sub(begin.elapsed());
        if !engine.wait_idle(left).await {
            return Err(Error::external(format!(
                "the queries of example '{}' did not process the data within {} s",
                scenario.name,
                DEADLINE.as_secs()
            )));
        }
        let mut results = Vec::with_capacity(scenario.outputs.len());
        for o in scenario.outputs {
            results.push(output::read_topic(broker, o.topic, left).await?);
        }
        let counts: Vec<usize> = results.iter().map(Vec::len).collect();
        if previous.as_ref() == Some(&counts) {
            return Ok(results);
        }
        previous = Some(counts);
    }
}
