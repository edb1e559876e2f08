//! `sluice shell --server URL` behaves like the local shell: the same
//! statements print the same output whether they run in-process or on a
//! `sluice server` reached over the REST API.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn shell(args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .args(["--schema-registry-listen", "off"])
        .env("SLUICE_LOG", "error")
        .output()
        .expect("run the shell");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

const SCRIPT: &str = "
    CREATE STREAM orders (id INT KEY, item STRING, qty INT)
      WITH (kafka_topic='orders', value_format='json', partitions=1);
    SET 'auto.offset.reset' = 'earliest';
    INSERT INTO orders (id, item, qty) VALUES (1, 'apple', 3);
    INSERT INTO orders (id, item, qty) VALUES (2, 'pear', 0);
    SHOW STREAMS;
    DESCRIBE orders;
    SELECT id, UCASE(item) AS item FROM orders WHERE qty > 0 EMIT CHANGES LIMIT 1;
    SELECT nope FROM orders EMIT CHANGES;";

#[test]
fn remote_shell_prints_what_the_local_shell_prints() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "server",
            "--listen",
            &listen,
            "--schema-registry-listen",
            "off",
        ])
        .env("SLUICE_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let _server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "the server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (local_out, local_err, local_ok) = shell(&["shell", "-e", SCRIPT]);
    let url = format!("http://{listen}");
    let (remote_out, remote_err, remote_ok) = shell(&["shell", "--server", &url, "-e", SCRIPT]);

    assert!(
        local_out.contains("| 1            | APPLE        |"),
        "{local_out}"
    );
    assert!(local_out.contains("Limit Reached"), "{local_out}");
    assert_eq!(remote_out, local_out);
    // The failing statement is reported the same way and fails the run.
    assert!(!local_ok && !remote_ok);
    // The local shell also gives the position in the script.
    let error = |e: &str| {
        e.lines()
            .filter(|l| !l.starts_with("Started the embedded"))
            .map(|l| match l.strip_prefix("Error at line ") {
                Some(rest) => format!("Error: {}", rest.split_once(": ").map_or(rest, |(_, m)| m)),
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        error(&local_err).contains("'NOPE' cannot be resolved"),
        "{local_err}"
    );
    assert_eq!(error(&remote_err), error(&local_err));
}
