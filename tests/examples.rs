//! The example scenarios of `examples/`, as a user runs them: `sluice
//! example run NAME` end to end on the embedded broker, with its output
//! checked (the alerts each scenario exists to find, and the excerpts the
//! README quotes), and the live path of the README: `sluice server`, the
//! pipeline through `sluice shell --server`, the data through `sluice
//! example data`, the alerts through a push query.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SCENARIOS: &[&str] = &["card-fraud", "iot", "clickstream", "trading"];

/// Runs sluice with `args`, killing it if it outlives `deadline`.
fn sluice(args: &[&str], deadline: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    let begin = Instant::now();
    while child.try_wait().expect("wait for sluice").is_none() {
        if begin.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("sluice output");
            panic!(
                "sluice {args:?} did not finish within {deadline:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("sluice output")
}

/// `sluice example run NAME [extra]`: its stdout, after checking it
/// succeeded.
fn run_example(name: &str, extra: &[&str]) -> String {
    let mut args = vec!["example", "run", name];
    args.extend_from_slice(extra);
    let out = sluice(&args, Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sluice example run {name} failed; stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The lines of one result topic's section: its heading and rows.
fn section(stdout: &str, topic: &str) -> Vec<String> {
    let heading = format!("{topic}: ");
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(&heading))
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks that every line of `expected` is a line of `actual`, in order.
fn assert_lines_in_order(expected: &[&str], actual: &str, what: &str) {
    let mut lines = actual.lines();
    for want in expected {
        assert!(
            lines.any(|l| l.trim_end() == want.trim_end()),
            "{what}: the line\n{want}\nis missing (or out of order) in:\n{actual}"
        );
    }
}

/// The output excerpt the README shows for `name`: the ```text block after
/// `<!-- example-output: NAME -->`, without its `…` lines.
fn readme_excerpt(name: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let marker = format!("<!-- example-output: {name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no '{marker}'"))
        .1;
    let block = after
        .split_once("```text\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap_or_else(|| panic!("README.md has no ```text block after '{marker}'"))
        .0;
    block
        .lines()
        .filter(|l| l.trim() != "…" && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks that `stdout` of example `name` holds the excerpt the README
/// shows for it.
fn assert_readme_excerpt(name: &str, stdout: &str) {
    let excerpt = readme_excerpt(name);
    let excerpt: Vec<&str> = excerpt.iter().map(String::as_str).collect();
    assert_lines_in_order(&excerpt, stdout, &format!("README excerpt of {name}"));
}

#[test]
fn every_example_is_listed_with_its_pipeline_and_readme_excerpt() {
    let listed = sluice(&["example", "list"], Duration::from_secs(30));
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for name in SCENARIOS {
        let pipeline = format!(
            "{}/examples/{name}/pipeline.sql",
            env!("CARGO_MANIFEST_DIR")
        );
        assert!(
            std::path::Path::new(&pipeline).is_file(),
            "{pipeline} is missing"
        );
        assert!(listed.contains(name), "{listed}");
        assert!(readme_excerpt(name).len() > 2, "README excerpt of {name}");
    }
}

#[test]
fn card_fraud_alerts_large_amounts_and_bursts_for_any_seed() {
    let stdout = run_example("card-fraud", &[]);
    assert_readme_excerpt("card-fraud", &stdout);
    let alerts = section(&stdout, "FRAUD_ALERTS");
    assert_eq!(
        alerts,
        [
            "FRAUD_ALERTS: 6 records (a stream; by record time)",
            r#"  09:02:15  card-07  {"REASON":"LARGE_AMOUNT","AMOUNT":2499.0,"TXN_COUNT":1,"SEEN_AT":"2024-05-01 09:02:15"}"#,
            r#"  09:03:51  card-12  {"REASON":"MANY_TXNS_PER_MINUTE","AMOUNT":164.47,"TXN_COUNT":6,"SEEN_AT":"2024-05-01 09:03:00"}"#,
            r#"  09:05:42  card-23  {"REASON":"LARGE_AMOUNT","AMOUNT":1850.5,"TXN_COUNT":1,"SEEN_AT":"2024-05-01 09:05:42"}"#,
            r#"  09:06:52  card-35  {"REASON":"LARGE_AMOUNT","AMOUNT":1320.0,"TXN_COUNT":1,"SEEN_AT":"2024-05-01 09:06:52"}"#,
            r#"  09:06:52  card-35  {"REASON":"MANY_TXNS_PER_MINUTE","AMOUNT":2418.65,"TXN_COUNT":8,"SEEN_AT":"2024-05-01 09:06:00"}"#,
            r#"  09:07:05  card-31  {"REASON":"LARGE_AMOUNT","AMOUNT":1200.0,"TXN_COUNT":1,"SEEN_AT":"2024-05-01 09:07:05"}"#,
        ]
    );
    // The near miss (four transactions of card-18 in a minute) is no burst.
    assert_eq!(section(&stdout, "CARD_MINUTES").len(), 3, "{stdout}");
    // Other background traffic, the same alerts.
    let other = run_example("card-fraud", &["--seed", "7"]);
    assert_eq!(section(&other, "FRAUD_ALERTS"), alerts);
    assert_ne!(other, stdout);
}

#[test]
fn iot_averages_every_sensor_minute_and_alerts_on_hot_minutes_only() {
    let stdout = run_example("iot", &[]);
    assert_readme_excerpt("iot", &stdout);
    assert_eq!(
        section(&stdout, "OVERHEATING_ALERTS"),
        [
            "OVERHEATING_ALERTS: 3 rows (a table of 1-minute windows; the latest row per key and window)",
            r#"  sensor-3  [09:04:00, 09:05:00)  {"AVG_TEMP":38.5,"MAX_TEMP":45.0,"READINGS":6}"#,
            r#"  sensor-3  [09:05:00, 09:06:00)  {"AVG_TEMP":46.42,"MAX_TEMP":48.0,"READINGS":6}"#,
            r#"  sensor-8  [09:07:00, 09:08:00)  {"AVG_TEMP":36.25,"MAX_TEMP":37.0,"READINGS":6}"#,
        ]
    );
    let averages = section(&stdout, "SENSOR_AVERAGES");
    // Eight sensors, ten minutes, six readings each.
    assert_eq!(averages.len(), 1 + 80, "{stdout}");
    assert!(averages[1..].iter().all(|l| l.contains(r#""READINGS":6,"#)));
    // The glitch shows in its minute's maximum, not as an alert.
    let glitch = averages
        .iter()
        .find(|l| l.contains("sensor-6  [09:02:00, 09:03:00)"))
        .expect("sensor-6 at 09:02");
    assert!(glitch.contains(r#""MAX_TEMP":90.0"#), "{glitch}");
}

#[test]
fn clickstream_splits_sessions_on_five_idle_minutes() {
    let stdout = run_example("clickstream", &[]);
    assert_readme_excerpt("clickstream", &stdout);
    let sessions = section(&stdout, "USER_SESSIONS");
    let of = |user: &str| -> Vec<&str> {
        sessions
            .iter()
            .filter(|l| l.starts_with(&format!("  {user} ")))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(
        of("alice"),
        [
            r#"  alice  [09:00:30, 09:03:20]  {"PAGES":5,"ENTRY_PAGE":"/home","EXIT_PAGE":"/checkout","SECONDS":170}"#,
            r#"  alice  [09:08:30, 09:08:45]  {"PAGES":2,"ENTRY_PAGE":"/home","EXIT_PAGE":"/blog/streaming-sql","SECONDS":15}"#,
        ]
    );
    assert_eq!(
        of("bob"),
        [
            r#"  bob    [09:00:05, 09:05:40]  {"PAGES":4,"ENTRY_PAGE":"/home","EXIT_PAGE":"/help","SECONDS":335}"#
        ]
    );
    let activity = section(&stdout, "USER_ACTIVITY");
    assert_eq!(activity.len(), 1 + 10, "{stdout}");
    assert!(activity.contains(
        &r#"  alice  {"PAGE_VIEWS":7,"DISTINCT_PAGES":6,"LAST_PAGE":"/blog/streaming-sql"}"#
            .to_string()
    ));
}

#[test]
fn trading_alerts_on_the_two_drops_only() {
    let stdout = run_example("trading", &[]);
    assert_readme_excerpt("trading", &stdout);
    let alerts = section(&stdout, "PRICE_DROP_ALERTS");
    let windows: Vec<&str> = alerts[1..]
        .iter()
        .map(|l| l.split("  {").next().unwrap_or_default())
        .collect();
    assert_eq!(
        windows,
        [
            "  BOLT  [09:06:40, 09:07:40)",
            "  BOLT  [09:07:00, 09:08:00)",
            "  CRUX  [09:03:20, 09:04:20)",
            "  CRUX  [09:03:40, 09:04:40)",
            "  CRUX  [09:04:00, 09:05:00)",
        ]
    );
    // Four symbols, windows of a minute every 20 seconds over ten minutes
    // (and the two that start before the data).
    assert_eq!(section(&stdout, "MOVING_AVERAGES").len(), 1 + 4 * 32);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_live_path_of_the_readme_server_shell_data_push_query() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "server",
            "--listen",
            &listen,
            "--schema-registry-listen",
            "off",
        ])
        .env("SLUICE_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let stderr = child.stderr.take().expect("server stderr");
    let server = Server(child);
    // "Started the embedded Kafka broker at HOST:PORT (…"
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("Started the embedded Kafka broker at ") {
                let address = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(address.to_string());
            }
        }
    });
    let broker = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server names its embedded broker");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://{listen}");
    let pipeline = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/iot/pipeline.sql");
    let out = sluice(
        &["shell", "--server", &url, "-f", pipeline],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Created query with ID CTAS_OVERHEATING_ALERTS_"),
        "{stdout}"
    );
    let out = sluice(
        &[
            "example",
            "data",
            "iot",
            "--bootstrap-servers",
            &broker,
            "--rate",
            "1000",
        ],
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sluice(
        &[
            "shell",
            "--server",
            &url,
            "-e",
            "SET 'auto.offset.reset' = 'earliest';
             SELECT sensor_id, TIMESTAMPTOSTRING(WINDOWSTART, 'HH:mm', 'UTC') AS minute, avg_temp
             FROM overheating_alerts EMIT CHANGES LIMIT 3;",
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_lines_in_order(
        &[
            "| sensor-3     | 09:04        | 38.5         |",
            "| sensor-3     | 09:05        | 46.42        |",
            "| sensor-8     | 09:07        | 36.25        |",
            "Limit Reached",
        ],
        &stdout,
        "the push query on the server",
    );
    drop(server);
}
