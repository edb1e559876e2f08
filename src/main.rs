//! The `sluice` command: subcommands map to the engine; errors map to exit
//! codes. Nothing else lives here.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sluice::config::Config;
use sluice::engine::Engine;
use sluice::kafka::KafkaBroker;
use sluice::runtime::io::Broker;
use sluice::settings::{Listener, Settings};
use sluice::sr::embedded::{Listen, ProcessRegistry};

/// How long the start waits for a Kafka cluster to answer.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Streaming SQL for Apache Kafka (ksqlDB dialect)"
)]
struct Cli {
    /// A properties file in ksqlDB's layout (bootstrap.servers, listeners,
    /// ksql.service.id, ksql.streams.*, Kafka client properties such as
    /// security.protocol and sasl.*); flags and environment variables
    /// override it. README: "Running in production".
    #[arg(long, global = true, env = "SLUICE_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,

    /// Kafka bootstrap servers; without it, sluice starts an embedded
    /// in-memory broker.
    #[arg(long, global = true, env = "SLUICE_BOOTSTRAP_SERVERS")]
    bootstrap_servers: Option<String>,

    /// `auto.offset.reset` for new queries: earliest or latest [default:
    /// latest, as ksqlDB]
    #[arg(long, global = true)]
    offset_reset: Option<String>,

    /// `ksql.service.id`: names the command topic, consumer groups and
    /// internal topics. Servers with the same id share their queries
    /// [default: default_]
    #[arg(long, global = true, env = "SLUICE_SERVICE_ID")]
    service_id: Option<String>,

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
        /// Address to listen on (HOST:PORT, or a `listeners` URL:
        /// http://HOST:PORT, https://HOST:PORT) [default: 0.0.0.0:8088]
        #[arg(long)]
        listen: Option<String>,
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
        /// The user name for a server with HTTP Basic authentication
        /// (ksql's -u).
        #[arg(short = 'u', long = "user", env = "SLUICE_USER", requires = "server")]
        user: Option<String>,
        /// The password for --user (ksql's -p); prompted for when --user is
        /// given without it.
        #[arg(
            short = 'p',
            long = "password",
            env = "SLUICE_PASSWORD",
            requires = "user"
        )]
        password: Option<String>,
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

async fn run(mut cli: Cli) -> sluice::error::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), std::env::vars())?;
    // Flags and their environment variables override the file.
    cli.bootstrap_servers = cli
        .bootstrap_servers
        .or_else(|| settings.bootstrap_servers.clone());
    cli.service_id = cli.service_id.or_else(|| settings.service_id.clone());
    cli.schema_registry = cli
        .schema_registry
        .or_else(|| settings.schema_registry_url.clone());
    if let Some(info) = &settings.schema_registry_user_info {
        let Some(url) = &cli.schema_registry else {
            return Err(sluice::error::Error::user(
                "ksql.schema.registry.basic.auth.user.info is set without a registry: set \
                 ksql.schema.registry.url (or --schema-registry)",
            ));
        };
        // The registry client takes its credentials from the URL.
        cli.schema_registry = Some(match url.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{info}@{rest}"),
            None => format!("{info}@{url}"),
        });
    }
    sluice::kafka::set_client_properties(settings.kafka.clone())?;
    let server_only = settings.server_only();
    if !server_only.is_empty() && !matches!(cli.command, Command::Server { .. }) {
        return Err(sluice::error::Error::user(format!(
            "The configuration sets {}, which only `sluice server` uses (its REST listener); \
             this command would not honour {}. Use a file without them here, or set the \
             Kafka properties with SLUICE_PROPERTY_* variables.",
            server_only.join(", "),
            if server_only.len() == 1 { "it" } else { "them" }
        )));
    }
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
            user,
            password,
        } => return remote_shell(&url, user, password, execute, file).await,
        other => other,
    };
    let broker: Arc<dyn Broker> = match &cli.bootstrap_servers {
        Some(b) => {
            let broker = KafkaBroker::connect(b)?;
            broker.check_connection(CONNECT_TIMEOUT).await?;
            Arc::new(broker)
        }
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
        service_id: cli
            .service_id
            .clone()
            .unwrap_or_else(|| "default_".to_string()),
        properties: settings.query_properties.clone(),
        // The server keeps its catalog and queries in the command topic; a
        // local shell or script is a session of its own and keeps nothing.
        command_topic: matches!(command, Command::Server { .. }),
        ..Config::default()
    };
    if let Some(ms) = settings
        .query_properties
        .get("ksql.streams.commit.interval.ms")
        .and_then(|v| v.parse::<u64>().ok())
    {
        config.task.commit_interval = std::time::Duration::from_millis(ms);
    }
    let listener = match &command {
        Command::Server {
            listen: Some(l), ..
        } => Listener::parse(l)?,
        _ => settings.listener.clone().unwrap_or(Listener {
            https: false,
            address: std::net::SocketAddr::from(([0, 0, 0, 0], 8088)),
        }),
    };
    let advertised = match &command {
        Command::Server {
            advertised_listener,
            ..
        } => advertised_listener
            .clone()
            .or_else(|| settings.advertised_listener.clone()),
        _ => None,
    };
    if let Command::Server { .. } = &command {
        // The same on every restart of this server (exactly-once tasks'
        // transactional ids).
        let name = advertised
            .clone()
            .unwrap_or_else(|| listener.address.to_string());
        config.instance_id = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
    }
    // The flag, else the file's default for queries.
    let offset_reset = cli.offset_reset.clone().or_else(|| {
        settings
            .query_properties
            .get("ksql.streams.auto.offset.reset")
            .cloned()
    });
    match offset_reset
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("earliest") => config.default_start = sluice::runtime::io::StartFrom::Earliest,
        Some("latest") | None => {}
        Some(other) => {
            return Err(sluice::error::Error::user(format!(
                "--offset-reset is '{other}': expected earliest or latest"
            )))
        }
    }
    let serve_options = sluice::server::ServeOptions {
        listener,
        advertised,
        tls: settings.tls.clone(),
        authentication: settings.authentication.clone(),
    };
    // The server's embedded registry takes the REST API's users and, for
    // an https:// listener, its certificate.
    let registry_access = match &command {
        Command::Server { .. } => sluice::sr::server::Access {
            auth: serve_options.basic_auth()?,
            tls: serve_options.tls_config()?,
        },
        _ => Default::default(),
    };
    let registry = ProcessRegistry::open(
        &broker,
        cli.schema_registry.as_deref(),
        Listen::parse(cli.schema_registry_listen.as_deref())?,
        matches!(command, Command::Server { .. }),
        cli.bootstrap_servers.is_some(),
        registry_access,
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
        Command::Server { .. } => sluice::server::serve(engine, serve_options).await,
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
    user: Option<String>,
    password: Option<String>,
    execute: Option<String>,
    file: Option<std::path::PathBuf>,
) -> sluice::error::Result<()> {
    let mut server = sluice::shell::remote::RemoteServer::parse(url)?;
    if let Some(user) = user {
        let password = match password {
            Some(p) => p,
            None => rpassword_prompt(&user)?,
        };
        server = server.with_credentials(&user, &password);
    }
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

/// Reads a password from the terminal without echoing it.
fn rpassword_prompt(user: &str) -> sluice::error::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    eprint!("Password for {user}: ");
    let _ = std::io::stderr().flush();
    let echo_off = terminal && set_echo(false);
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if echo_off {
        set_echo(true);
        eprintln!();
    }
    read.map_err(|e| sluice::error::Error::user(format!("cannot read the password: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turns the terminal's echo on or off; false when it cannot.
fn set_echo(on: bool) -> bool {
    // SAFETY: tcgetattr and tcsetattr read and write the struct given, on
    // standard input's descriptor.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
            return false;
        }
        if on {
            t.c_lflag |= libc::ECHO;
        } else {
            t.c_lflag &= !libc::ECHO;
        }
        libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) == 0
    }
}
