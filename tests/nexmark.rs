//! The Nexmark generator (determinism, proportions, value ranges) and a
//! tiny benchmark run in each source mode. The benchmark prints figures; it
//! asserts only that every phase processed every bid, never a speed.

use std::collections::HashSet;
use std::sync::Arc;

use sluice::kafka::KafkaBroker;
use sluice::nexmark::generator::{FIRST_AUCTION_ID, FIRST_PERSON_ID, US_STATES};
use sluice::nexmark::{
    bench, BenchOptions, BenchSource, EventKind, Generator, GeneratorConfig, LoadOptions,
    TopicLayout,
};
use sluice::runtime::memory::MemoryBroker;

fn events(config: GeneratorConfig, n: u64, discriminator: bool) -> Vec<(EventKind, Vec<u8>)> {
    let g = Generator::new(config);
    let mut buf = Vec::new();
    (0..n)
        .map(|i| {
            buf.clear();
            let info = g.write_event(i, discriminator, &mut buf);
            (info.kind, buf.clone())
        })
        .collect()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => panic!("{e}: {}", String::from_utf8_lossy(bytes)),
    }
}

#[test]
fn same_seed_same_events_other_seed_other_events() {
    let a = events(GeneratorConfig::default(), 5_000, false);
    let b = events(GeneratorConfig::default(), 5_000, false);
    assert_eq!(a, b);
    let c = events(
        GeneratorConfig {
            seed: 7,
            ..GeneratorConfig::default()
        },
        5_000,
        false,
    );
    assert_ne!(a, c);
    // Event n does not depend on what was generated before it.
    let g = Generator::new(GeneratorConfig::default());
    let mut buf = Vec::new();
    g.write_event(4_321, false, &mut buf);
    assert_eq!(buf, a[4_321].1);
}

#[test]
fn kinds_ids_and_values_follow_the_nexmark_rules() {
    let all = events(GeneratorConfig::default(), 50_000, false);
    let mut counts = [0u64; 3];
    let mut persons = HashSet::new();
    let mut auctions = HashSet::new();
    let mut sizes = [0usize; 3];
    for (n, (kind, bytes)) in all.iter().enumerate() {
        assert_eq!(*kind, EventKind::of(n as u64));
        counts[kind.index()] += 1;
        sizes[kind.index()] += bytes.len();
        let v = json(bytes);
        match kind {
            EventKind::Person => {
                let id = v["id"].as_u64().expect("person id");
                assert_eq!(id, FIRST_PERSON_ID + (n as u64) / 50);
                assert!(US_STATES.contains(&v["state"].as_str().expect("state")));
                assert!(v["emailAddress"].as_str().expect("email").ends_with(".com"));
                persons.insert(id);
            }
            EventKind::Auction => {
                let id = v["id"].as_u64().expect("auction id");
                assert!(id >= FIRST_AUCTION_ID);
                assert!((10..=14).contains(&v["category"].as_u64().expect("category")));
                assert!(v["reserve"].as_u64() > v["initialBid"].as_u64());
                assert!(v["expires"].as_i64() > v["dateTime"].as_i64());
                auctions.insert(id);
            }
            EventKind::Bid => {
                let price = v["price"].as_u64().expect("price");
                assert!((100..=100_000_000).contains(&price), "price {price}");
                let auction = v["auction"].as_u64().expect("auction");
                // One of the last 100 auctions, or up to 10 ahead.
                let opened = auctions.iter().copied().max().unwrap_or(FIRST_AUCTION_ID);
                assert!(auction <= opened + 10 && auction + 110 >= opened);
                assert!(v["url"].as_str().expect("url").starts_with("https://"));
            }
        }
    }
    assert_eq!(counts, [1_000, 3_000, 46_000]);
    assert_eq!(persons.len(), 1_000);
    assert_eq!(auctions.len(), 3_000);
    assert_eq!(*auctions.iter().min().expect("auctions"), FIRST_AUCTION_ID);
    let average = |k: EventKind| sizes[k.index()] as f64 / counts[k.index()] as f64;
    assert!((170.0..230.0).contains(&average(EventKind::Person)));
    assert!((450.0..550.0).contains(&average(EventKind::Auction)));
    assert!(average(EventKind::Bid) < 250.0);
}

#[test]
fn event_time_advances_and_delays_are_a_share() {
    let config = GeneratorConfig {
        event_rate: 1_000,
        delayed_share: 0.1,
        max_delay_ms: 500,
        ..GeneratorConfig::default()
    };
    let g = Generator::new(config.clone());
    let mut buf = Vec::new();
    let mut delayed = 0;
    for n in 0..10_000 {
        buf.clear();
        let info = g.write_event(n, true, &mut buf);
        let v = json(&buf);
        assert_eq!(
            v["event_type"].as_u64(),
            Some(info.kind.discriminator() as u64)
        );
        assert_eq!(v["dateTime"].as_i64(), Some(info.timestamp));
        let on_time = config.base_time_ms + n as i64;
        assert!(info.timestamp <= on_time && info.timestamp >= on_time - 500);
        if info.timestamp < on_time {
            delayed += 1;
        }
    }
    assert!(
        (700..1_300).contains(&delayed),
        "{delayed} delayed of 10000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_writes_every_event_to_the_in_memory_log() {
    let log = MemoryBroker::new();
    let layout = TopicLayout::PerKind(["p".into(), "a".into(), "b".into()]);
    let opts = LoadOptions {
        events: 1_000,
        rate: 0,
        partitions: Some(2),
        layout,
        generator: GeneratorConfig::default(),
    };
    let generator = Generator::new(opts.generator.clone());
    let mut plans = sluice::nexmark::load::plan_topics(&opts, &generator, false);
    let broker: Arc<dyn sluice::runtime::io::Broker> = Arc::new(Arc::clone(&log));
    sluice::nexmark::load::create_topics(broker.as_ref(), &mut plans)
        .await
        .expect("topics");
    let report =
        sluice::nexmark::load::append_to_memory(&log, &opts, &generator, &plans).expect("load");
    assert_eq!(report.per_kind, [20, 60, 920]);
    assert_eq!(log.records("b").expect("bids").len(), 920);
    let persons = log.records("p").expect("persons");
    assert_eq!(persons.len(), 20);
    // Persons are keyed by id, as an 8-byte big-endian BIGINT.
    let first = persons
        .iter()
        .map(|(_, r)| r.key.clone().expect("key"))
        .min()
        .expect("a person");
    assert_eq!(first, (FIRST_PERSON_ID as i64).to_be_bytes().to_vec());
}

fn tiny(queries: &[&str]) -> BenchOptions {
    BenchOptions {
        queries: queries.iter().map(|q| q.to_string()).collect(),
        events: 5_000,
        partitions: None,
        runs: 1,
        batch_size: None,
        generator: GeneratorConfig::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_from_the_in_memory_log() {
    let mut out = Vec::new();
    let report = bench::run(
        &tiny(&["q0", "q2", "w1", "q5"]),
        BenchSource::Memory,
        &mut out,
    )
    .await
    .expect("bench");
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert_eq!(report.queries.len(), 3);
    for q in &report.queries {
        assert_eq!(q.sluice.records, 4_600);
        assert_eq!(q.mismatch(), None, "{}", q.name);
    }
    assert_eq!(report.queries[0].sluice_rows_out, 4_600);
    assert_eq!(
        report.queries[0].sluice_rows_out,
        report.queries[0].compute_rows_out
    );
    // The aggregation was checked group by group against DataFusion's.
    let w1 = report.queries[2]
        .groups
        .as_ref()
        .expect("w1 is checked by group");
    assert!(w1.datafusion_groups > 0);
    assert_eq!(w1.sluice_groups, w1.datafusion_groups);
    assert!(
        text.contains("q5: not run by the bench yet: needs"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_through_the_embedded_broker() {
    let kafka = Arc::new(KafkaBroker::embedded().expect("broker"));
    let mut out = Vec::new();
    let report = bench::run(&tiny(&["q1"]), BenchSource::Broker(kafka), &mut out)
        .await
        .expect("bench");
    println!("{}", String::from_utf8_lossy(&out));
    let q1 = &report.queries[0];
    assert_eq!(q1.sluice_rows_out, 4_600);
    assert!(q1.ceiling.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_query_says_what_it_needs() {
    let mut out = Vec::new();
    let err = bench::run(&tiny(&["q8"]), BenchSource::Memory, &mut out)
        .await
        .expect_err("an error");
    assert!(err.is_user());
    assert!(
        err.to_string().contains(
            "q8 is not run by the bench yet: needs this bench's loading and output checks"
        ),
        "{err}"
    );
}

/// The DDL `nexmark generate` prints declares its topics: queries over the
/// person stream (key from the Kafka key) and over the one-topic layout
/// read every event of their kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_ddl_declares_the_generated_topics() {
    use sluice::config::{Config, Session};
    use sluice::engine::Engine;
    use sluice::nexmark::queries::all_sources_ddl;

    let log = MemoryBroker::new();
    let broker: Arc<dyn sluice::runtime::io::Broker> = Arc::new(Arc::clone(&log));
    for layout in [
        TopicLayout::PerKind(["person".into(), "auction".into(), "bid".into()]),
        TopicLayout::Single("events".into()),
    ] {
        let opts = LoadOptions {
            events: 1_000,
            rate: 0,
            partitions: Some(1),
            layout,
            generator: GeneratorConfig::default(),
        };
        let generator = Generator::new(opts.generator.clone());
        let mut plans = sluice::nexmark::load::plan_topics(&opts, &generator, false);
        sluice::nexmark::load::create_topics(broker.as_ref(), &mut plans)
            .await
            .expect("topics");
        sluice::nexmark::load::append_to_memory(&log, &opts, &generator, &plans).expect("load");
    }
    let config = Config {
        default_start: sluice::runtime::io::StartFrom::Earliest,
        ..Config::default()
    };
    let engine = Engine::new(Arc::clone(&broker), config)
        .await
        .expect("engine");
    let mut session = Session::default();
    for layout in [
        TopicLayout::PerKind(["person".into(), "auction".into(), "bid".into()]),
        TopicLayout::Single("events".into()),
    ] {
        let ddl = all_sources_ddl(&layout);
        if let Err(e) = engine.execute(&mut session, &ddl).await {
            panic!("{ddl}\nfailed: {e}");
        }
    }
    let queries = "CREATE STREAM SELLERS AS SELECT ID, STATE FROM PERSON;
         CREATE STREAM AUCTIONS AS SELECT ID, CATEGORY FROM NEXMARK_EVENTS WHERE EVENT_TYPE = 1;";
    if let Err(e) = engine.execute(&mut session, queries).await {
        panic!("{queries}\nfailed: {e}");
    }
    assert!(engine.wait_idle(std::time::Duration::from_secs(60)).await);
    let sellers = log.records("SELLERS").expect("sellers");
    assert_eq!(sellers.len(), 20);
    assert_eq!(
        sellers[0].1.key.as_deref(),
        Some(&(FIRST_PERSON_ID as i64).to_be_bytes()[..])
    );
    assert_eq!(log.records("AUCTIONS").expect("auctions").len(), 60);
    engine.shutdown().await;
}
