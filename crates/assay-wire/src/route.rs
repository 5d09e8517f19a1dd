//! Routing: a pure function from method and path to a [`Route`].
//!
//! The host's edge (`assay::edge::route`, a re-export) dispatches on it. It lives in this
//! crate, which has no plugin runtime in its build graph, because the paths are part of the
//! wire StackOne and vendors speak to the host, and so that the `route` fuzz target builds
//! without wasmtime.
//!
//! The routes are a public contract (StackOne and vendors are configured with them):
//!
//! | method | path | route |
//! |---|---|---|
//! | `POST`, `OPTIONS` | `/v1/products/{product}/packages` | StackOne's Package's List Endpoint |
//! | `POST` | `/v1/products/{product}/webhooks` | StackOne's order webhooks |
//! | any | `/v1/products/{product}/callbacks/{rest…}` | the vendor's system calling the plugin (`rest` not starting with `/`) |
//! | `GET` | `/healthz`, `/readyz`, `/metrics` | liveness, readiness, Prometheus |
//! | `GET` | `/admin` | the status page (HTML), behind a login session or the admin token |
//! | `GET`, `POST` | `/admin/login` | the login form; posting the admin token starts a session |
//! | `POST` | `/admin/logout` | ends the session |
//! | `GET` | `/admin/status`, `/admin/orders/{id}` | operator views (JSON), behind the admin token |
//! | `POST` | `/admin/orders/{id}/retry` | redrive a failed order or a dead-lettered result: JSON with the admin token, or the status page's button (session cookie, same origin) |
//!
//! With an admin listener (`server.admin_listen`), which listener serves a route is decided
//! by [`hidden`]: the operator's routes only on the admin listener, StackOne's and the
//! vendor's only on the public one; `/healthz` and `/readyz` on both.

use http::Method;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `POST /v1/products/{product}/packages`.
    Packages {
        /// The product named in the path.
        product: &'a str,
    },
    /// `OPTIONS /v1/products/{product}/packages`: a CORS preflight.
    PackagesPreflight {
        /// The product named in the path.
        product: &'a str,
    },
    /// `POST /v1/products/{product}/webhooks`.
    Webhooks {
        /// The product named in the path.
        product: &'a str,
    },
    /// `/v1/products/{product}/callbacks/{rest}`, any method.
    Callback {
        /// The product named in the path.
        product: &'a str,
        /// Everything after `callbacks/` (may be empty).
        rest: &'a str,
    },
    /// `GET /healthz`.
    Healthz,
    /// `GET /readyz`.
    Readyz,
    /// `GET /metrics`.
    Metrics,
    /// `GET /admin`: the status page.
    AdminPage,
    /// `GET /admin/login`: the login form.
    AdminLoginForm,
    /// `POST /admin/login`: the admin token, posted from the form.
    AdminLogin,
    /// `POST /admin/logout`.
    AdminLogout,
    /// `GET /admin/status`.
    AdminStatus,
    /// `GET /admin/orders/{id}`.
    AdminOrder {
        /// The order's row id or StackOne order id.
        id: &'a str,
    },
    /// `POST /admin/orders/{id}/retry`.
    AdminRetry {
        /// The order's row id.
        id: &'a str,
    },
    /// A known path with a method it does not take.
    MethodNotAllowed {
        /// The value of the `Allow` header.
        allow: &'static str,
    },
    /// Nothing here.
    NotFound,
}

impl Route<'_> {
    /// The path template the route matched, for access logs: never the raw path, which
    /// carries whatever a client sent.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Packages { .. } | Route::PackagesPreflight { .. } => {
                "/v1/products/{product}/packages"
            }
            Route::Webhooks { .. } => "/v1/products/{product}/webhooks",
            Route::Callback { .. } => "/v1/products/{product}/callbacks/{rest}",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::AdminPage => "/admin",
            Route::AdminLoginForm | Route::AdminLogin => "/admin/login",
            Route::AdminLogout => "/admin/logout",
            Route::AdminStatus => "/admin/status",
            Route::AdminOrder { .. } => "/admin/orders/{id}",
            Route::AdminRetry { .. } => "/admin/orders/{id}/retry",
            Route::MethodNotAllowed { .. } | Route::NotFound => "unmatched",
        }
    }
}

impl Route<'_> {
    /// Whether a person reads the answer in a browser: errors become HTML pages.
    pub fn is_page(&self) -> bool {
        matches!(
            self,
            Route::AdminPage | Route::AdminLoginForm | Route::AdminLogin | Route::AdminLogout
        )
    }
}

/// Routes a request. `path` is the URI path without the query.
pub fn route<'a>(method: &Method, path: &'a str) -> Route<'a> {
    // One leading slash only: `//v1/products/…` is not `/v1/products/…` (a proxy or a
    // signature computed over the path would see two different requests). A path without
    // one (`*`, an authority) names no route.
    let Some(relative) = path.strip_prefix('/') else {
        return Route::NotFound;
    };
    let segments: Vec<&str> = relative.splitn(5, '/').collect();
    match segments.as_slice() {
        ["healthz"] => only_get(method, Route::Healthz),
        ["readyz"] => only_get(method, Route::Readyz),
        ["metrics"] => only_get(method, Route::Metrics),
        ["admin"] | ["admin", ""] => only_get(method, Route::AdminPage),
        ["admin", "login"] => match *method {
            Method::GET | Method::HEAD => Route::AdminLoginForm,
            Method::POST => Route::AdminLogin,
            _ => Route::MethodNotAllowed {
                allow: "GET, HEAD, POST",
            },
        },
        ["admin", "logout"] => match *method {
            Method::POST => Route::AdminLogout,
            _ => Route::MethodNotAllowed { allow: "POST" },
        },
        ["admin", "status"] => only_get(method, Route::AdminStatus),
        ["admin", "orders", id] if !id.is_empty() => only_get(method, Route::AdminOrder { id }),
        ["admin", "orders", id, "retry"] if !id.is_empty() => match *method {
            Method::POST => Route::AdminRetry { id },
            _ => Route::MethodNotAllowed { allow: "POST" },
        },
        ["v1", "products", product, rest @ ..] if !product.is_empty() => {
            product_route(method, product, rest)
        }
        _ => Route::NotFound,
    }
}

/// The listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `server.listen`: StackOne, vendors, load balancers.
    Public,
    /// `server.admin_listen`: the operator.
    Admin,
}

/// Whether `path` is answered 404 on `listener` whatever it names; `split` says whether an
/// admin listener runs. Decided on the path before routing, so a method that a hidden route
/// would refuse does not betray it with a 405 either.
pub fn hidden(path: &str, listener: Listener, split: bool) -> bool {
    let operator = path == "/metrics" || path == "/admin" || path.starts_with("/admin/");
    match (listener, split) {
        (Listener::Public, false) => false,
        (Listener::Public, true) => operator,
        (Listener::Admin, _) => path.starts_with("/v1/"),
    }
}

fn product_route<'a>(method: &Method, product: &'a str, rest: &[&'a str]) -> Route<'a> {
    match rest {
        ["packages"] => match *method {
            Method::POST => Route::Packages { product },
            Method::OPTIONS => Route::PackagesPreflight { product },
            _ => Route::MethodNotAllowed {
                allow: "POST, OPTIONS",
            },
        },
        ["webhooks"] => match *method {
            Method::POST => Route::Webhooks { product },
            _ => Route::MethodNotAllowed { allow: "POST" },
        },
        ["callbacks"] => Route::Callback { product, rest: "" },
        // The plugin is handed `rest` without a leading slash (the contract says so):
        // `callbacks//x` is no more `callbacks/x` than `//v1/…` is `/v1/…`.
        ["callbacks", rest] if !rest.starts_with('/') => Route::Callback { product, rest },
        _ => Route::NotFound,
    }
}

fn only_get<'a>(method: &Method, route: Route<'a>) -> Route<'a> {
    if *method == Method::GET || *method == Method::HEAD {
        route
    } else {
        Route::MethodNotAllowed { allow: "GET, HEAD" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_routes() {
        assert_eq!(
            route(&Method::POST, "/v1/products/codetest/packages"),
            Route::Packages {
                product: "codetest"
            }
        );
        assert_eq!(
            route(&Method::OPTIONS, "/v1/products/codetest/packages"),
            Route::PackagesPreflight {
                product: "codetest"
            }
        );
        assert_eq!(
            route(&Method::POST, "/v1/products/bc/webhooks"),
            Route::Webhooks { product: "bc" }
        );
        assert_eq!(
            route(&Method::PUT, "/v1/products/bc/callbacks/a/b/c"),
            Route::Callback {
                product: "bc",
                rest: "a/b/c"
            }
        );
        assert_eq!(
            route(&Method::GET, "/v1/products/bc/callbacks"),
            Route::Callback {
                product: "bc",
                rest: ""
            }
        );
    }

    #[test]
    fn wrong_methods_and_unknown_paths() {
        assert_eq!(
            route(&Method::GET, "/v1/products/x/packages"),
            Route::MethodNotAllowed {
                allow: "POST, OPTIONS"
            }
        );
        assert_eq!(
            route(&Method::GET, "/v1/products/x/webhooks"),
            Route::MethodNotAllowed { allow: "POST" }
        );
        assert_eq!(
            route(&Method::POST, "/healthz"),
            Route::MethodNotAllowed { allow: "GET, HEAD" }
        );
        assert_eq!(
            route(&Method::POST, "/v1/products//packages"),
            Route::NotFound
        );
        assert_eq!(
            route(&Method::POST, "/v1/products/x/packages/extra"),
            Route::NotFound
        );
        assert_eq!(route(&Method::GET, "/"), Route::NotFound);
        for doubled in [
            "//v1/products/codetest/webhooks",
            "/v1//products/codetest/webhooks",
            "//healthz",
        ] {
            assert_eq!(route(&Method::POST, doubled), Route::NotFound, "{doubled}");
        }
        assert_eq!(
            route(&Method::GET, "/v2/products/x/packages"),
            Route::NotFound
        );
    }

    #[test]
    fn a_routed_path_is_the_path_its_route_names() {
        // The `route` fuzz target's round-trip property: each of these used to be routed, and
        // the path rebuilt from its route was not the path received.
        assert_eq!(route(&Method::GET, "healthz"), Route::NotFound);
        assert_eq!(
            route(&Method::POST, "v1/products/x/webhooks"),
            Route::NotFound
        );
        assert_eq!(
            route(&Method::POST, "/v1/products/x/callbacks//a"),
            Route::NotFound,
            "the plugin would be handed `/a`"
        );
        assert_eq!(
            route(&Method::POST, "/v1/products/x/callbacks/a//b"),
            Route::Callback {
                product: "x",
                rest: "a//b"
            }
        );
    }

    #[test]
    fn operator_routes() {
        assert_eq!(route(&Method::GET, "/healthz"), Route::Healthz);
        assert_eq!(route(&Method::GET, "/readyz"), Route::Readyz);
        assert_eq!(route(&Method::GET, "/metrics"), Route::Metrics);
        assert_eq!(route(&Method::GET, "/admin/status"), Route::AdminStatus);
        assert_eq!(
            route(&Method::GET, "/admin/orders/42"),
            Route::AdminOrder { id: "42" }
        );
        assert_eq!(route(&Method::GET, "/admin/orders/"), Route::NotFound);
        assert_eq!(
            route(&Method::POST, "/admin/orders/42/retry"),
            Route::AdminRetry { id: "42" }
        );
        assert_eq!(
            route(&Method::GET, "/admin/orders/42/retry"),
            Route::MethodNotAllowed { allow: "POST" }
        );
        assert_eq!(route(&Method::GET, "/admin"), Route::AdminPage);
        assert_eq!(route(&Method::GET, "/admin/"), Route::AdminPage);
        assert_eq!(route(&Method::GET, "/admin/login"), Route::AdminLoginForm);
        assert_eq!(route(&Method::POST, "/admin/login"), Route::AdminLogin);
        assert_eq!(route(&Method::POST, "/admin/logout"), Route::AdminLogout);
        assert_eq!(
            route(&Method::GET, "/admin/logout"),
            Route::MethodNotAllowed { allow: "POST" }
        );
        assert_eq!(
            route(&Method::POST, "/admin"),
            Route::MethodNotAllowed { allow: "GET, HEAD" }
        );
    }

    #[test]
    fn each_listener_serves_its_own_routes() {
        use Listener::{Admin, Public};
        for path in ["/metrics", "/admin", "/admin/login", "/admin/status"] {
            assert!(
                !hidden(path, Public, false),
                "{path}: one listener serves all"
            );
            assert!(hidden(path, Public, true), "{path}: hidden on public");
            assert!(!hidden(path, Admin, true), "{path}: served on admin");
        }
        for path in ["/healthz", "/readyz"] {
            assert!(
                !hidden(path, Public, true) && !hidden(path, Admin, true),
                "{path}"
            );
        }
        assert!(hidden("/v1/products/x/webhooks", Admin, true));
        assert!(!hidden("/v1/products/x/webhooks", Public, true));
        assert!(
            !hidden("/administrator", Public, true),
            "only the admin tree"
        );
    }

    #[test]
    fn templates_hide_what_the_client_sent() {
        let packages = route(&Method::POST, "/v1/products/secret-name/packages");
        assert_eq!(packages.template(), "/v1/products/{product}/packages");
        let callback = route(&Method::GET, "/v1/products/bc/callbacks/a/b?x=1");
        assert_eq!(
            callback.template(),
            "/v1/products/{product}/callbacks/{rest}"
        );
        assert_eq!(
            route(&Method::GET, "/admin/orders/42").template(),
            "/admin/orders/{id}"
        );
        assert_eq!(
            route(&Method::GET, "/anything/else").template(),
            "unmatched"
        );
    }
}
