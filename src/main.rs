//! The `sluice` command: subcommands map to the engine; errors map to exit
//! codes. Nothing else lives here.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sluice::config::Config;
use sluice::engine::Engine;
use sluice::kafka::KafkaBroker;
use sluice::runtime::io::Broker;
use sluice::sr::embedded::{Listen, ProcessRegistry};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Streaming SQL for Apache Kafka (ksqlDB dialect)"
)]
struct Cli {
    /// Kafka bootstrap servers; without it, sluice starts an embedded
    /// in-memory broker.
    #[arg(long, global = true, env = "SLUICE_BOOTSTRAP_SERVERS")]
    bootstrap_servers: Option<String>,

    /// `auto.offset.reset` for new queries: earliest or latest (default,
    /// as ksqlDB).
    #[arg(long, global = true, default_value = "latest")]
    offset_reset: String,

    /// `ksql.service.id`: names the command topic, consumer groups and
    /// internal topics. Servers with the same id share their queries.
    #[arg(
        long,
        global = true,
        env = "SLUICE_SERVICE_ID",
        default_value = "default_"
    )]
    service_id: String,

    /// An external Confluent-compatible Schema Registry
    /// (http://host:port) for AVRO, PROTOBUF and JSON_SR topics. Without
    /// it, sluice keeps its own registry in the broker's `_schemas` topic
    /// and serves it on --schema-registry-listen.
    #[arg(
        long,
        global = true,
        env = "SLUICE_SCHEMA_REGISTRY",
        value_name = "URL"
    )]
    schema_registry: Option<String>,

    /// Where sluice's own Schema Registry serves Confluent's REST API
    /// (server, shell, run): HOST:PORT, or `off` [default: 127.0.0.1:8081]
    #[arg(long, global = true, value_name = "ADDR")]
    schema_registry_listen: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The ksqlDB-compatible REST API server.
    Server {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:8088")]
        listen: std::net::SocketAddr,
        /// The URL the other servers of the service reach this one at
        /// (ksqlDB's `ksql.advertised.listener`), for pull queries on
        /// partitions this server reads [default: the listen address, or
        /// the host name for 0.0.0.0]
        #[arg(long, env = "SLUICE_ADVERTISED_LISTENER", value_name = "URL")]
        advertised_listener: Option<String>,
    },
    /// Interactive SQL shell on an embedded engine.
    Shell {
        /// Execute these statements and exit.
        #[arg(short = 'e', long = "execute")]
        execute: Option<String>,
        /// Execute the statements of this file and exit.
        #[arg(short = 'f', long = "file")]
        file: Option<std::path::PathBuf>,
        /// Talk to a running `sluice server` (e.g. http://localhost:8088)
        /// instead of an embedded engine.
        #[arg(long)]
        server: Option<String>,
    },
    /// Executes a SQL script headless; persistent queries keep running.
    Run {
        /// The script.
        file: std::path::PathBuf,
        /// Exit once every persistent query has processed all its input.
        #[arg(long)]
        until_idle: bool,
    },
    /// Runs test files (sql-tests `.sql`, ksqlDB QTT `.json`) on the
    /// in-memory log; no broker needed.
    Test(sluice::testing::cli::TestArgs),
    /// The Nexmark auction workload: `nexmark generate` writes its events.
    Nexmark {
        #[command(subcommand)]
        command: sluice::nexmark::cli::NexmarkCommand,
    },
    /// Benchmarks: `bench nexmark` measures sluice beside its baselines.
    Bench {
        #[command(subcommand)]
        command: sluice::nexmark::cli::BenchCommand,
    },
    /// The example scenarios of examples/: `example run NAME` runs one end
    /// to end; `example data NAME` writes its data into a broker.
    Example {
        #[command(subcommand)]
        command: sluice::examples::cli::ExampleCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Test cases provoke processing-log warnings on purpose; keep them out
    // of the test report unless SLUICE_LOG asks for them.
    let default_level = match cli.command {
        Command::Test(_) => "error",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Test(args) = &cli.command {
        return match runtime.block_on(sluice::testing::cli::run(args)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("{}", sluice::shell::error_line(&e));
                ExitCode::from(2)
            }
        };
    }
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", sluice::shell::error_line(&e));
            ExitCode::from(if e.is_user() { 1 } else { 2 })
        }
    }
}

async fn run(cli: Cli) -> sluice::error::Result<()> {
    let bootstrap = cli.bootstrap_servers.as_deref();
    let command = match cli.command {
        Command::Nexmark { command } => {
            return sluice::nexmark::cli::nexmark(command, bootstrap).await
        }
        Command::Bench { command } => return sluice::nexmark::cli::bench(command, bootstrap).await,
        Command::Example { command } => {
            return sluice::examples::cli::example(command, bootstrap).await
        }
        Command::Shell {
            execute,
            file,
            server: Some(url),
        } => return remote_shell(&url, execute, file).await,
        other => other,
    };
    let broker: Arc<dyn Broker> = match &cli.bootstrap_servers {
        Some(b) => Arc::new(KafkaBroker::connect(b)?),
        None => {
            let b = KafkaBroker::embedded()?;
            eprintln!(
                "Started the embedded Kafka broker at {} (data is kept in memory only; it keeps \
                 the newest 5 MiB per partition). Streams, tables, queries and their state last \
                 as long as this process. Use --bootstrap-servers to use a real cluster, where \
                 a server's catalog, queries and state survive restarts.",
                b.address()
            );
            Arc::new(b)
        }
    };
    let mut config = Config {
        service_id: cli.service_id.clone(),
        // The server keeps its catalog and queries in the command topic; a
        // local shell or script is a session of its own and keeps nothing.
        command_topic: matches!(command, Command::Server { .. }),
        ..Config::default()
    };
    if let Command::Server {
        listen,
        advertised_listener,
    } = &command
    {
        // The same on every restart of this server (exactly-once tasks'
        // transactional ids).
        let name = advertised_listener
            .clone()
            .unwrap_or_else(|| listen.to_string());
        config.instance_id = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
    }
    if cli.offset_reset.eq_ignore_ascii_case("earliest") {
        config.default_start = sluice::runtime::io::StartFrom::Earliest;
    }
    let registry = ProcessRegistry::open(
        &broker,
        cli.schema_registry.as_deref(),
        Listen::parse(cli.schema_registry_listen.as_deref())?,
        matches!(command, Command::Server { .. }),
        cli.bootstrap_servers.is_some(),
    )
    .await?;
    config.schema_registry = Some(registry.registry());
    // As ksqlDB lists it, for clients that look the registry up.
    if registry.address().is_some() || cli.schema_registry.is_some() {
        config.properties.insert(
            "ksql.schema.registry.url".to_string(),
            registry.registry().get().url(),
        );
    }
    let engine = Engine::new(broker, config).await?;
    let result = match command {
        Command::Server {
            listen,
            advertised_listener,
        } => sluice::server::serve(engine, listen, advertised_listener).await,
        Command::Shell { execute, file, .. } => match (execute, file) {
            (Some(sql), _) => sluice::shell::batch(engine, &sql).await,
            (None, Some(path)) => {
                let sql = std::fs::read_to_string(&path).map_err(|e| {
                    sluice::error::Error::user(format!("cannot read '{}': {e}", path.display()))
                })?;
                sluice::shell::batch(engine, &sql).await
            }
            (None, None) => sluice::shell::interactive(engine).await,
        },
        Command::Run { file, until_idle } => {
            let sql = std::fs::read_to_string(&file).map_err(|e| {
                sluice::error::Error::user(format!("cannot read '{}': {e}", file.display()))
            })?;
            sluice::shell::run_script(engine, &sql, until_idle).await
        }
        Command::Test(_) => Ok(()), // handled in main, without a broker
        Command::Nexmark { .. } | Command::Bench { .. } | Command::Example { .. } => Ok(()), // handled above
    };
    let stopped = registry.stop().await;
    result.and(stopped)
}

async fn remote_shell(
    url: &str,
    execute: Option<String>,
    file: Option<std::path::PathBuf>,
) -> sluice::error::Result<()> {
    let server = sluice::shell::remote::RemoteServer::parse(url)?;
    match (execute, file) {
        (Some(sql), _) => sluice::shell::batch_remote(server, &sql).await,
        (None, Some(path)) => {
            let sql = std::fs::read_to_string(&path).map_err(|e| {
                sluice::error::Error::user(format!("cannot read '{}': {e}", path.display()))
            })?;
            sluice::shell::batch_remote(server, &sql).await
        }
        (None, None) => sluice::shell::interactive_remote(server).await,
    }
}
