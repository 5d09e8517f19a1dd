//! The store's disk fills up under webhook load: the real host binary with its SQLite store on
//! a small tmpfs of its own, a file filling what is left of it, webhooks sent meanwhile.
//!
//! What it proves, and what RELIABILITY.md reports:
//!
//! - every webhook is answered 2xx (stored) or 503 with `Retry-After` (not stored): never
//!   another status, never a 2xx for an order the store does not have;
//! - the 503 tells StackOne the store cannot accept data now, and the host's log says why
//!   (the disk is full);
//! - once space is free again it accepts the webhooks StackOne sends again, without a restart,
//!   and every acknowledged order reaches the vendor and its result reaches StackOne.
//!
//! Mounting a tmpfs needs root; elsewhere the test skips with one line (and fails with
//! `ASSAY_REQUIRE_ALL=1`, as in CI).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assay_emulator::{OrderBuilder, OrderKind, fetch_packages, order};
use assay_store::{OrderFilter, StoreReader};
use assay_tests::harness::WAIT;
use assay_tests::process::HostProcess;

use crate::ASSAY;

/// The store's filesystem: room for the schema and some orders, small enough to fill fast.
const DISK_BYTES: u64 = 16 << 20;
/// Orders sent while the disk is full.
const WHILE_FULL: u64 = 60;

/// A tmpfs of [`DISK_BYTES`] mounted on a temporary folder; unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (after saying why) where this process may not mount.
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={DISK_BYTES}")])
            .arg("tmpfs")
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk { dir }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    !assay_tests::browser::require_all(),
                    "ASSAY_REQUIRE_ALL=1 and a tmpfs cannot be mounted ({why}): run the tests as root"
                );
                println!("skipped: the full-disk test mounts a tmpfs, which needs root ({why})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left of the disk with one file; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let chunk = vec![0u8; 64 << 10];
        // Then byte by byte-ish, so nothing is left.
        for size in [chunk.len(), 4096, 512, 1] {
            while file.write_all(&chunk[..size]).is_ok() {}
        }
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_loses_nothing_acknowledged_and_recovers_without_a_restart() {
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let store = disk.path().join("assay.db");
    let host =
        HostProcess::start_with_env(Path::new(ASSAY), &[("ASSAY_STORE_PATH", store.as_os_str())])
            .await;
    let whsec = host.secrets.whsec.clone();
    let package = fetch_packages(
        &host.url(),
        "codetest",
        order::DEFAULT_ACCOUNT_ID,
        order::DEFAULT_PROVIDER,
        &host.secrets.package_key,
        &whsec,
    )
    .await
    .expect("the package list")
    .data
    .remove(0);
    let webhook = |sequence: u64| {
        OrderBuilder::new(OrderKind::Assessment, package.clone())
            .sequence(sequence)
            .stackone_base_url(host.stackone.base_url())
            .build()
    };
    let mut acknowledged = BTreeSet::new();
    let mut refused = Vec::new();
    for sequence in 1..=5 {
        let w = webhook(sequence);
        let status = host.send("codetest", &w).await;
        assert_eq!(status, 200, "before the disk is full");
        acknowledged.insert(w.order_id);
    }

    let filler = disk.fill();
    let client = reqwest::Client::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut said = None;
    for sequence in 100..100 + WHILE_FULL {
        let w = webhook(sequence);
        let status = host.send("codetest", &w).await;
        *statuses.entry(status).or_default() += 1;
        match status {
            200..=299 => {
                acknowledged.insert(w.order_id);
            }
            503 => {
                if said.is_none() {
                    // The same request again, to read the answer's body and headers.
                    let url = format!("{}/v1/products/codetest/webhooks", host.url());
                    let again = client
                        .post(url)
                        .header(
                            "x-stackone-signature",
                            assay_wire::signature::sign(&w.body, &whsec),
                        )
                        .header("content-type", "application/json")
                        .body(w.body.clone())
                        .send()
                        .await
                        .expect("the host answers");
                    let retry_after = again.headers().get("retry-after").cloned();
                    let status = again.status().as_u16();
                    let body = again.text().await.unwrap_or_default();
                    if status == 503 {
                        assert!(retry_after.is_some(), "a 503 says when to retry: {body}");
                        said = Some(body);
                    }
                }
                refused.push(w);
            }
            other => panic!(
                "a full disk must answer 503 or store the order; got {other}:\n{}",
                host.log_text()
            ),
        }
    }
    let body =
        said.unwrap_or_else(|| panic!("the disk never filled: {statuses:?}\n{}", host.log_text()));
    // StackOne is told to come back; the operator's log says why.
    assert!(body.contains("store"), "the 503 names the store: {body}");
    assert!(
        host.wait_for_log("database or disk is full").await,
        "the log names the full disk:\n{}",
        host.log_text()
    );

    // Space again: StackOne's retries of the refused webhooks are accepted, no restart.
    std::fs::remove_file(&filler).expect("free the disk");
    let deadline = Instant::now() + WAIT;
    for w in &refused {
        loop {
            let status = host.send("codetest", w).await;
            if status == 200 {
                acknowledged.insert(w.order_id.clone());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "still {status} after the disk was freed:\n{}",
                host.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Every acknowledged order is stored once, reached the vendor, and its first result
    // reached StackOne.
    for order_id in &acknowledged {
        host.stackone
            .wait_for_accepted(order_id, WAIT)
            .await
            .unwrap_or_else(|e| panic!("no result of {order_id} reached StackOne: {e:?}"));
    }
    let reader = StoreReader::open(&store).expect("read the store");
    let stored = reader
        .list_orders(OrderFilter {
            limit: 10_000,
            ..OrderFilter::default()
        })
        .await
        .expect("list orders");
    let ids: Vec<&str> = stored.iter().map(|o| o.order_id.as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no order stored twice");
    for order_id in &acknowledged {
        assert!(
            unique.contains(order_id.as_str()),
            "{order_id} was acknowledged and lost"
        );
    }
    let invited: BTreeSet<String> = host
        .vendor
        .invitations()
        .into_iter()
        .map(|i| i.reference)
        .collect();
    assert!(acknowledged.iter().all(|o| invited.contains(o)));
    let log = host.log_text();
    let logged = log
        .lines()
        .find(|l| l.contains("database or disk is full"))
        .unwrap_or_default();
    println!(
        "full disk: {} webhooks while full answered {statuses:?}; {} refused then accepted \
         after space was freed; {} orders acknowledged, {} stored, 0 lost; 503 said: {body}; \
         the log said: {logged}",
        WHILE_FULL,
        refused.len(),
        acknowledged.len(),
        unique.len()
    );
}
