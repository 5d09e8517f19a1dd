//! The operator's pages over real HTTP: the redirect to the login form, logging in and out,
//! the session cookie, forms refused from other sites, dead letters on the page, the Bearer-token JSON views for
//! scripts, no `Basic` challenge anywhere, and the admin listener taking the operator's
//! routes off the public one.

use std::path::Path;

use assay_emulator::{ScriptTarget, ScriptedResponse};
use assay_tests::harness::Deployment;
use assay_tests::process::HostProcess;
use reqwest::header;

use crate::ASSAY;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `(status, headers, body)`.
async fn answer(request: reqwest::RequestBuilder) -> (u16, header::HeaderMap, String) {
    let response = request.send().await.expect("the host answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("a body"))
}

fn no_basic_challenge(headers: &header::HeaderMap, what: &str) {
    for value in headers.get_all(header::WWW_AUTHENTICATE) {
        let value = value.to_str().unwrap_or("");
        assert!(
            !value.to_ascii_lowercase().starts_with("basic"),
            "{what} asks for Basic credentials: {value}"
        );
    }
}

/// Asserts that the header `name` contains `part`.
fn assert_header(headers: &header::HeaderMap, name: header::HeaderName, part: &str) {
    let value = headers.get(&name).and_then(|v| v.to_str().ok());
    assert!(
        value.is_some_and(|v| v.contains(part)),
        "{name} does not contain {part:?}: {headers:?}"
    );
}

/// Posts the login form as a browser on `url` would (with its `Origin`).
fn login(client: &reqwest::Client, url: &str, token: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{url}/admin/login"))
        .header(header::ORIGIN, url)
        .form(&[("token", token)])
}

/// The `name=value` of a `Set-Cookie`.
fn cookie_pair(headers: &header::HeaderMap) -> String {
    let set = headers[header::SET_COOKIE].to_str().expect("ascii");
    set.split(';').next().expect("a pair").to_owned()
}

#[tokio::test]
async fn a_browser_is_sent_to_the_login_form_logs_in_and_out() {
    let d = Deployment::start().await;
    let (url, client) = (d.url(), client());

    let (status, headers, _) = answer(client.get(format!("{url}/admin"))).await;
    assert_eq!(status, 303, "no session: to the login form");
    assert_eq!(headers[header::LOCATION], "/admin/login");
    no_basic_challenge(&headers, "/admin");

    let (status, headers, form) = answer(client.get(format!("{url}/admin/login"))).await;
    assert_eq!(status, 200);
    assert_header(&headers, header::CONTENT_TYPE, "text/html");
    assert!(
        form.contains("action=\"/admin/login\"") && form.contains("name=\"token\""),
        "{form}"
    );

    let (status, headers, page) = answer(login(&client, &url, "not-the-token")).await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("That is not the admin token."), "{page}");
    assert!(!headers.contains_key(header::SET_COOKIE));
    no_basic_challenge(&headers, "a wrong login");

    let (status, headers, _) = answer(login(&client, &url, d.secrets.admin.expose())).await;
    assert_eq!(status, 303);
    assert_eq!(headers[header::LOCATION], "/admin");
    let set = headers[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert!(
        !set.contains(d.secrets.admin.expose()),
        "the token is in the cookie"
    );
    let cookie = cookie_pair(&headers);

    let (status, headers, page) = answer(
        client
            .get(format!("{url}/admin"))
            .header(header::COOKIE, &cookie),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_header(
        &headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'",
    );
    assert!(
        page.contains("id=\"products\"") && page.contains("codetest"),
        "{page}"
    );
    assert!(page.contains("backcheck@"), "the plugin versions: {page}");

    // The session opens the JSON views too.
    let (status, _, json) = answer(
        client
            .get(format!("{url}/admin/status"))
            .header(header::COOKIE, &cookie),
    )
    .await;
    assert_eq!(status, 200, "{json}");

    // A cookie that was tampered with is no session.
    let forged = cookie.replacen('=', "=9", 1);
    let (status, headers, _) = answer(
        client
            .get(format!("{url}/admin"))
            .header(header::COOKIE, forged),
    )
    .await;
    assert_eq!(status, 303, "a forged cookie is sent to log in");
    assert_eq!(headers[header::LOCATION], "/admin/login");

    let (status, headers, _) = answer(
        client
            .post(format!("{url}/admin/logout"))
            .header(header::ORIGIN, &url)
            .header(header::COOKIE, &cookie),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(headers[header::LOCATION], "/admin/login?logged_out=1");
    let cleared = headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(
        cleared.starts_with("assay_admin=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let (_, _, page) = answer(client.get(format!("{url}/admin/login?logged_out=1"))).await;
    assert!(page.contains("You are logged out."), "{page}");
}

#[tokio::test]
async fn forms_posted_from_elsewhere_are_refused_with_the_reason() {
    let d = Deployment::start().await;
    let (url, client) = (d.url(), client());
    let token = d.secrets.admin.expose();
    let form = [("token", token)];
    let cases = [
        (
            client
                .post(format!("{url}/admin/login"))
                .header(header::ORIGIN, "http://evil.example")
                .form(&form),
            "a form posted from http://evil.example is refused",
        ),
        (
            client
                .post(format!("{url}/admin/login"))
                .header("sec-fetch-site", "cross-site")
                .form(&form),
            "another site is refused (Sec-Fetch-Site: cross-site)",
        ),
        (
            client.post(format!("{url}/admin/login")).form(&form),
            "without Origin or Sec-Fetch-Site is refused",
        ),
        (
            client
                .post(format!("{url}/admin/logout"))
                .header(header::ORIGIN, "http://evil.example"),
            "a form posted from http://evil.example is refused",
        ),
    ];
    for (request, says) in cases {
        let (status, headers, page) = answer(request).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains(says), "`{says}` missing from {page}");
        assert!(
            !headers.contains_key(header::SET_COOKIE),
            "a refused post set a cookie"
        );
    }
}

#[tokio::test]
async fn scripts_keep_the_bearer_json_views_without_a_basic_challenge() {
    let d = Deployment::start().await;
    let (url, client) = (d.url(), client());
    let (status, headers, body) = answer(client.get(format!("{url}/admin/status"))).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"assay admin\""
    );
    assert!(body.contains("/admin/login"), "says how to log in: {body}");
    let (status, headers, _) = answer(
        client
            .get(format!("{url}/admin/status"))
            .bearer_auth("wrong"),
    )
    .await;
    assert_eq!(status, 401);
    no_basic_challenge(&headers, "a wrong Bearer token");
    let (status, _, body) = answer(
        client
            .get(format!("{url}/admin/status"))
            .bearer_auth(d.secrets.admin.expose()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        status["products"].as_array().map(Vec::len),
        Some(2),
        "{status}"
    );
    assert_eq!(status["products"][0]["state"], "ready", "{status}");
    // The page answers a script with the token as well.
    let (status, _, page) = answer(
        client
            .get(format!("{url}/admin"))
            .bearer_auth(d.secrets.admin.expose()),
    )
    .await;
    assert_eq!(status, 200, "{page}");
}

#[tokio::test]
async fn an_admin_listener_takes_the_operators_routes_off_the_public_one() {
    let host = HostProcess::start_with_admin_listener(Path::new(ASSAY)).await;
    let (public, admin, client) = (host.url(), host.admin_url(), client());
    let token = host.secrets.admin.expose().to_owned();
    for path in ["/metrics", "/admin", "/admin/login", "/admin/status"] {
        let (status, _, body) =
            answer(client.get(format!("{public}{path}")).bearer_auth(&token)).await;
        assert_eq!(status, 404, "public {path}: {body}");
    }
    let (status, _, _) = answer(login(&client, &public, &token)).await;
    assert_eq!(status, 404, "public POST /admin/login");

    let (status, _, metrics) = answer(client.get(format!("{admin}/metrics"))).await;
    assert_eq!(status, 200, "admin /metrics");
    assert!(metrics.contains("assay_build_info"), "{metrics}");
    let (status, _, body) = answer(
        client
            .get(format!("{admin}/admin/status"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200, "admin /admin/status: {body}");
    let (status, headers, _) = answer(client.get(format!("{admin}/admin"))).await;
    assert_eq!(status, 303, "admin /admin without a session");
    assert_eq!(headers[header::LOCATION], "/admin/login");
    let (status, _, _) = answer(login(&client, &admin, &token)).await;
    assert_eq!(status, 303, "logging in on the admin listener");

    // Each keeps what is its own.
    for url in [&public, &admin] {
        let (status, _, body) = answer(client.get(format!("{url}/healthz"))).await;
        assert_eq!(status, 200, "{url}/healthz: {body}");
        let (status, _, body) = answer(client.get(format!("{url}/readyz"))).await;
        assert_eq!(status, 200, "{url}/readyz: {body}");
    }
    let (_, _, body) = answer(client.get(format!("{public}/readyz"))).await;
    let brief: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(brief.get("problems").is_none(), "states only: {brief}");
    let (status, _, _) = answer(
        client
            .post(format!("{admin}/v1/products/codetest/packages"))
            .body("{}"),
    )
    .await;
    assert_eq!(
        status, 404,
        "StackOne's routes are not on the admin listener"
    );
    host.order_through("codetest", 1).await;
}

#[tokio::test]
async fn the_page_lists_a_dead_letter_with_stackones_reason() {
    let d = Deployment::start().await;
    let order = d.order("codetest", 9).await;
    d.stackone.script(
        ScriptTarget::Order(order.order_id.clone()),
        ScriptedResponse::unprocessable("candidate is <archived>"),
    );
    assert_eq!(d.send("codetest", &order).await, 200);
    let client = client();
    let page = d
        .eventually_async("the dead letter on the page", || async {
            let (status, _, page) = answer(
                client
                    .get(format!("{}/admin", d.url()))
                    .bearer_auth(d.secrets.admin.expose()),
            )
            .await;
            (status == 200 && page.contains("<table id=\"dead-letters\">")).then_some(page)
        })
        .await;
    let row = page
        .lines()
        .skip_while(|l| !l.contains("id=\"dead-letters\""))
        .find(|l| l.contains(order.order_id.as_str()))
        .unwrap_or_else(|| panic!("no dead letter row for {}: {page}", order.order_id));
    assert!(
        row.contains("candidate is &lt;archived&gt;") && row.contains("<td>422</td>"),
        "the reason, escaped, and StackOne's status: {row}"
    );
}

#[tokio::test]
async fn the_retry_button_needs_a_session_and_a_post_from_this_host() {
    let d = Deployment::start().await;
    let (url, client) = (d.url(), client());
    let (order, id) = d.dead_letter("codetest", 11, "candidate is archived").await;
    let (_, headers, _) = answer(login(&client, &url, d.secrets.admin.expose())).await;
    let cookie = cookie_pair(&headers);
    let retry = format!("{url}/admin/orders/{id}/retry");

    let (status, headers, _) = answer(client.post(&retry)).await;
    assert_eq!(status, 401, "no session, no token");
    no_basic_challenge(&headers, "a retry without a session");
    let cross_site = [
        (
            client
                .post(&retry)
                .header(header::COOKIE, &cookie)
                .header("sec-fetch-site", "cross-site"),
            "another site is refused (Sec-Fetch-Site: cross-site)",
        ),
        (
            client
                .post(&retry)
                .header(header::COOKIE, &cookie)
                .header(header::ORIGIN, "http://evil.example"),
            "a form posted from http://evil.example is refused",
        ),
        (
            client.post(&retry).header(header::COOKIE, &cookie),
            "without Origin or Sec-Fetch-Site is refused",
        ),
    ];
    for (request, says) in cross_site {
        let (status, _, page) = answer(request).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains(says), "`{says}` missing from {page}");
    }
    let detail = d.order_detail(&order.order_id).await.expect("the order");
    assert!(
        detail["redrives"].as_array().is_some_and(Vec::is_empty),
        "a refused post changed nothing: {detail}"
    );

    // From the page itself: back to the page, and the result goes out again.
    let (status, headers, _) = answer(
        client
            .post(&retry)
            .header(header::COOKIE, &cookie)
            .header(header::ORIGIN, &url),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(headers[header::LOCATION], "/admin");
    assert_eq!(
        d.accepted_value(&order.order_id).await.as_deref(),
        Some("initiated")
    );
    // Nothing left to retry: the page says why, as a page.
    let (status, headers, page) = answer(
        client
            .post(&retry)
            .header(header::COOKIE, &cookie)
            .header(header::ORIGIN, &url),
    )
    .await;
    assert_eq!(status, 409, "{page}");
    assert_header(&headers, header::CONTENT_TYPE, "text/html");
    assert!(page.contains("only a failed order"), "{page}");
}
