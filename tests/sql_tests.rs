//! Runs the project's own declarative tests (`sql-tests/*.sql`) through the
//! test runner, as `sluice test sql-tests` does; every case must pass.

use std::path::PathBuf;

use sluice::testing::report::case_lines;
use sluice::testing::{self, Options, Status, Summary};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_tests_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql-tests");
    let loaded = testing::load(&[dir]).expect("the sql-tests load");
    assert!(!loaded.cases.is_empty(), "no cases in sql-tests/");
    let results = testing::run(loaded.cases, &Options::default(), |_| {}).await;
    let failures: Vec<String> = results
        .iter()
        .filter(|r| r.status != Status::Pass)
        .map(case_lines)
        .collect();
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        Summary::of(&results).line()
    );
}
