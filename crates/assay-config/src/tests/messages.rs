//! The exact messages of bad files: what a vendor sees when a key is misspelt or a value is
//! out of range.

use super::*;

#[test]
fn unknown_top_level_key() {
    assert_eq!(
        error("[server]\nlisten = \"127.0.0.1:1\"\n\n[sever]\nlisten = \"x\"\n"),
        "config.toml:4:2: unknown field `sever`, expected one of `server`, `store`, \
         `stackone`, `plugins`, `products`"
    );
}

#[test]
fn unknown_key_inside_a_product() {
    let text = format!("{MINIMAL}webhok_secrets = [\"env:WHSEC_B\"]\n");
    assert_eq!(
        error(&text),
        "config.toml:8:1: unknown field `webhok_secrets`, expected one of `plugin`, `kind`, \
         `webhook_secrets`, `package_list_keys`, `webhook_token`, `cors_origins`, \
         `allowed_hosts`, `timeout_ms`, `memory_limit_mb`, `max_concurrent_calls`, `max_concurrent_fulfilments`, \
         `events`, `stackone_api_key`, \
         `poll_interval_s`, `source`, `settings`"
    );
}

#[test]
fn wrong_type() {
    let text = format!("{MINIMAL}timeout_ms = \"10s\"\n");
    assert_eq!(
        error(&text),
        "config.toml:8:14: invalid type: string \"10s\", expected u64"
    );
}

#[test]
fn bad_kind() {
    let text = MINIMAL.replace("\"assessment\"", "\"quiz\"");
    assert_eq!(
        error(&text),
        "config.toml:6:8: unknown variant `quiz`, expected `assessment` or `background_check`"
    );
}

#[test]
fn missing_plugin() {
    let text = MINIMAL.replace("plugin = \"codetest.wasm\"\n", "");
    assert_eq!(error(&text), "config.toml:4:1: missing field `plugin`");
}

#[test]
fn invalid_product_name() {
    let text = MINIMAL.replace("[products.codetest]", "[products.Code_Test]");
    assert_eq!(
        error(&text),
        "config.toml:4:11: products.Code_Test: invalid product name: use lowercase letters, \
         digits and dashes (not first or last), at most 63 characters; the name appears in URLs"
    );
}

#[test]
fn literal_secret() {
    let text = MINIMAL.replace("[\"env:WHSEC_A\"]", "[\"whsec_live_123\"]");
    let message = error(&text);
    assert_eq!(
        message,
        "config.toml:7:20: a secret must not be written in the configuration: write `env:NAME` \
         to read it from an environment variable or `file:PATH` to read it from a file"
    );
    assert!(!message.contains("whsec_live_123"));
}

#[test]
fn missing_environment_variable() {
    let text = MINIMAL.replace("env:WHSEC_A", "env:WHSEC_MISSING");
    assert_eq!(
        error(&text),
        "config.toml:7:20: products.codetest.webhook_secrets[0]: cannot resolve \
         `env:WHSEC_MISSING`: environment variable WHSEC_MISSING is not set"
    );
}

#[test]
fn validation_errors_name_the_product_and_key() {
    let cases = [
        (
            "[server]\nmax_body_bytes = 0\n",
            "config.toml:2:18: server.max_body_bytes: must be at least 1",
        ),
        (
            "[server]\nmax_connections = 100\nmax_connections_per_client = 101\n",
            "config.toml:3:30: server.max_connections_per_client: must be between 1 and 100, \
             got 101",
        ),
        (
            "[server]\nrequest_head_timeout_ms = 0\n",
            "config.toml:2:27: server.request_head_timeout_ms: must be between 1 and 300000 \
             (5 minutes), got 0",
        ),
        (
            "[server]\nidle_timeout_ms = 300001\n",
            "config.toml:2:19: server.idle_timeout_ms: must be between 1 and 300000 \
             (5 minutes), got 300001",
        ),
        (
            "[store]\nmax_batch = 0\n",
            "config.toml:2:13: store.max_batch: must be between 1 and 4096, got 0",
        ),
        (
            "timeout_ms = 300001\n",
            "config.toml:8:14: products.codetest.timeout_ms: must be between 1 and 300000 \
             (5 minutes), got 300001",
        ),
        (
            "memory_limit_mb = 4097\n",
            "config.toml:8:19: products.codetest.memory_limit_mb: must be between 1 and 4096, \
             got 4097",
        ),
        (
            "max_concurrent_calls = 257\n",
            "config.toml:8:24: products.codetest.max_concurrent_calls: must be between 1 and 256, \
             got 257",
        ),
        (
            "[plugins]\ncompiler = \"llvm\"\n",
            "config.toml:2:12: plugins.compiler: must be \"tiered\", \"cranelift\" or \"winch\", \
             got \"llvm\"",
        ),
        (
            "[plugins]\nmemory_budget_mb = 0\n",
            "config.toml:2:20: plugins.memory_budget_mb: must be between 1 and 1048576, got 0",
        ),
        (
            "memory_limit_mb = 0\n",
            "config.toml:8:19: products.codetest.memory_limit_mb: must be between 1 and 4096, \
             got 0",
        ),
        (
            "package_list_keys = [\"env:WHSEC_B\", \"env:SAME_AS_A\", \"env:WHSEC_A\"]\n",
            "config.toml:8:54: products.codetest.package_list_keys: `env:WHSEC_A` is the same \
             secret as `env:SAME_AS_A`",
        ),
        (
            "cors_origins = [\"https://app.example.com/\"]\n",
            "config.toml:8:17: products.codetest.cors_origins: `https://app.example.com/` is not \
             an origin (nothing may follow the host and port): write scheme://host[:port] with \
             scheme http or https, e.g. https://app.example.com or http://127.0.0.1:8090",
        ),
        (
            "allowed_hosts = [\"http://127.0.0.1:8090\", \"vendor.example\"]\n",
            "config.toml:8:43: products.codetest.allowed_hosts: `vendor.example` is not an \
             origin (relative URL without a base): write scheme://host[:port] with scheme http \
             or https, e.g. https://app.example.com or http://127.0.0.1:8090",
        ),
        (
            "poll_interval_s = 0\n",
            "config.toml:8:19: products.codetest.poll_interval_s: must be between 1 and 86400 \
             (one day), got 0",
        ),
        (
            "webhook_secrets = []\n",
            // Replaces the product's line 7 (see the loop).
            "config.toml:7:19: products.codetest.webhook_secrets: at least one secret is required",
        ),
    ];
    for (extra, expected) in cases {
        let text = if let Some(rest) = extra.strip_prefix("webhook_secrets") {
            MINIMAL.replace(
                "webhook_secrets = [\"env:WHSEC_A\"]\n",
                &format!("webhook_secrets{rest}"),
            )
        } else if extra.starts_with('[') {
            format!("{extra}{MINIMAL}")
        } else {
            format!("{MINIMAL}{extra}")
        };
        assert_eq!(error(&text), expected, "for {extra:?}");
    }
}

#[test]
fn duplicate_webhook_secrets_are_refused() {
    let text = MINIMAL.replace("[\"env:WHSEC_A\"]", "[\"env:WHSEC_A\", \"env:WHSEC_A\"]");
    assert_eq!(
        error(&text),
        "config.toml:7:35: products.codetest.webhook_secrets: `env:WHSEC_A` is the same secret \
         as `env:WHSEC_A`"
    );
}

#[test]
fn a_product_needs_a_stackone_key() {
    let text = MINIMAL.replace("api_key = \"env:STACKONE_KEY\"\n", "");
    assert_eq!(
        error(&text),
        "config.toml:3:11: products.codetest: no StackOne API key to deliver results with: set \
         stackone.api_key (or ASSAY_STACKONE_API_KEY) or products.codetest.stackone_api_key"
    );
}

#[test]
fn an_unreadable_file_names_the_path() {
    let err = Config::load(
        Path::new("/nonexistent/assay.toml"),
        &Overrides::default(),
        env_of(&[]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read the configuration file /nonexistent/assay.toml"
    );
    assert!(std::error::Error::source(&err).is_some());
}

/// Values that could never work are refused when the file is loaded, naming key and line,
/// rather than surfacing later as a dead-lettered result or a plugin that cannot call out.
#[test]
fn unusable_addresses_are_refused_at_load() {
    let text = MINIMAL.replace(
        "api_key = \"env:STACKONE_KEY\"\n",
        "api_key = \"env:STACKONE_KEY\"\nbase_url = \"api.stackone.com\"\n",
    );
    assert_eq!(
        error(&text),
        "config.toml:3:12: stackone.base_url: `api.stackone.com` is not an http:// or https:// \
         URL without query or credentials"
    );
    for (entry, why) in [
        ("ftp://vendor.example", "the scheme must be http or https"),
        (
            "https://vendor.example/api",
            "nothing may follow the host and port",
        ),
        ("https://*.vendor.example", "wildcards are not supported"),
    ] {
        let text = format!("{MINIMAL}allowed_hosts = [\"{entry}\"]\n");
        let message = error(&text);
        assert!(
            message.starts_with(&format!(
                "config.toml:8:18: products.codetest.allowed_hosts: `{entry}` is not an origin \
                 ({why})"
            )),
            "{message}"
        );
    }
}

#[test]
fn the_admin_listener_is_parsed_and_needs_an_address_of_its_own() {
    let text = format!("[server]\nadmin_listen = \"127.0.0.1:9091\"\n{MINIMAL}");
    let config = load(&text).unwrap();
    assert_eq!(
        config.server.admin_listen,
        Some("127.0.0.1:9091".parse().unwrap())
    );
    assert_eq!(load(MINIMAL).unwrap().server.admin_listen, None);
    let same = format!(
        "[server]\nlisten = \"127.0.0.1:9091\"\nadmin_listen = \"127.0.0.1:9091\"\n{MINIMAL}"
    );
    assert_eq!(
        error(&same),
        "config.toml:3:16: server.admin_listen: 127.0.0.1:9091 is server.listen too; the admin \
         listener needs an address of its own"
    );
    let bad = format!("[server]\nadmin_listen = \"localhost\"\n{MINIMAL}");
    assert!(
        error(&bad).starts_with("config.toml:2:16: server.admin_listen: `localhost` is not"),
        "{}",
        error(&bad)
    );
}

#[test]
fn store_url_and_path_exclude_each_other() {
    let text = format!("[store]\npath = \"a.db\"\nurl = \"env:STACKONE_KEY\"\n{MINIMAL}");
    assert_eq!(
        error(&text),
        "config.toml:3:7: store.url: store.url (PostgreSQL) and store.path (SQLite) name two \
         different stores: set one of them (store.path may also come from ASSAY_STORE_PATH or \
         --store)"
    );
    // A path from the environment counts as set too.
    let url_only = format!("[store]\nurl = \"env:STACKONE_KEY\"\n{MINIMAL}");
    let with_env_path = Config::from_str_with(
        &url_only,
        Path::new("config.toml"),
        &Overrides::default(),
        env_of(&[
            ("STACKONE_KEY", "sk-value"),
            ("WHSEC_A", "whsec-a-value"),
            (ENV_STORE_PATH, "b.db"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        with_env_path.contains("store.url: store.url (PostgreSQL)"),
        "{with_env_path}"
    );
}

#[test]
fn store_url_must_resolve_to_something() {
    let unset = format!("[store]\nurl = \"env:NO_SUCH_DB\"\n{MINIMAL}");
    let message = error(&unset);
    assert!(
        message.contains("store.url") && message.contains("NO_SUCH_DB is not set"),
        "{message}"
    );
    let literal = format!("[store]\nurl = \"postgres://u:hunter2@db/assay\"\n{MINIMAL}");
    let message = error(&literal);
    assert!(
        message.contains("must not be written in the configuration")
            && !message.contains("hunter2"),
        "{message}"
    );
    let empty = Config::from_str_with(
        &format!("[store]\nurl = \"env:EMPTY\"\n{MINIMAL}"),
        Path::new("config.toml"),
        &Overrides::default(),
        env_of(&[
            ("STACKONE_KEY", "sk-value"),
            ("WHSEC_A", "whsec-a-value"),
            ("EMPTY", " "),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        empty,
        "config.toml:2:7: store.url: env:EMPTY is empty: it must name a PostgreSQL database"
    );
}

#[test]
fn store_url_loads_as_a_redacted_secret_with_its_leases() {
    let text = format!(
        "[store]\nurl = \"env:STACKONE_KEY\"\nfulfil_lease_ms = 3000\ndelivery_lease_ms = 8000\n{MINIMAL}"
    );
    let config = load(&text).unwrap();
    let url = config.store.url.as_ref().expect("url");
    assert_eq!(url.expose(), "sk-value");
    assert!(
        !format!("{config:?}").contains("sk-value"),
        "Debug redacts the URL"
    );
    assert_eq!(config.store.fulfil_lease, Duration::from_secs(3));
    assert_eq!(config.store.delivery_lease, Duration::from_secs(8));
    let short = format!("[store]\ndelivery_lease_ms = 999\n{MINIMAL}");
    assert_eq!(
        error(&short),
        "config.toml:2:21: store.delivery_lease_ms: must be at least 1000 (a PATCH needs time), \
         got 999"
    );
}
