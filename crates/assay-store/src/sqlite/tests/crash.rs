//! `kill -9` at an arbitrary instant loses nothing acknowledged.
//!
//! The test binary runs itself as a child (the ignored test below, selected by an
//! environment variable) that ingests from many tasks and prints each acknowledged key. The
//! parent kills it with SIGKILL mid-stream, reopens the database and checks every printed key.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::*;

const CHILD_ENV: &str = "ASSAY_STORE_CRASH_CHILD_DB";
const ACKS_BEFORE_KILL: usize = 300;

#[test]
#[ignore = "helper: run as a child process by kill_9_loses_nothing_acknowledged"]
fn crash_child_ingests_until_killed() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).unwrap());
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for n in 0.. {
                        let key = format!("t{task}-n{n}");
                        let outcome = store.record_event(event(&key, Some(&key))).await.unwrap();
                        assert!(matches!(outcome, IngestOutcome::Accepted { .. }));
                        // One write per line so a kill cannot leave half a key.
                        println!("ack {key}");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[tokio::test]
async fn kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    // The test's name as the harness knows it: this module's path without the crate's name,
    // so the test follows the module when it moves.
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    let child_test = format!("{module}::crash_child_ingests_until_killed");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &child_test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(key) = line.strip_prefix("ack ") {
            acked.push(key.to_owned());
            if acked.len() == ACKS_BEFORE_KILL {
                // SIGKILL: no destructor, no flush, no unlock runs in the child.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(acked.len(), ACKS_BEFORE_KILL, "the child stopped early");

    let store = SqliteStore::open(&path).expect("the lock dies with the process");
    for key in &acked {
        assert_eq!(
            store.record_event(event(key, Some(key))).await.unwrap(),
            IngestOutcome::Duplicate,
            "acknowledged event {key} was lost"
        );
    }
    let filter = OrderFilter {
        limit: crate::MAX_LIST_LIMIT,
        ..OrderFilter::default()
    };
    let stored = store.list_orders(filter).await.unwrap().len();
    assert!(
        stored >= acked.len(),
        "{stored} orders for {} acks",
        acked.len()
    );
}
