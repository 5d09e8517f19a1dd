//! Readiness: what `/readyz` says about the host and each of its products.
//!
//! Each product is in one of three states:
//!
//! | state | serves | meaning |
//! |---|---|---|
//! | `ready` | yes | the plugin of its current file and settings serves |
//! | `stale` | yes | its current plugin file (or its new settings) failed to load; the last good generation serves. Red, so that someone looks, though requests are answered |
//! | `unavailable` | no | no plugin serves; its routes answer 503 |
//!
//! The host is ready (200) when the store answers, no background task died and at least one
//! product serves (`ready` or `stale`): one broken product must not take every other product
//! out of a load balancer, and a product that is only `stale` still answers. Its body says
//! which products are red and why, so a health check that wants every product green reads
//! `products[].state`.
//!
//! How much a body says depends on who may read it ([`Detail`]): the admin listener and the
//! admin views show reasons as written, paths included; a public listener shows reasons with
//! every file path cut to its file name ([`redact_paths`]): `codetest.wasm` says which file,
//! not where the host keeps it. When an admin listener is configured, the public `/readyz`
//! shows the status and product states only.

use serde_json::{Value, json};

use crate::app::TaskFailure;
use crate::products::{Product, ProductTable};

/// The state of one product, as `/readyz` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductState {
    /// The plugin of the current file and settings serves.
    Ready,
    /// The last good generation serves; the current file or settings failed to load.
    Stale,
    /// No plugin serves.
    Unavailable,
}

impl ProductState {
    /// The state of `product`.
    pub fn of(product: &Product) -> ProductState {
        match (&product.plugin, &product.last_error) {
            (Ok(_), None) => Self::Ready,
            (Ok(_), Some(_)) => Self::Stale,
            (Err(_), _) => Self::Unavailable,
        }
    }

    /// The name in `/readyz` and on the status page.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Stale => "stale",
            Self::Unavailable => "unavailable",
        }
    }

    /// Whether a plugin answers the product's requests.
    pub fn serves(self) -> bool {
        self != Self::Unavailable
    }
}

/// One product's readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductReadiness {
    /// The product's name.
    pub name: String,
    /// Its state.
    pub state: ProductState,
    /// The generation serving (or that failed, when none serves).
    pub generation: u64,
    /// The contract version of the plugin serving.
    pub contract: Option<&'static str>,
    /// `name@version` of the plugin serving, `-` when none does.
    pub plugin: String,
    /// Why the product is not `ready`: the load error, or the failed reload's error.
    pub error: Option<String>,
}

/// The whole host's readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Store open, no task dead, at least one product serving.
    pub ready: bool,
    /// Everything red, one line each, for people.
    pub problems: Vec<String>,
    /// Every product, by name.
    pub products: Vec<ProductReadiness>,
}

/// How much a readiness body may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Reasons as written, file paths included: the admin listener and the admin views.
    Full,
    /// Reasons with file paths cut to file names: a public listener that is also the
    /// operator's (no admin listener configured).
    Public,
    /// Status and product states only: the public listener beside an admin listener.
    Brief,
}

/// Assesses the host from one snapshot of its products, the store's answer and the first
/// dead background task.
pub fn assess(
    table: &ProductTable,
    store: Result<(), String>,
    failure: Option<&TaskFailure>,
) -> Readiness {
    let mut problems = Vec::new();
    if let Some(failure) = failure {
        problems.push(failure.to_string());
    }
    let store_ok = match store {
        Ok(()) => true,
        Err(e) => {
            problems.push(format!("store: {e}"));
            false
        }
    };
    let mut products = Vec::new();
    for (name, product) in &table.products {
        let (state, contract, error) = match (&product.plugin, &product.last_error) {
            (Ok(plugin), None) => (ProductState::Ready, Some(plugin.contract_version()), None),
            (Ok(plugin), Some(e)) => {
                problems.push(format!(
                    "product `{name}`: generation {} serves, but its current plugin or settings \
                     failed to load: {e}",
                    product.generation
                ));
                (
                    ProductState::Stale,
                    Some(plugin.contract_version()),
                    Some(e.clone()),
                )
            }
            (Err(e), _) => {
                problems.push(format!("product `{name}`: {e}"));
                (ProductState::Unavailable, None, Some(e.clone()))
            }
        };
        products.push(ProductReadiness {
            name: name.clone(),
            state,
            generation: product.generation,
            contract,
            plugin: product.plugin_label(),
            error,
        });
    }
    let serving = products.iter().any(|p| p.state.serves());
    if !serving {
        problems.push("no product serves".to_owned());
    }
    Readiness {
        ready: store_ok && failure.is_none() && serving,
        problems,
        products,
    }
}

impl Readiness {
    /// The `/readyz` body at `detail`.
    pub fn to_json(&self, detail: Detail) -> Value {
        let text = |s: &str| match detail {
            Detail::Full => s.to_owned(),
            Detail::Public | Detail::Brief => redact_paths(s),
        };
        let products: Vec<Value> = self
            .products
            .iter()
            .map(|p| match detail {
                Detail::Brief => json!({"product": p.name, "state": p.state.as_str()}),
                Detail::Full | Detail::Public => json!({
                    "product": p.name,
                    "state": p.state.as_str(),
                    "ready": p.state == ProductState::Ready,
                    "serving": p.state.serves(),
                    "generation": p.generation,
                    "contract": p.contract,
                    "plugin": p.plugin,
                    "error": (p.state == ProductState::Unavailable)
                        .then(|| p.error.as_deref().map(text)).flatten(),
                    "last_reload_error": (p.state == ProductState::Stale)
                        .then(|| p.error.as_deref().map(text)).flatten(),
                }),
            })
            .collect();
        match detail {
            Detail::Brief => json!({"ready": self.ready, "products": products}),
            Detail::Full | Detail::Public => json!({
                "ready": self.ready,
                "problems": self.problems.iter().map(|p| text(p)).collect::<Vec<_>>(),
                "products": products,
            }),
        }
    }
}

/// `text` with every file path cut to its last component: `/srv/assay/plugins/x.wasm` becomes
/// `x.wasm`, `/etc/assay/config.toml:12:3` becomes `config.toml:12:3`. URLs (`scheme://…`)
/// are kept: they are configured addresses, not the host's files.
pub fn redact_paths(text: &str) -> String {
    fn flush(out: &mut String, token: &mut String) {
        if token.contains('/') && !token.contains("://") {
            let name = token.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            out.push_str(if name.is_empty() { "[path]" } else { name });
        } else {
            out.push_str(token);
        }
        token.clear();
    }
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    for c in text.chars() {
        if c.is_whitespace() || "`\"'()[]{}<>,;=".contains(c) {
            flush(&mut out, &mut token);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut out, &mut token);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_file_names_and_urls_stay() {
        assert_eq!(
            redact_paths("plugin file /srv/assay/plugins/codetest.wasm is missing"),
            "plugin file codetest.wasm is missing"
        );
        assert_eq!(
            redact_paths("reading `/tmp/x/codetest.wasm`: No such file (os error 2)"),
            "reading `codetest.wasm`: No such file (os error 2)"
        );
        assert_eq!(
            redact_paths("missing at /etc/assay/config.toml:12:3; see ./plugins/"),
            "missing at config.toml:12:3; see plugins"
        );
        assert_eq!(
            redact_paths("vendor http://10.0.0.1:8080/api refused"),
            "vendor http://10.0.0.1:8080/api refused"
        );
        assert_eq!(redact_paths("the root is /"), "the root is [path]");
        let out = redact_paths("failed: /home/op/.cache/assay/artifact-cache/abc.cwasm (x)");
        assert!(!out.contains('/'), "{out}");
    }

    #[test]
    fn states_serve_or_not() {
        assert!(ProductState::Ready.serves());
        assert!(ProductState::Stale.serves());
        assert!(!ProductState::Unavailable.serves());
        assert_eq!(ProductState::Stale.as_str(), "stale");
    }

    fn readiness(states: &[ProductState]) -> Readiness {
        Readiness {
            ready: true,
            problems: vec!["product `b`: plugin file /srv/p/b.wasm is missing".into()],
            products: states
                .iter()
                .enumerate()
                .map(|(i, s)| ProductReadiness {
                    name: format!("p{i}"),
                    state: *s,
                    generation: 1,
                    contract: Some("0.2.0"),
                    plugin: "x@1".into(),
                    error: Some("at /srv/p/x.wasm".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn bodies_say_as_much_as_their_reader_may_see() {
        let r = readiness(&[ProductState::Ready, ProductState::Stale]);
        let full = r.to_json(Detail::Full).to_string();
        assert!(full.contains("/srv/p/b.wasm"), "{full}");
        let public = r.to_json(Detail::Public);
        assert!(!public.to_string().contains('/'), "{public}");
        assert!(public.to_string().contains("b.wasm"), "{public}");
        assert_eq!(public["products"][1]["state"], "stale");
        assert_eq!(public["products"][1]["serving"], true);
        assert_eq!(public["products"][1]["last_reload_error"], "at x.wasm");
        assert_eq!(public["products"][0]["last_reload_error"], Value::Null);
        let brief = r.to_json(Detail::Brief);
        assert_eq!(
            brief,
            json!({"ready": true, "products": [
                {"product": "p0", "state": "ready"},
                {"product": "p1", "state": "stale"},
            ]})
        );
    }
}
