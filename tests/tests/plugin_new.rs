//! `assay plugin new`: the project it writes, in a folder outside the checkout, builds with the
//! command its README gives first, loads in the host's runtime, lists the packages of its
//! setting, and fails an order with a message that says what is left to write.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use assay::convert::order_from_json;
use assay_runtime::ProductContext;
use assay_runtime::types::{OrderKind, PackageQuery, PluginError};
use assay_tests::fixtures::{build_and_load, repo_dir};
use assay_wire::secret::Secret;
use serde_json::json;
use tokio::process::Command;

use crate::ASSAY;

async fn plugin_new(args: &[&str]) -> std::process::Output {
    Command::new(ASSAY)
        .args(["plugin", "new"])
        .args(args)
        .output()
        .await
        .expect("run assay plugin new")
}

fn context(packages: &str) -> ProductContext {
    let mut ctx = ProductContext::new("acme-quiz");
    ctx.settings = Arc::new(BTreeMap::from([(
        "packages".to_owned(),
        Secret::new(packages.to_owned()),
    )]));
    ctx
}

#[tokio::test]
async fn a_new_rust_plugin_builds_outside_the_checkout_loads_and_lists_its_packages() {
    let outside = tempfile::Builder::new()
        .prefix("assay-plugin-new-")
        .tempdir()
        .expect("a temporary folder");
    let project = outside.path().join("acme-quiz");
    let dir = project.display().to_string();
    let made = plugin_new(&["acme-quiz", "--dir", &dir]).await;
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        "src/lib.rs",
        "README.md",
        "assay-plugin-sdk/Cargo.toml",
        "assay-plugin-sdk/wit/plugin.wit",
    ] {
        assert!(project.join(file).is_file(), "{file} written");
    }
    // The contract the project carries is the one this host serves.
    assert_eq!(
        std::fs::read(project.join("assay-plugin-sdk/wit/plugin.wit")).expect("the WIT"),
        std::fs::read(repo_dir().join("wit/plugin.wit")).expect("the host's WIT")
    );
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README");
    let first_block = readme
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a first sh block");
    assert!(
        first_block.contains("cargo build --release --target wasm32-wasip2"),
        "{first_block}"
    );

    // Again into the same folder, or with a name cargo refuses: a clear error, nothing written.
    let again = plugin_new(&["acme-quiz", "--dir", &dir]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    let bad = plugin_new(&["Acme Quiz", "--dir", &format!("{dir}-2")]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot name a plugin crate"));
    assert!(!Path::new(&format!("{dir}-2")).exists());

    // Built as its README says.
    let plugin = build_and_load(&project, "acme-quiz").await;
    assert_eq!(plugin.metadata().name, "acme-quiz");
    assert_eq!(plugin.contract_version(), "0.2.0");

    let query = || PackageQuery {
        account_id: "acc-1".into(),
        provider: None,
    };
    let list = plugin
        .list_packages(&context("t1:First test, t2:Second test"), query())
        .await
        .expect("list-packages answers");
    let packages: Vec<(&str, &str)> = list
        .packages
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(packages, [("t1", "First test"), ("t2", "Second test")]);
    let wrong = plugin
        .list_packages(&context("just-a-name"), query())
        .await
        .expect_err("a setting without id:Name");
    assert!(
        matches!(wrong.plugin_error(), Some(PluginError::Misconfigured(m)) if m.contains("just-a-name")),
        "{wrong:#}"
    );

    let object = json!({
        "id": "ord-1",
        "account_id": "acc-1",
        "package": {"id": "pkg", "remote_id": "t1"},
        "candidate": {"first_name": "Ada", "emails": [{"type": "personal", "value": "ada@example.com"}]}
    });
    let order =
        order_from_json(OrderKind::Assessment, &object, "", None, None).expect("a valid order");
    let unwritten = plugin
        .fulfil_order(&context("t1:First test"), order)
        .await
        .expect_err("fulfil-order is the vendor's to write");
    assert!(
        matches!(unwritten.plugin_error(), Some(PluginError::Permanent(m)) if m.contains("not written yet") && m.contains("src/lib.rs")),
        "{unwritten:#}"
    );
}
