//! Routing and the callback route (`assay_wire::route`, `assay_wire::callback`, which the
//! edge's `route` and `callbacks` use).
//!
//! Properties, for any method, request target, headers and plugin response headers:
//! - `route` never panics, on a path as hyper hands it over (`Uri::path`) or on any string;
//! - a routed path round-trips: putting the captured parts back into the route's template
//!   gives the path exactly (so `//v1/…`, `/v1//…` and the like are never a product route);
//! - whether a path exists does not depend on the method (only 404 against 405 does);
//! - with an admin listener, no operator route is reachable on the public listener and no
//!   product route on the admin listener;
//! - a callback hands the plugin the path after `callbacks/`, the raw query, and every header
//!   value; the plugin's response headers reach the vendor lower-cased, without hop-by-hop
//!   headers, each one as the plugin set it, the others named for the log.
#![no_main]

use arbitrary::Arbitrary;
use assay_wire::callback::{CallbackRequest, HOP_BY_HOP, response_headers};
use assay_wire::route::{Listener, Route, hidden, route};
use http::{Method, Request, Uri};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    method: Vec<u8>,
    target: Vec<u8>,
    path: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    plugin_headers: Vec<(String, Vec<u8>)>,
}

const METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::OPTIONS,
    Method::DELETE,
];

fuzz_target!(|input: Input| check(input));

fn check(input: Input) {
    let method = Method::from_bytes(&input.method).unwrap_or(Method::POST);
    check_path(&method, &input.path);
    let Ok(uri) = Uri::try_from(input.target.as_slice()) else {
        return;
    };
    let path = uri.path();
    check_path(&method, path);
    if let Route::Callback { rest, .. } = route(&method, path) {
        let mut builder = Request::builder().method(method.clone()).uri(uri.clone());
        for (name, value) in input.headers.iter().take(8) {
            builder = builder.header(name.as_slice(), value.as_slice());
        }
        let Ok(request) = builder.body(()) else {
            return;
        };
        let (parts, ()) = request.into_parts();
        let call = CallbackRequest::new(&parts, rest, b"body");
        assert_eq!(call.method, method.as_str());
        assert_eq!(call.path, rest);
        assert!(!call.path.starts_with('/'), "{path}: rest {rest:?}");
        assert_eq!(call.query.as_deref(), uri.query());
        let sent: Vec<(&str, &[u8])> = parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let handed: Vec<(&str, &[u8])> = call
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
            .collect();
        assert_eq!(sent, handed);
        assert_eq!(call.body, b"body");
    }
    let given: Vec<(String, Vec<u8>)> = input.plugin_headers.into_iter().take(8).collect();
    let (map, invalid) = response_headers(given.clone());
    for (name, value) in &map {
        assert!(!HOP_BY_HOP.contains(&name.as_str()), "{name} was sent");
        assert!(
            given
                .iter()
                .any(|(n, v)| n.to_ascii_lowercase() == name.as_str() && v == value.as_bytes()),
            "{name}: {value:?} was not set by the plugin"
        );
    }
    let hop = given
        .iter()
        .filter(|(n, _)| HOP_BY_HOP.contains(&n.to_ascii_lowercase().as_str()))
        .count();
    assert_eq!(map.len() + invalid.len() + hop, given.len());
}

fn check_path(method: &Method, path: &str) {
    let routed = route(method, path);
    let product_route = |product: &str, tail: &str| {
        assert!(!product.is_empty() && !product.contains('/'), "{product:?}");
        assert_eq!(path, format!("/v1/products/{product}/{tail}"));
    };
    match &routed {
        Route::Packages { product } | Route::PackagesPreflight { product } => {
            product_route(product, "packages")
        }
        Route::Webhooks { product } => product_route(product, "webhooks"),
        Route::Callback { product, rest: "" } => {
            assert!(!product.is_empty() && !product.contains('/'), "{product:?}");
            let base = format!("/v1/products/{product}/callbacks");
            assert!(path == base || path == format!("{base}/"), "{path}");
        }
        Route::Callback { product, rest } => product_route(product, &format!("callbacks/{rest}")),
        Route::AdminOrder { id } => {
            assert!(!id.is_empty() && !id.contains('/'), "{id:?}");
            assert_eq!(path, format!("/admin/orders/{id}"));
        }
        Route::AdminPage => assert!(path == "/admin" || path == "/admin/", "{path}"),
        Route::MethodNotAllowed { .. } | Route::NotFound => {
            assert_eq!(routed.template(), "unmatched")
        }
        fixed => assert_eq!(path, fixed.template()),
    }
    if !matches!(routed, Route::MethodNotAllowed { .. } | Route::NotFound) {
        assert_ne!(routed.template(), "unmatched");
    }
    // The path alone decides whether anything is there.
    let missing = matches!(routed, Route::NotFound);
    for other in &METHODS {
        assert_eq!(
            matches!(route(other, path), Route::NotFound),
            missing,
            "{path}: {method} against {other}"
        );
    }
    // Each listener serves its own routes when there are two.
    let operator = matches!(
        routed,
        Route::Metrics
            | Route::AdminPage
            | Route::AdminLoginForm
            | Route::AdminLogin
            | Route::AdminLogout
            | Route::AdminStatus
            | Route::AdminOrder { .. }
    );
    let product = matches!(
        routed,
        Route::Packages { .. }
            | Route::PackagesPreflight { .. }
            | Route::Webhooks { .. }
            | Route::Callback { .. }
    );
    if operator {
        assert!(
            hidden(path, Listener::Public, true),
            "{path} on the public listener"
        );
    }
    if product {
        assert!(
            hidden(path, Listener::Admin, true),
            "{path} on the admin listener"
        );
    }
    assert!(!hidden(path, Listener::Public, false));
}
