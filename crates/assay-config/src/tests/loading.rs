//! Files that load: defaults, resolved values, secrets, overrides, and `config.toml`.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::*;

#[test]
fn defaults_are_filled_and_paths_anchored_at_the_file() {
    let config = Config::from_str_with(
        MINIMAL,
        Path::new("/etc/assay/config.toml"),
        &Overrides::default(),
        env_of(ENV),
    )
    .unwrap();
    assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.server.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(config.server.request_timeout, DEFAULT_REQUEST_TIMEOUT);
    assert!(config.server.admin_token.is_none());
    assert_eq!(
        config.store.path,
        Path::new("/etc/assay").join(DEFAULT_STORE_PATH)
    );
    assert_eq!(config.store.max_batch, limits::DEFAULT_MAX_BATCH);
    assert_eq!(config.server.connections, ConnectionLimits::default());
    assert_eq!(config.stackone.base_url, DEFAULT_STACKONE_BASE_URL);
    assert_eq!(
        config.plugins.dir,
        Path::new("/etc/assay").join(DEFAULT_PLUGINS_DIR)
    );
    assert_eq!(
        config.plugins.cache_dir,
        config
            .store
            .path
            .parent()
            .unwrap()
            .join(DEFAULT_CACHE_DIR_NAME)
    );

    let product = config.product("codetest").unwrap();
    assert_eq!(product.name, "codetest");
    assert_eq!(product.plugin, config.plugins.dir.join("codetest.wasm"));
    assert_eq!(product.kind, OrderKind::Assessment);
    assert_eq!(product.webhook_secrets, [Secret::new("whsec-a-value")]);
    assert!(product.package_list_keys.is_empty());
    assert_eq!(product.timeout, DEFAULT_PLUGIN_TIMEOUT);
    assert_eq!(
        product.memory_limit_bytes as u64,
        DEFAULT_MEMORY_LIMIT_MB * 1024 * 1024
    );
    assert_eq!(product.events, default_events(OrderKind::Assessment));
    assert_eq!(product.stackone_api_key.expose(), "sk-value");
    assert!(product.poll_interval.is_none() && product.source.is_none());
    assert!(config.secret_files.is_empty());
}

#[test]
fn product_values_are_resolved() {
    let text = r#"
[stackone]
api_key = "env:STACKONE_KEY"

[products.backcheck-2]
plugin = "build/backcheck.wasm"
kind = "background_check"
webhook_secrets = ["env:WHSEC_A", "env:WHSEC_B"]
webhook_token = "env:WHSEC_B"
stackone_api_key = "env:WHSEC_B"
cors_origins = ["https://App.Example.com:443"]
allowed_hosts = ["http://127.0.0.1:8090", "https://api.vendor.example"]
timeout_ms = 2500
memory_limit_mb = 1
poll_interval_s = 90
source = "plugins/backcheck"

[products.backcheck-2.events]
"background_checks.created" = "background_check"
"ats_assessments.created" = "assessment"

[products.backcheck-2.settings]
base_url = "http://127.0.0.1:8090"
api_token = "env:WHSEC_A"
"#;
    let config = Config::from_str_with(
        text,
        Path::new("/srv/config.toml"),
        &Overrides::default(),
        env_of(ENV),
    )
    .unwrap();
    let p = config.product("backcheck-2").unwrap();
    assert_eq!(p.plugin, Path::new("/srv/build/backcheck.wasm"));
    assert_eq!(p.kind, OrderKind::BackgroundCheck);
    assert_eq!(p.webhook_secrets.len(), 2);
    assert_eq!(p.webhook_token.as_ref().unwrap().expose(), "whsec-b-value");
    assert_eq!(p.stackone_api_key.expose(), "whsec-b-value");
    assert_eq!(p.cors_origins, ["https://app.example.com"]);
    assert_eq!(
        p.allowed_hosts,
        ["http://127.0.0.1:8090", "https://api.vendor.example"]
    );
    assert_eq!(p.timeout, Duration::from_millis(2500));
    assert_eq!(p.memory_limit_bytes, 1024 * 1024);
    assert_eq!(p.poll_interval, Some(Duration::from_secs(90)));
    assert_eq!(
        p.source.as_deref(),
        Some(Path::new("/srv/plugins/backcheck"))
    );
    // The file's entry wins over the default, and new events are added.
    assert_eq!(
        p.events,
        BTreeMap::from([
            ("ats_assessments.created".to_owned(), OrderKind::Assessment),
            (
                "background_checks.created".to_owned(),
                OrderKind::BackgroundCheck
            ),
        ])
    );
    assert_eq!(p.settings["base_url"].expose(), "http://127.0.0.1:8090");
    assert_eq!(p.settings["api_token"].expose(), "whsec-a-value");
}

#[test]
fn file_secrets_are_read_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/whsec"), "from-a-file\n").unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, MINIMAL.replace("env:WHSEC_A", "file:secrets/whsec")).unwrap();
    let config = Config::load(&path, &Overrides::default(), env_of(ENV)).unwrap();
    let product = config.product("codetest").unwrap();
    assert_eq!(product.webhook_secrets[0].expose(), "from-a-file");
    let secret_file = std::path::absolute(dir.path().join("secrets/whsec")).unwrap();
    assert_eq!(config.secret_files, BTreeSet::from([secret_file]));
    // Paths of a loaded file are absolute even when the file was named relatively.
    assert!(config.store.path.is_absolute());
}

#[test]
fn flags_win_over_environment_which_wins_over_the_file() {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:1000\"\nadmin_token = \"env:WHSEC_A\"\n\
         [store]\npath = \"file.db\"\n{MINIMAL}"
    );
    let mut vars = ENV.to_vec();
    let with = |vars: &[(&str, &str)], overrides: &Overrides| {
        Config::from_str_with(&text, Path::new("/c/config.toml"), overrides, env_of(vars)).unwrap()
    };

    let file = with(&vars, &Overrides::default());
    assert_eq!(file.server.listen.port(), 1000);
    assert_eq!(file.store.path, Path::new("/c/file.db"));
    assert_eq!(file.server.admin_token.unwrap().expose(), "whsec-a-value");

    vars.extend([
        (ENV_LISTEN, "127.0.0.1:2000"),
        (ENV_STORE_PATH, "env.db"),
        (ENV_PLUGINS_DIR, "env-plugins"),
        (ENV_STACKONE_BASE_URL, "http://127.0.0.1:9/"),
        (ENV_STACKONE_API_KEY, "env:WHSEC_B"),
        (ENV_ADMIN_TOKEN, "env:WHSEC_B"),
    ]);
    let env = with(&vars, &Overrides::default());
    assert_eq!(env.server.listen.port(), 2000);
    // Paths from the environment or flags are relative to the working directory.
    assert_eq!(env.store.path, Path::new("env.db"));
    assert_eq!(env.plugins.dir, Path::new("env-plugins"));
    assert_eq!(env.stackone.base_url, "http://127.0.0.1:9");
    assert_eq!(env.stackone.api_key.unwrap().expose(), "whsec-b-value");
    assert_eq!(env.server.admin_token.unwrap().expose(), "whsec-b-value");
    assert_eq!(
        env.products["codetest"].stackone_api_key.expose(),
        "whsec-b-value"
    );

    let flags = Overrides {
        listen: Some("127.0.0.1:3000".parse().unwrap()),
        store_path: Some("flag.db".into()),
        plugins_dir: Some("flag-plugins".into()),
        stackone_base_url: Some("https://flag.example".into()),
        stackone_api_key: Some("env:STACKONE_KEY".parse().unwrap()),
        admin_token: Some("env:STACKONE_KEY".parse().unwrap()),
    };
    let flag = with(&vars, &flags);
    assert_eq!(flag.server.listen.port(), 3000);
    assert_eq!(flag.store.path, Path::new("flag.db"));
    assert_eq!(flag.plugins.dir, Path::new("flag-plugins"));
    assert_eq!(flag.plugins.cache_dir, Path::new(DEFAULT_CACHE_DIR_NAME));
    assert_eq!(flag.stackone.base_url, "https://flag.example");
    assert_eq!(flag.stackone.api_key.unwrap().expose(), "sk-value");
    assert_eq!(flag.server.admin_token.unwrap().expose(), "sk-value");
}

#[test]
fn bad_overrides_name_the_variable() {
    let with_env = |name: &str, value: &str| {
        let mut vars = ENV.to_vec();
        vars.push((name, value));
        Config::from_str_with(
            MINIMAL,
            Path::new("config.toml"),
            &Overrides::default(),
            env_of(&vars),
        )
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        with_env(ENV_LISTEN, "localhost"),
        "ASSAY_LISTEN: server.listen: `localhost` is not an address:port such as 127.0.0.1:8080 \
         or [::]:8080"
    );
    let literal = with_env(ENV_ADMIN_TOKEN, "hunter2");
    assert!(
        literal.starts_with("ASSAY_ADMIN_TOKEN: server.admin_token: a secret must not"),
        "{literal}"
    );
    assert!(!literal.contains("hunter2"));
    assert_eq!(
        with_env(ENV_STACKONE_API_KEY, "env:NOPE"),
        "ASSAY_STACKONE_API_KEY: stackone.api_key: cannot resolve `env:NOPE`: environment \
         variable NOPE is not set"
    );
}

#[test]
fn debug_output_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "secret-from-file\n").unwrap();
    let text = r#"
[server]
admin_token = "file:token"

[stackone]
api_key = "env:S1"

[products.codetest]
plugin = "codetest.wasm"
kind = "assessment"
webhook_secrets = ["env:S2", "env:S3"]
package_list_keys = ["env:S4"]
webhook_token = "env:S5"
stackone_api_key = "env:S6"

[products.codetest.settings]
plain = "plain-setting-value"
referenced = "env:S7"
"#;
    let vars: Vec<(String, String)> = (1..=7)
        .map(|i| (format!("S{i}"), format!("secret-value-{i}")))
        .collect();
    let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let config = Config::from_str_with(
        text,
        &dir.path().join("config.toml"),
        &Overrides::default(),
        env,
    )
    .unwrap();
    let debug = format!("{config:?} {config:#?}");
    let values: Vec<String> = (1..=7)
        .map(|i| format!("secret-value-{i}"))
        .chain([
            "secret-from-file".to_owned(),
            "plain-setting-value".to_owned(),
        ])
        .collect();
    for value in &values {
        assert!(!debug.contains(value.as_str()), "{value} shows in {debug}");
    }
    // The secrets are there, only hidden.
    let product = &config.products["codetest"];
    assert_eq!(product.settings["plain"].expose(), "plain-setting-value");
    assert_eq!(
        config.server.admin_token.as_ref().unwrap().expose(),
        "secret-from-file"
    );
    assert!(debug.contains("[redacted]"));
}

#[test]
fn the_repository_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.toml");
    let asked = RefCell::new(BTreeSet::new());
    // Every variable the file references gets a distinct value; the overrides stay unset.
    let env = |name: &str| {
        asked.borrow_mut().insert(name.to_owned());
        (!name.starts_with("ASSAY_")).then(|| format!("fake-{name}"))
    };
    let config = Config::load(&path, &Overrides::default(), env).unwrap();
    let root = std::path::absolute(path.parent().unwrap()).unwrap();

    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.plugins.dir, root.join("plugins"));
    assert_eq!(
        config.products.keys().collect::<Vec<_>>(),
        ["backcheck", "codetest"]
    );
    for (name, kind) in [
        ("codetest", OrderKind::Assessment),
        ("backcheck", OrderKind::BackgroundCheck),
    ] {
        let p = &config.products[name];
        assert_eq!(p.kind, kind);
        assert_eq!(p.plugin, root.join(format!("plugins/{name}.wasm")));
        assert_eq!(
            p.source.as_deref(),
            Some(root.join(format!("plugins/{name}")).as_path())
        );
        assert_eq!(p.allowed_hosts, ["http://127.0.0.1:8090"]);
        assert_eq!(p.events, default_events(kind));
        assert_eq!(
            p.settings.keys().collect::<Vec<_>>(),
            ["api_token", "base_url", "callback_url", "webhook_secret"]
        );
        assert_eq!(p.settings["base_url"].expose(), "http://127.0.0.1:8090");
        assert!(p.settings["callback_url"].expose().starts_with(&format!(
            "http://127.0.0.1:8080/v1/products/{name}/callbacks/"
        )));
    }
    assert_eq!(
        config.products["codetest"].settings["callback_url"].expose(),
        "http://127.0.0.1:8080/v1/products/codetest/callbacks/attempts"
    );

    // The header comment lists exactly the variables the file reads, so a reader can set
    // them all from it.
    let text = std::fs::read_to_string(&path).unwrap();
    let referenced: BTreeSet<String> = asked
        .into_inner()
        .into_iter()
        .filter(|name| !name.starts_with("ASSAY_"))
        .collect();
    let header: BTreeSet<String> = text
        .lines()
        .take_while(|line| line.starts_with('#'))
        .filter_map(|line| line.strip_prefix("#   ")?.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert_eq!(referenced, header);
}

#[test]
fn connection_limits_are_read_and_the_per_client_cap_follows_a_smaller_total() {
    let text = format!(
        "[server]\nmax_connections = 100\nrequest_head_timeout_ms = 2500\nidle_timeout_ms = 5000\n{}",
        MINIMAL.replace("[server]\n", "")
    );
    let limits = load(&text).unwrap().server.connections;
    assert_eq!(
        limits,
        ConnectionLimits {
            max_connections: 100,
            max_per_client: 100,
            request_head_timeout: Duration::from_millis(2500),
            idle_timeout: Duration::from_secs(5),
        }
    );
}
