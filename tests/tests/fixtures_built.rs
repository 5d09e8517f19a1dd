//! The fixture plugins `build.rs` built are real WebAssembly components with the shape each one
//! claims: the hostile behaviour tests elsewhere rely on this, so a fixture that quietly became a
//! core module or lost an export would make those tests prove nothing.

use std::collections::BTreeSet;
use std::fs;

use assay_tests::fixtures::{FIXTURE_NAMES, LOADABLE_FIXTURES, fixture_path};
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;
use wasmtime::{Config, Engine, OptLevel};

/// The magic number every WebAssembly binary starts with.
const WASM_MAGIC: [u8; 4] = *b"\0asm";

/// The version and layer that follow the magic number in a component (version 0x0d, layer 1).
/// A core module has `01 00 00 00` there.
const COMPONENT_VERSION_AND_LAYER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

/// The smallest believable fixture: Rust's standard library and the bindings alone are larger.
const MIN_FIXTURE_BYTES: usize = 16 * 1024;

/// The largest believable fixture in a release build; more means debug info or a runaway
/// dependency crept in, which makes every test that loads it slower.
const MAX_FIXTURE_BYTES: usize = 2 * 1024 * 1024;

/// The export the 0.1.0 fixtures have (they stay on 0.1.0 on purpose; `tokencache` is 0.2.0).
const PRODUCT_EXPORT: &str = "assay:plugin/product@0.1.0";

/// The standard import outbound HTTP goes through.
const OUTGOING_HANDLER_IMPORT: &str = "wasi:http/outgoing-handler@0.2.12";

/// The functions of [`PRODUCT_EXPORT`].
const PRODUCT_FUNCTIONS: [&str; 5] = [
    "metadata",
    "list-packages",
    "fulfil-order",
    "handle-callback",
    "poll-results",
];

fn read_fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "fixture {name} was not built at {}: {error}",
            path.display()
        )
    })
}

/// An engine that only needs to read component types, so it compiles without optimising.
fn engine() -> Engine {
    let mut config = Config::new();
    config.cranelift_opt_level(OptLevel::None);
    Engine::new(&config).expect("a default engine configuration is valid")
}

fn compile(engine: &Engine, name: &str) -> Component {
    Component::new(engine, read_fixture(name))
        .unwrap_or_else(|error| panic!("fixture {name} does not compile: {error:?}"))
}

/// The names of the functions the component exports in `instance`, or `None` without it.
fn exported_functions(engine: &Engine, name: &str, instance: &str) -> Option<BTreeSet<String>> {
    let component = compile(engine, name).component_type();
    let export = component.get_export(engine, instance)?;
    let ComponentItem::ComponentInstance(instance_type) = export.ty else {
        panic!("fixture {name} exports {instance} as something other than an instance");
    };
    Some(
        instance_type
            .exports(engine)
            .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
            .map(|(function, _)| function.to_owned())
            .collect(),
    )
}

fn imports(engine: &Engine, name: &str) -> BTreeSet<String> {
    compile(engine, name)
        .component_type()
        .imports(engine)
        .map(|(import, _)| import.to_owned())
        .collect()
}

#[test]
fn every_fixture_is_a_component_of_a_sane_size() {
    for name in FIXTURE_NAMES {
        let bytes = read_fixture(name);
        assert!(
            (MIN_FIXTURE_BYTES..=MAX_FIXTURE_BYTES).contains(&bytes.len()),
            "fixture {name} is {} bytes, outside {MIN_FIXTURE_BYTES}..={MAX_FIXTURE_BYTES}",
            bytes.len()
        );
        assert_eq!(bytes[0..4], WASM_MAGIC, "fixture {name} is not WebAssembly");
        assert_eq!(
            bytes[4..8],
            COMPONENT_VERSION_AND_LAYER,
            "fixture {name} is not a component (a core module, or another encoding version)"
        );
    }
}

#[test]
fn loadable_fixtures_export_the_whole_product_interface() {
    let engine = engine();
    let expected: BTreeSet<String> = PRODUCT_FUNCTIONS.map(str::to_owned).into();
    for name in LOADABLE_FIXTURES {
        let functions = exported_functions(&engine, name, PRODUCT_EXPORT)
            .unwrap_or_else(|| panic!("fixture {name} lacks {PRODUCT_EXPORT}"));
        assert_eq!(functions, expected, "fixture {name}");
    }
}

#[test]
fn partial_exports_the_product_interface_without_three_functions() {
    let engine = engine();
    let functions = exported_functions(&engine, "partial", PRODUCT_EXPORT)
        .expect("partial exports the product interface");
    let expected: BTreeSet<String> = ["metadata", "list-packages"].map(str::to_owned).into();
    assert_eq!(functions, expected);
}

#[test]
fn noexport_has_no_product_export_only_its_own() {
    let engine = engine();
    assert_eq!(
        exported_functions(&engine, "noexport", PRODUCT_EXPORT),
        None,
        "noexport must lack {PRODUCT_EXPORT}"
    );
    let own = exported_functions(&engine, "noexport", "assay:fixture/describe@0.1.0")
        .expect("noexport exports its own describe interface");
    assert_eq!(own, BTreeSet::from(["metadata".to_owned()]));
    let imports = imports(&engine, "noexport");
    assert!(
        imports.iter().all(|import| !import.starts_with("assay:")),
        "noexport imports nothing of the plugin contract, yet has {imports:?}"
    );
}

#[test]
fn only_the_outbound_fixtures_import_the_http_handler() {
    let engine = engine();
    for name in LOADABLE_FIXTURES {
        let imports_http = imports(&engine, name).contains(OUTGOING_HANDLER_IMPORT);
        let should = matches!(name, "offlist" | "loopback");
        assert_eq!(
            imports_http, should,
            "fixture {name}: imports {OUTGOING_HANDLER_IMPORT} = {imports_http}"
        );
    }
}

#[test]
fn tokencache_is_a_0_2_0_plugin_with_state() {
    let engine = engine();
    let functions = exported_functions(&engine, "tokencache", "assay:plugin/product@0.2.0")
        .expect("tokencache exports the 0.2.0 product interface");
    assert_eq!(functions, PRODUCT_FUNCTIONS.map(str::to_owned).into());
    let imports = imports(&engine, "tokencache");
    for import in [
        "wasi:keyvalue/store@0.2.0-draft",
        "assay:plugin/state@0.2.0",
    ] {
        assert!(imports.contains(import), "{imports:?}");
    }
}
