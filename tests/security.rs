//! Kafka security end to end: `sluice server --config FILE` against a
//! Tansu broker process that requires SASL (SCRAM-SHA-512; PLAIN is
//! passed through, and refused by Tansu, which offers only SCRAM), and
//! against a broker behind TLS; a wrong password or an unknown CA stops the
//! server at start with a message that names the cause.
//!
//! Tansu 0.6.0 cannot serve TLS itself (its `--cert` and `--key` flags are
//! declared mutually exclusive), so the TLS test puts a TLS terminator
//! (rustls, in this test) in front of the broker and has the broker
//! advertise it: every byte sluice exchanges with the broker crosses TLS,
//! verified against a CA made for the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{free_port, Server, Tansu};
use serde_json::json;

/// A properties file in `dir`.
fn write_config(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write the config");
    path
}

/// Runs `sluice server --config FILE`, which must exit within `deadline`;
/// its exit success and output.
fn run_until_exit(config: &Path, deadline: Duration) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["server", "--config"])
        .arg(config)
        .args(["--schema-registry-listen", "off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "sluice server did not stop within {deadline:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Creates a stream, a query over it and a row through the server, then
/// reads the query's output back with a push query: every step a Kafka
/// client of sluice's (producer, query consumer and producer, push query
/// consumer) talking to the secured broker.
async fn round_trip(server: &Server, prefix: &str) {
    server
        .ksql(&format!(
            "CREATE STREAM {prefix}_in (id INT KEY, name STRING) WITH \
             (kafka_topic='{prefix}_in', value_format='json', partitions=1);"
        ))
        .await;
    server
        .ksql(&format!(
            "CREATE STREAM {prefix}_out AS SELECT id, UCASE(name) AS name FROM {prefix}_in;"
        ))
        .await;
    server
        .ksql(&format!(
            "INSERT INTO {prefix}_in (id, name) VALUES (7, 'secured');"
        ))
        .await;
    let body = json!({
        "ksql": format!("SELECT * FROM {prefix}_out EMIT CHANGES LIMIT 1;"),
        "streamsProperties": {"auto.offset.reset": "earliest"},
    });
    let read = async {
        let (status, mut rows) = server
            .remote()
            .post("/query", &body, "application/vnd.ksql.v1+json")
            .await
            .expect("push query");
        let mut text = String::new();
        while let Some(line) = rows.next_line().await.expect("row") {
            text.push_str(&line);
        }
        (status, text)
    };
    let (status, text) = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("no row within 60 s; log:\n{}", server.log_text()));
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("SECURED") && text.contains('7'),
        "the query's output row: {text}\nlog:\n{}",
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_and_plain_to_tansu_and_a_wrong_password_stops_the_start() {
    let Some(mut tansu) = Tansu::start_or_skip("sasl_scram_and_plain_to_tansu") else {
        return;
    };
    // Users are created while the broker is open, then it restarts
    // requiring authentication.
    let created = Command::new(tansu.binary())
        .args(["user", "create", "--broker"])
        .arg(format!("tcp://{}", tansu.bootstrap()))
        .args(["--mechanism", "scram512", "alice", "alice-secret"])
        .output()
        .expect("tansu user create");
    assert!(
        created.status.success(),
        "tansu user create: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    tansu.restart_with(&["--authentication"], None);
    let dir = tempfile::tempdir().expect("dir");

    // An unauthenticated client is refused: the broker really requires SASL.
    let plain = write_config(
        dir.path(),
        "none.properties",
        &[
            format!("bootstrap.servers={}", tansu.bootstrap()),
            format!("listeners=http://127.0.0.1:{}", free_port()),
        ],
    );
    let (ok, output) = run_until_exit(&plain, Duration::from_secs(60));
    assert!(!ok, "a client without SASL got in: {output}");
    assert!(output.contains("Cannot connect to Kafka"), "{output}");

    // The wrong password: a clear error at start, not a hang.
    let wrong = write_config(
        dir.path(),
        "wrong.properties",
        &[
            format!("bootstrap.servers={}", tansu.bootstrap()),
            format!("listeners=http://127.0.0.1:{}", free_port()),
            "security.protocol=SASL_PLAINTEXT".into(),
            "sasl.mechanism=SCRAM-SHA-512".into(),
            "sasl.username=alice".into(),
            "sasl.password=not-her-password".into(),
        ],
    );
    let started = Instant::now();
    let (ok, output) = run_until_exit(&wrong, Duration::from_secs(60));
    assert!(!ok, "the server started with a wrong password: {output}");
    assert!(
        output.contains("SASL") && output.contains("sasl.password"),
        "the error names SASL and what to check: {output}"
    );
    assert!(started.elapsed() < Duration::from_secs(30), "{output}");

    // SCRAM with the right password, the password from the environment.
    let port = free_port();
    let scram = write_config(
        dir.path(),
        "scram.properties",
        &[
            format!("bootstrap.servers={}", tansu.bootstrap()),
            format!("listeners=http://127.0.0.1:{port}"),
            "ksql.service.id=scram_".into(),
            "security.protocol=SASL_PLAINTEXT".into(),
            "sasl.mechanism=SCRAM-SHA-512".into(),
            "sasl.username=alice".into(),
            "client.id=sluice-security-test".into(),
        ],
    );
    let server = Server::with_config(
        &scram,
        port,
        "scram",
        &[("SLUICE_PROPERTY_SASL_PASSWORD", "alice-secret")],
    );
    round_trip(&server, "scram").await;
    drop(server);

    // PLAIN reaches the broker as configured (with the `ksql.streams.`
    // prefix): Tansu 0.6.0 offers only SCRAM, and the error says which
    // mechanism the handshake asked for.
    let plain = write_config(
        dir.path(),
        "plain.properties",
        &[
            format!("bootstrap.servers={}", tansu.bootstrap()),
            format!("listeners=http://127.0.0.1:{}", free_port()),
            "ksql.streams.security.protocol=SASL_PLAINTEXT".into(),
            "sasl.mechanism=PLAIN".into(),
            "sasl.username=bob".into(),
            "sasl.password=bob-secret".into(),
        ],
    );
    let (ok, output) = run_until_exit(&plain, Duration::from_secs(60));
    assert!(!ok, "{output}");
    assert!(output.contains("SASL PLAIN"), "{output}");
}

/// A CA and a certificate it signed for localhost and 127.0.0.1, as PEM
/// files in `dir`: (CA certificate, server certificate, server key).
fn make_certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params");
    let cert = params.signed_by(&key, &issuer).expect("certificate");
    let paths = (
        dir.join(format!("{name}-ca.pem")),
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&paths.0, ca_cert.pem()).expect("write");
    std::fs::write(&paths.1, cert.pem()).expect("write");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write");
    paths
}

/// Accepts TLS on a free port and relays each connection to `upstream`;
/// returns the port.
async fn tls_terminator(cert: &Path, key: &Path, upstream: u16) -> u16 {
    let config = sluice::net::tls_config(cert, key).expect("TLS identity");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut broker) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_broker_with_a_test_ca_and_an_unknown_ca_stops_the_start() {
    let Some(mut tansu) = Tansu::start_or_skip("tls_to_the_broker") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = make_certificates(dir.path(), "broker");
    let tls_port = tls_terminator(&cert, &key, tansu.port).await;
    tansu.restart_with(&[], Some(tls_port));

    // A CA that did not sign the broker's certificate.
    let (other_ca, _, _) = make_certificates(dir.path(), "other");
    let untrusted = write_config(
        dir.path(),
        "untrusted.properties",
        &[
            format!("bootstrap.servers=127.0.0.1:{tls_port}"),
            format!("listeners=http://127.0.0.1:{}", free_port()),
            "security.protocol=SSL".into(),
            format!("ssl.ca.location={}", other_ca.display()),
        ],
    );
    let (ok, output) = run_until_exit(&untrusted, Duration::from_secs(60));
    assert!(
        !ok,
        "the server trusted a broker its CA did not sign: {output}"
    );
    assert!(
        output.contains("ssl.ca.location") && output.contains("certificate"),
        "the error names the certificate check: {output}"
    );

    let port = free_port();
    let trusted = write_config(
        dir.path(),
        "tls.properties",
        &[
            format!("bootstrap.servers=localhost:{tls_port}"),
            format!("listeners=http://127.0.0.1:{port}"),
            "ksql.service.id=tls_".into(),
            "security.protocol=SSL".into(),
            format!("ssl.ca.location={}", ca.display()),
        ],
    );
    let server = Server::with_config(&trusted, port, "tls", &[]);
    round_trip(&server, "tls").await;
}

#[test]
fn a_misspelled_or_unhonoured_key_stops_the_start_with_its_line() {
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(
        dir.path(),
        "typo.properties",
        &[
            format!("listeners=http://127.0.0.1:{}", free_port()),
            "ksql.service.idd=prod_".into(),
            "enable.auto.commit=true".into(),
        ],
    );
    let (ok, output) = run_until_exit(&config, Duration::from_secs(30));
    assert!(!ok, "{output}");
    assert!(
        output.contains("typo.properties:2: unknown property 'ksql.service.idd' (did you mean 'ksql.service.id'?)")
            && output.contains("typo.properties:3: 'enable.auto.commit' cannot be set"),
        "{output}"
    );
}

/// Two servers of one service with Basic authentication split a table's
/// partitions; a pull query on either answers every key, the keys of the
/// other server's partitions through a forwarded request that carries the
/// caller's credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_pull_queries_carry_the_callers_credentials() {
    let Some(tansu) = Tansu::start_or_skip("forwarded_pull_queries_carry_the_callers_credentials")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("users"), "alice: wonderland\n").expect("users");
    let mut servers = Vec::new();
    for name in ["one", "two"] {
        let port = free_port();
        let config = write_config(
            dir.path(),
            &format!("{name}.properties"),
            &[
                format!("bootstrap.servers={}", tansu.bootstrap()),
                format!("listeners=http://127.0.0.1:{port}"),
                "ksql.service.id=two_servers_".into(),
                "authentication.method=BASIC".into(),
                format!(
                    "authentication.basic.users={}",
                    dir.path().join("users").display()
                ),
            ],
        );
        servers.push(Server::with_config(&config, port, name, &[]));
    }
    let client = |s: &Server| s.remote().with_credentials("alice", "wonderland");
    let ksql =
        |sql: &str| json!({"ksql": sql, "streamsProperties": {"auto.offset.reset": "earliest"}});
    for sql in [
        "CREATE STREAM visits (who STRING KEY, n INT) WITH (kafka_topic='visits', value_format='json', partitions=4);",
        "CREATE TABLE visit_totals AS SELECT who, SUM(n) AS total FROM visits GROUP BY who;",
    ] {
        client(&servers[0])
            .post_json("/ksql", &ksql(sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
    for k in keys {
        client(&servers[0])
            .post_json(
                "/ksql",
                &ksql(&format!("INSERT INTO visits (who, n) VALUES ('{k}', 1);")),
            )
            .await
            .expect("insert");
    }
    // Until both servers read a share of the partitions and each answers
    // every key.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    loop {
        let mut complete = true;
        for s in &servers {
            for k in keys {
                let body =
                    json!({"ksql": format!("SELECT * FROM visit_totals WHERE who = '{k}';")});
                match client(s).post_json("/query", &body).await {
                    Ok(answer) if answer.to_string().contains(&format!("[\"{k}\",1]")) => {}
                    Ok(answer) => {
                        complete = false;
                        last = answer.to_string();
                    }
                    Err(e) => {
                        complete = false;
                        last = e.to_string();
                    }
                }
            }
        }
        let status = client(&servers[1])
            .post_json("/ksql", &json!({"ksql": "SHOW QUERIES;"}))
            .await
            .map(|_| ())
            .is_ok();
        // Each server reads some of the partitions (so some keys are the
        // other's).
        let cluster = servers[0].get_with_auth("/clusterStatus", "alice", "wonderland");
        let hosts_reading = cluster["clusterStatus"]
            .as_object()
            .map(|hosts| {
                hosts
                    .values()
                    .filter(|h| {
                        h["activeStandbyPerQuery"].as_object().is_some_and(|q| {
                            q.values().any(|p| {
                                p["activePartitions"]
                                    .as_array()
                                    .is_some_and(|a| !a.is_empty())
                            })
                        })
                    })
                    .count()
            })
            .unwrap_or(0);
        let split = hosts_reading == 2;
        if complete && status && split {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every key answered on both servers: {last}\nlog one:\n{}\nlog two:\n{}",
            servers[0].log_text(),
            servers[1].log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
