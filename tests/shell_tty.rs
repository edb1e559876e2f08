//! The shell as a person sees it: the real binary in a pseudo-terminal
//! (tmux), typing statements, Tab completion and Ctrl-C, reading the
//! screen.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(cmd: &str) -> Option<Tmux> {
        let session = format!("sluice-test-{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "50",
                "-s",
                &session,
                cmd,
            ])
            .status()
            .ok()?
            .success();
        ok.then_some(Tmux { session })
    }

    /// Sends each item: key names (`Enter`, `Tab`, `C-c`) as keys, anything
    /// else as literal text.
    fn keys(&self, keys: &[&str]) {
        let send = |args: &[&str]| {
            let mut all = vec!["send-keys", "-t", self.session.as_str()];
            all.extend_from_slice(args);
            let status = Command::new("tmux")
                .args(&all)
                .status()
                .expect("tmux send-keys");
            assert!(status.success(), "tmux send-keys {args:?} failed");
        };
        for k in keys {
            if matches!(*k, "Enter" | "Tab" | "C-c") {
                send(&[k]);
                continue;
            }
            // tmux reads a trailing ';' as a command separator: send each
            // ';' as its hex code.
            for (i, part) in k.split(';').enumerate() {
                if i > 0 {
                    send(&["-H", "3b"]);
                }
                if !part.is_empty() {
                    send(&["-l", part]);
                }
            }
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-S", "-200", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text` `times` times.
    fn wait_for(&self, text: &str, times: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= times {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {text:?} {times} time(s):\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn shell_in_a_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        common::skipped(
            "shell_in_a_terminal",
            "tmux is not installed (scripts/test.sh installs it)",
        );
        return;
    }
    let bin = env!("CARGO_BIN_EXE_sluice");
    let home = tempfile::tempdir().expect("home");
    let cmd = format!("HOME={} {bin} shell", home.path().display());
    let t = Tmux::start(&cmd).expect("tmux session");
    t.wait_for("sluice>", 1);

    // A statement over two lines: the shell waits for the ';'.
    t.keys(&[
        "CREATE STREAM clicks (id INT KEY, page STRING) WITH (kafka_topic='clicks',",
        "Enter",
    ]);
    t.keys(&["value_format='json', partitions=1);", "Enter"]);
    t.wait_for("Stream created", 1);

    // Tab completes keywords and catalog names.
    t.keys(&["SHOW QUER", "Tab", ";", "Enter"]);
    t.wait_for("Query ID", 1);
    t.keys(&["DESCRIBE CLI", "Tab", ";", "Enter"]);
    let screen = t.wait_for("Kafka topic", 1);
    assert!(screen.contains("DESCRIBE CLICKS;"), "{screen}");

    // A bad statement prints one readable error and the shell goes on.
    t.keys(&["SELECT pag FROM clicks EMIT CHANGES;", "Enter"]);
    t.wait_for("Did you mean PAGE?", 1);

    // A push query streams rows; Ctrl-C stops it, not the shell.
    t.keys(&["SET 'auto.offset.reset'='earliest';", "Enter"]);
    t.wait_for("Successfully changed local property", 1);
    t.keys(&["INSERT INTO clicks (id, page) VALUES (1, 'home');", "Enter"]);
    t.keys(&["SELECT * FROM cli", "Tab"]);
    t.keys(&[" EMIT CHANGES;", "Enter"]);
    t.wait_for("| home", 1);
    t.keys(&["C-c"]);
    t.wait_for("Query terminated", 1);
    t.keys(&["SHOW STREAMS;", "Enter"]);
    t.wait_for("Stream Name", 1);
    t.keys(&["exit", "Enter"]);
}
