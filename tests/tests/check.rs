//! `assay check`: every line ✓ against the test deployment (the README's setup with the
//! emulator for StackOne), and each kind of ✗ with its fix: configuration problems all at once,
//! then each step of StackOne's checklist against a running host.

use std::process::Output;

use assay_tests::harness::{Deployment, secret_vars};
use tokio::process::Command;

use crate::ASSAY;

/// `assay check --config CONFIG ARGS` with the deployment's variables set, `overrides`
/// replacing some of them and `unset` removed.
async fn check(
    d: &Deployment,
    config: &std::path::Path,
    args: &[&str],
    overrides: &[(&str, &str)],
    unset: &[&str],
) -> Output {
    let mut command = Command::new(ASSAY);
    command.arg("check").arg("--config").arg(config).args(args);
    for (name, value) in secret_vars(&d.secrets) {
        command.env(name, value.expose());
    }
    for (name, value) in overrides {
        command.env(name, value);
    }
    for name in unset {
        command.env_remove(name);
    }
    command.output().await.expect("run assay check")
}

/// Standard output and error, for assertion messages.
fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The lines of standard output starting with `mark`.
fn lines(output: &Output, mark: char) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with(mark))
        .map(str::to_owned)
        .collect()
}

/// A port nothing listens on.
fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

/// The configuration the deployment's host reads.
fn config_text(d: &Deployment) -> String {
    std::fs::read_to_string(d.config_path()).expect("read the configuration")
}

/// Writes `text` as another configuration file in the deployment's folder.
fn other_config(d: &Deployment, text: &str) -> std::path::PathBuf {
    let path = d.dir.path().join("check.toml");
    std::fs::write(&path, text).expect("write the configuration");
    path
}

#[tokio::test]
async fn check_passes_every_line_against_the_test_deployment() {
    let d = Deployment::start().await;
    // Test orders are orders StackOne never sent; the emulator, unlike StackOne, may take
    // their results (the real one answers 404, which the check reports).
    d.stackone.set_reject_unknown_orders(false);
    let out = check(&d, &d.config_path(), &["--url", &d.url()], &[], &[]).await;
    // Shown with --nocapture: what a vendor sees.
    println!("{}", said(&out));
    assert!(out.status.success(), "{}", said(&out));
    assert!(lines(&out, '✗').is_empty(), "{}", said(&out));
    let passed = lines(&out, '✓');
    for expected in [
        "is TOML",
        "secret references resolve",
        "configuration values are valid (2 products: backcheck, codetest)",
        "product `codetest`: plugin",
        "product `backcheck`: plugin",
        "serves `assessment`; its settings fit",
        "serves `background_check`; its settings fit",
        "allowed host",
        "is ready",
        "the package list answers with auth and signature, in StackOne's shape",
        "the package list refuses a request without credentials",
        "CORS preflight from https://ats.example",
        "a signed order webhook is accepted",
        "the test order's first result reaches StackOne",
        "the result fits recruitee's connector meta",
    ] {
        assert!(
            passed.iter().any(|l| l.contains(expected)),
            "no ✓ line with {expected:?}:\n{}",
            said(&out)
        );
    }
    // Both products' host checks ran: five each, plus two per product before them.
    for product in ["codetest", "backcheck"] {
        let n = passed
            .iter()
            .filter(|l| l.contains(&format!("product `{product}`")))
            .count();
        assert_eq!(n, 8, "{product}:\n{}", said(&out));
    }
    let last = String::from_utf8_lossy(&out.stdout);
    assert!(
        last.trim_end()
            .ends_with(&format!("all {} checks passed", passed.len())),
        "{last}"
    );
    // The test orders were real: StackOne has their results.
    let delivered: Vec<_> = d
        .stackone
        .deliveries()
        .into_iter()
        .filter(|r| r.order_id.starts_with("assay-send-test-"))
        .collect();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
}

#[tokio::test]
async fn check_names_every_configuration_problem_at_once() {
    let d = Deployment::start().await;
    let unreachable = free_port();
    let text = config_text(&d)
        // A file that does not exist.
        .replacen(
            "webhook_secret = \"env:T_VENDOR_SECRET\"",
            "webhook_secret = \"file:missing.secret\"",
            1,
        )
        // A plugin that was never built.
        .replacen("plugin = \"codetest.wasm\"", "plugin = \"nowhere.wasm\"", 1)
        // A background-check plugin for an assessment product.
        .replacen("kind = \"background_check\"", "kind = \"assessment\"", 1)
        // An origin nothing answers on.
        .replacen(
            "allowed_hosts = [",
            &format!("allowed_hosts = [\"http://{unreachable}\", "),
            1,
        );
    let config = other_config(&d, &text);
    let out = check(&d, &config, &[], &[], &["T_VENDOR_TOKEN"]).await;
    println!("{}", said(&out));
    assert!(!out.status.success(), "{}", said(&out));
    let failed = lines(&out, '✗');
    let whole = said(&out);
    for expected in [
        "environment variable T_VENDOR_TOKEN is not set",
        "missing.secret",
        "nowhere.wasm: no such file",
        "the product's kind is `assessment` but the plugin serves only background_check",
        &format!("allowed host http://{unreachable}"),
    ] {
        assert!(
            failed.iter().any(|l| l.contains(expected)),
            "no ✗ line with {expected:?}:\n{whole}"
        );
    }
    // T_VENDOR_TOKEN is read by both products: a line for each key.
    assert_eq!(failed.len(), 6, "one line per problem:\n{whole}");
    assert!(whole.contains("fix: set T_VENDOR_TOKEN"), "{whole}");
    assert!(whole.contains("cannot connect"), "{whole}");
    assert!(
        whole.contains("configuration values are valid"),
        "stand-ins let the values be checked: {whole}"
    );
    assert!(whole.contains("6 of "), "{whole}");
    assert!(
        !whole.contains(d.secrets.vendor_secret.expose()),
        "no secret is printed"
    );

    // A file that is not TOML stops at the first step, naming the place.
    let broken = other_config(&d, "[server\nlisten = 1\n");
    let out = check(&d, &broken, &[], &[], &[]).await;
    assert!(!out.status.success());
    let whole = said(&out);
    assert!(whole.contains("check.toml:1:"), "{whole}");
    assert_eq!(lines(&out, '✗').len(), 1, "{whole}");
}

#[tokio::test]
async fn check_fails_each_host_step_with_its_fix() {
    let d = Deployment::start().await;
    let url = d.url();

    // Nobody at the address.
    let down = format!("http://{}", free_port());
    let out = check(&d, &d.config_path(), &["--url", &down], &[], &[]).await;
    assert!(!out.status.success());
    let whole = said(&out);
    assert!(
        lines(&out, '✗')
            .iter()
            .any(|l| l.contains(&format!("host at {down}"))),
        "{whole}"
    );
    assert!(whole.contains("fix: start it"), "{whole}");

    // A package list key the host does not have: 401, with the guide's fix.
    let out = check(
        &d,
        &d.config_path(),
        &["--url", &url, "--product", "codetest"],
        &[("T_PKG", "not-a-key-the-host-has")],
        &[],
    )
    .await;
    let whole = said(&out);
    assert!(!out.status.success());
    assert!(
        lines(&out, '✗')
            .iter()
            .any(|l| l.contains("the package list answers") && l.contains("401")),
        "{whole}"
    );
    assert!(
        whole.contains("Check Package's List Endpoint URL implementation"),
        "{whole}"
    );

    // An origin the host does not answer; no admin token to follow the order with.
    let text = config_text(&d)
        .replacen(
            "cors_origins = [\"https://ats.example\"]",
            "cors_origins = [\"https://other.example\"]",
            1,
        )
        .replacen("admin_token = \"env:T_ADMIN\"\n", "", 1);
    let config = other_config(&d, &text);
    d.stackone.set_reject_unknown_orders(false);
    let out = check(
        &d,
        &config,
        &["--url", &url, "--product", "codetest"],
        &[],
        &[],
    )
    .await;
    let whole = said(&out);
    let failed = lines(&out, '✗');
    assert!(
        failed
            .iter()
            .any(|l| l.contains("CORS preflight from https://other.example")),
        "{whole}"
    );
    assert!(whole.contains("Verify CORS"), "{whole}");
    assert!(
        failed
            .iter()
            .any(|l| l.contains("server.admin_token is not set")),
        "{whole}"
    );

    // StackOne refuses the result of an order it never sent (as the real one does): the
    // result line fails with the guide's fix; a StackOne nobody answers at fails the meta.
    d.stackone.set_reject_unknown_orders(true);
    let nowhere = format!("http://{}", free_port());
    let out = check(
        &d,
        &d.config_path(),
        &[
            "--url",
            &url,
            "--product",
            "codetest",
            "--timeout",
            "2",
            "--stackone-base-url",
            &nowhere,
        ],
        &[],
        &[],
    )
    .await;
    let whole = said(&out);
    assert!(
        lines(&out, '✗').iter().any(|l| l
            .contains("the test order's first result reaches StackOne")
            && l.contains("404")),
        "{whole}"
    );
    assert!(
        whole.contains("Check Connector Meta API endpoint for payload format"),
        "{whole}"
    );
}

#[tokio::test]
async fn check_fails_a_webhook_the_host_refuses() {
    // The host wants a ?token= on webhooks that the checker's configuration does not send.
    let d = Deployment::start_with(|text| {
        *text = text.replacen(
            "[products.codetest.settings]",
            "webhook_token = \"env:T_ADMIN\"\n[products.codetest.settings]",
            1,
        );
    })
    .await;
    let text = config_text(&d).replacen("webhook_token = \"env:T_ADMIN\"\n", "", 1);
    let config = other_config(&d, &text);
    let out = check(
        &d,
        &config,
        &["--url", &d.url(), "--product", "codetest"],
        &[],
        &[],
    )
    .await;
    let whole = said(&out);
    assert!(
        lines(&out, '✗')
            .iter()
            .any(|l| l.contains("order webhook") && l.contains("401")),
        "{whole}"
    );
    assert!(whole.contains("Verify webhook URL"), "{whole}");
}

#[tokio::test]
async fn check_reads_the_store_and_names_one_it_cannot_use() {
    let d = Deployment::start().await;
    let text = config_text(&d);
    let store = d.store_path().display().to_string();

    // The deployment's own store, read while its host serves from it.
    let out = check(&d, &d.config_path(), &["--product", "codetest"], &[], &[]).await;
    let passed = lines(&out, '✓');
    assert!(
        passed
            .iter()
            .any(|l| l.contains(&format!("store: SQLite {store} is at schema version"))),
        "{}",
        said(&out)
    );

    // A store file written by a newer Assay.
    let newer = d.dir.path().join("newer.db");
    {
        let conn = rusqlite::Connection::open(&newer).expect("create");
        conn.pragma_update(None, "user_version", 999)
            .expect("version");
    }
    let config = other_config(&d, &text.replace(&store, &newer.display().to_string()));
    let out = check(&d, &config, &["--product", "codetest"], &[], &[]).await;
    assert!(
        lines(&out, '✗')
            .iter()
            .any(|l| l.contains("its schema version 999 is newer than this build's")),
        "{}",
        said(&out)
    );
    let version: u32 = rusqlite::Connection::open(&newer)
        .expect("open")
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, 999, "the check changed nothing");

    // PostgreSQL where nothing listens.
    let nowhere = format!("postgres://assay@{}/assay", free_port());
    let pg = text.replace(
        &format!("path = \"{store}\""),
        "url = \"env:T_CHECK_DATABASE_URL\"",
    );
    let config = other_config(&d, &pg);
    // `assay check` of that configuration with store.url set to `url`.
    let with_database = async |url: &str| {
        check(
            &d,
            &config,
            &["--product", "codetest"],
            &[("T_CHECK_DATABASE_URL", url)],
            &[],
        )
        .await
    };
    let out = with_database(&nowhere).await;
    let whole = said(&out);
    assert!(
        lines(&out, '✗')
            .iter()
            .any(|l| l.starts_with("✗ store: PostgreSQL (store.url)")),
        "{whole}"
    );
    assert!(whole.contains("fix: check store.url"), "{whole}");

    // A real PostgreSQL that no host migrated yet, then migrated.
    let Some(server) = assay_store::postgres::testing::shared() else {
        return;
    };
    let url = server.create_database().await.expect("database");
    let out = with_database(&url).await;
    assert!(
        lines(&out, '✓')
            .iter()
            .any(|l| l.contains("answers; no schema yet")),
        "{}",
        said(&out)
    );
    assay_store::PostgresStore::migrate(&url)
        .await
        .expect("migrate");
    let out = with_database(&url).await;
    let expected = format!(
        "is at schema version {}",
        assay_store::postgres::SCHEMA_VERSION
    );
    assert!(
        lines(&out, '✓')
            .iter()
            .any(|l| l.starts_with("✓ store: PostgreSQL at") && l.contains(&expected)),
        "{}",
        said(&out)
    );
}

#[tokio::test]
async fn check_fails_the_remaining_lines_each_with_its_fix() {
    let d = Deployment::start().await;
    d.stackone.set_reject_unknown_orders(false);
    let text = config_text(&d);

    // A value out of bounds, named with its place.
    let config = other_config(
        &d,
        &text.replacen(
            "kind = \"assessment\"\n",
            "kind = \"assessment\"\ntimeout_ms = 0\n",
            1,
        ),
    );
    let out = check(&d, &config, &[], &[], &[]).await;
    assert!(
        lines(&out, '✗')
            .iter()
            .any(|l| l.starts_with("✗ configuration values") && l.contains("timeout_ms")),
        "{}",
        said(&out)
    );

    // A plugin file that is not a component.
    std::fs::write(d.plugins_dir().join("garbage.wasm"), b"not wasm").expect("write");
    let config = other_config(
        &d,
        &text.replacen("plugin = \"codetest.wasm\"", "plugin = \"garbage.wasm\"", 1),
    );
    let out = check(&d, &config, &["--product", "codetest"], &[], &[]).await;
    let whole = said(&out);
    assert!(
        lines(&out, '✗')
            .iter()
            .any(|l| l.contains("garbage.wasm") && !l.contains("no such file")),
        "{whole}"
    );
    assert!(whole.contains("assay plugin inspect"), "{whole}");

    // A product the configuration does not have.
    let out = check(&d, &d.config_path(), &["--product", "nope"], &[], &[]).await;
    assert!(
        lines(&out, '✗')
            .iter()
            .any(|l| l.contains("product `nope`") && l.contains("no such product")),
        "{}",
        said(&out)
    );

    // --url at something that is not the host: it does not refuse a request without
    // credentials (nor list packages).
    let not_the_host = d.stackone.base_url();
    let out = check(
        &d,
        &d.config_path(),
        &["--url", &not_the_host, "--product", "codetest"],
        &[],
        &[],
    )
    .await;
    assert!(
        lines(&out, '✗').iter().any(|l| l
            .contains("the package list refuses a request without credentials: it answered 404")),
        "{}",
        said(&out)
    );

    // StackOne's connector meta out of reach: the result arrives, its payload cannot be
    // checked.
    let nowhere = format!("http://{}", free_port());
    let out = check(
        &d,
        &d.config_path(),
        &[
            "--url",
            &d.url(),
            "--product",
            "codetest",
            "--stackone-base-url",
            &nowhere,
        ],
        &[],
        &[],
    )
    .await;
    let whole = said(&out);
    assert!(
        lines(&out, '✓')
            .iter()
            .any(|l| l.contains("the test order's first result reaches StackOne")),
        "{whole}"
    );
    assert!(
        lines(&out, '✗')
            .iter()
            .any(|l| l.starts_with("✗ StackOne's connector meta for recruitee")),
        "{whole}"
    );
    assert!(whole.contains("fix: check stackone.base_url"), "{whole}");
}
