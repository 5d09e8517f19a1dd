//! The operator's pages: `/admin` (the status page) and `/admin/login`, server-rendered HTML
//! with a little CSS and no script, built by pure functions from what the handlers read.
//!
//! Candidate details (the name and address StackOne sent with an order) are masked
//! ([`html::mask`]) unless the page is asked for with `?reveal=1`, which only a logged-in
//! operator can ask for (every `/admin` page is). Revealing lasts for that one page load.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use assay_store::{DeadLetterRecord, OrderState, OrderSummary, StoreCounts, Timestamp};

use super::html::{self, escape};
use super::readiness::Readiness;

/// What the status page shows, read by the handler.
pub struct StatusPage<'a> {
    /// The products' readiness (reasons in full: this page is behind the login).
    pub readiness: &'a Readiness,
    /// Each product's kind (`assessment`, `background_check`).
    pub kinds: &'a BTreeMap<String, &'static str>,
    /// Orders by product and state, the outbox, dead letters by product.
    pub counts: &'a StoreCounts,
    /// The time the page is rendered, for ages.
    pub now: Timestamp,
    /// Dead letters with the order each belongs to.
    pub dead_letters: &'a [(OrderSummary, DeadLetterRecord)],
    /// The most recent orders.
    pub recent: &'a [OrderSummary],
    /// Show candidate details unmasked.
    pub reveal: bool,
}

/// `?reveal=1` in a query string.
pub fn wants_reveal(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|pair| pair == "reveal=1"))
}

/// The button that posts a redrive of `order` (`POST /admin/orders/{id}/retry`).
fn retry_button(order: &OrderSummary) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/admin/orders/{id}/retry\">\
         <button type=\"submit\" id=\"retry-{id}\">Retry</button></form>",
        id = order.id.0
    )
}

fn cell(text: &str) -> String {
    format!("<td>{}</td>", escape(text))
}

fn age(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

impl StatusPage<'_> {
    /// The whole page.
    pub fn render(&self) -> String {
        let mut b = String::new();
        let r = self.readiness;
        let (class, word) = if r.ready {
            ("ready", "ready")
        } else {
            ("bad", "not ready")
        };
        let _ = write!(
            b,
            "<nav><form class=\"inline\" method=\"post\" action=\"/admin/logout\">\
             <button type=\"submit\" id=\"logout\">Log out</button></form></nav>\n\
             <h1>Assay status: <span id=\"host-state\" class=\"{class}\">{word}</span></h1>\n"
        );
        if !r.problems.is_empty() {
            b.push_str("<ul id=\"problems\">");
            for p in &r.problems {
                let _ = write!(b, "<li class=\"err\">{}</li>", escape(p));
            }
            b.push_str("</ul>\n");
        }
        self.products(&mut b);
        self.orders_by_state(&mut b);
        self.outbox(&mut b);
        self.dead_letter_list(&mut b);
        self.recent_orders(&mut b);
        html::page("Assay status", &b)
    }

    fn products(&self, b: &mut String) {
        b.push_str(
            "<h2>Products</h2>\n<table id=\"products\"><tr><th>product</th><th>kind</th>\
             <th>state</th><th>plugin</th><th>contract</th><th>generation</th>\
             <th>last load or reload error</th></tr>\n",
        );
        for p in &self.readiness.products {
            let kind = self.kinds.get(&p.name).copied().unwrap_or("-");
            let state = p.state.as_str();
            let _ = writeln!(
                b,
                "<tr>{}{}<td class=\"{state}\">{state}</td>{}{}<td>{}</td><td class=\"err\">{}</td></tr>",
                cell(&p.name),
                cell(kind),
                cell(&p.plugin),
                cell(p.contract.unwrap_or("-")),
                p.generation,
                escape(p.error.as_deref().unwrap_or("")),
            );
        }
        b.push_str("</table>\n");
    }

    fn orders_by_state(&self, b: &mut String) {
        const STATES: usize = OrderState::ALL.len();
        let index = |state: &OrderState| OrderState::ALL.iter().position(|s| s == state);
        let mut rows: BTreeMap<&str, [u64; STATES]> = BTreeMap::new();
        for (product, state, n) in &self.counts.orders {
            if let Some(i) = index(state) {
                rows.entry(product.as_str()).or_default()[i] += n;
            }
        }
        b.push_str("<h2>Orders by state</h2>\n<table id=\"order-counts\"><tr><th>product</th>");
        for state in OrderState::ALL {
            let _ = write!(b, "<th>{}</th>", escape(state.as_str()));
        }
        b.push_str("</tr>\n");
        let mut total = [0u64; STATES];
        for (product, counts) in &rows {
            let _ = write!(b, "<tr>{}", cell(product));
            for (i, n) in counts.iter().enumerate() {
                total[i] += n;
                let _ = write!(b, "<td>{n}</td>");
            }
            b.push_str("</tr>\n");
        }
        b.push_str("<tr><th>all</th>");
        for n in total {
            let _ = write!(b, "<th>{n}</th>");
        }
        b.push_str("</tr></table>\n");
    }

    fn outbox(&self, b: &mut String) {
        let backlog = &self.counts.outbox;
        let oldest = backlog
            .oldest_created_at
            .map_or_else(|| "-".to_owned(), |t| age(self.now.since(t)));
        let _ = writeln!(
            b,
            "<h2>Outbox</h2>\n<table id=\"outbox\"><tr><th>results waiting</th><td>{}</td></tr>\
             <tr><th>oldest waiting for</th><td>{}</td></tr></table>",
            backlog.pending,
            escape(&oldest)
        );
    }

    fn dead_letter_list(&self, b: &mut String) {
        b.push_str("<h2>Dead letters</h2>\n");
        if self.dead_letters.is_empty() {
            b.push_str("<p class=\"muted\" id=\"dead-letters\">None.</p>\n");
            return;
        }
        b.push_str(
            "<table id=\"dead-letters\"><tr><th>order</th><th>product</th>\
             <th>StackOne order</th><th>status</th><th>reason</th><th>when</th><th></th></tr>\n",
        );
        for (order, letter) in self.dead_letters {
            let action = match letter.redriven_at {
                Some(at) => format!("retried {}", escape(&at.to_string())),
                None => retry_button(order),
            };
            let _ = writeln!(
                b,
                "<tr><td>{}</td>{}{}<td>{}</td><td class=\"err\">{}</td>{}<td>{action}</td></tr>",
                order.id.0,
                cell(&order.product),
                cell(&order.order_id),
                letter
                    .http_status
                    .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                escape(&letter.message),
                cell(&letter.created_at.to_string()),
            );
        }
        b.push_str("</table>\n");
    }

    fn recent_orders(&self, b: &mut String) {
        let toggle = if self.reveal {
            "<a href=\"/admin\" id=\"mask\">Mask candidate details</a>"
        } else {
            "<a href=\"/admin?reveal=1\" id=\"reveal\">Show candidate details</a>"
        };
        let _ = writeln!(b, "<h2>Recent orders</h2>\n<p>{toggle}</p>");
        b.push_str(
            "<table id=\"orders\"><tr><th>order</th><th>product</th><th>StackOne order</th>\
             <th>kind</th><th>state</th><th>candidate</th><th>attempts</th>\
             <th>last result</th><th>error</th><th>received</th></tr>\n",
        );
        for o in self.recent {
            let candidate = o.candidate_label.as_deref().unwrap_or("-");
            let candidate = if self.reveal {
                candidate.to_owned()
            } else {
                html::mask(candidate)
            };
            let error = o
                .failure_reason
                .as_deref()
                .or(o.last_error.as_deref())
                .unwrap_or("");
            // A failed order can be put back in the queue from here.
            let state = if o.state == OrderState::Failed {
                format!("<td>failed {}</td>", retry_button(o))
            } else {
                cell(o.state.as_str())
            };
            let _ = writeln!(
                b,
                "<tr><td>{}</td>{}{}{}{state}<td class=\"candidate\">{}</td><td>{}</td>{}<td class=\"err\">{}</td>{}</tr>",
                o.id.0,
                cell(&o.product),
                cell(&o.order_id),
                cell(o.kind.as_str()),
                escape(&candidate),
                o.attempts,
                cell(o.last_result.as_deref().unwrap_or("-")),
                escape(error),
                cell(&o.created_at.to_string()),
            );
        }
        b.push_str("</table>\n");
    }
}

/// The login form; `message` is shown above it (`error` styles it as a refusal).
pub fn login_page(message: Option<&str>, error: bool) -> String {
    let note = message.map_or_else(String::new, |m| {
        format!(
            "<p id=\"message\" class=\"{}\">{}</p>\n",
            if error { "err" } else { "muted" },
            escape(m)
        )
    });
    html::page(
        "Assay — log in",
        &format!(
            "<h1>Assay operator login</h1>\n{note}<form method=\"post\" action=\"/admin/login\">\
             <label>Admin token <input type=\"password\" name=\"token\" id=\"token\" \
             autocomplete=\"current-password\" required autofocus></label> \
             <button type=\"submit\" id=\"login\">Log in</button></form>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::readiness::{ProductReadiness, ProductState};
    use assay_store::{OrderId, OutboxBacklog};
    use assay_wire::order_kind::OrderKind;

    fn order(label: &str) -> OrderSummary {
        OrderSummary {
            id: OrderId(7),
            product: "codetest".into(),
            order_id: "ord-<1>".into(),
            kind: OrderKind::Assessment,
            account_id: "acc".into(),
            provider: None,
            package_id: None,
            candidate_label: Some(label.into()),
            state: OrderState::AwaitingResult,
            attempts: 1,
            next_attempt_at: None,
            last_error: None,
            failure_reason: None,
            external_id: None,
            test_url: None,
            last_result: Some("initiated".into()),
            undelivered_results: 0,
            dead_letters: 0,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        }
    }

    fn render(reveal: bool) -> String {
        let readiness = Readiness {
            ready: true,
            problems: vec!["product `x`: <bad> file".into()],
            products: vec![ProductReadiness {
                name: "codetest".into(),
                state: ProductState::Stale,
                generation: 3,
                contract: Some("0.2.0"),
                plugin: "codetest@1.0.0".into(),
                error: Some("plugin <broken>".into()),
            }],
        };
        let kinds = BTreeMap::from([("codetest".to_owned(), "assessment")]);
        let counts = StoreCounts {
            outbox: OutboxBacklog {
                pending: 2,
                oldest_created_at: Some(Timestamp::now()),
            },
            orders: vec![("codetest".into(), OrderState::AwaitingResult, 4)],
            dead_letters: vec![],
        };
        let recent = [order("Jane Doe <jane@example.com>")];
        StatusPage {
            readiness: &readiness,
            kinds: &kinds,
            counts: &counts,
            now: Timestamp::now(),
            dead_letters: &[],
            recent: &recent,
            reveal,
        }
        .render()
    }

    #[test]
    fn the_page_shows_products_counts_and_masked_candidates() {
        let page = render(false);
        for shown in [
            "codetest@1.0.0",
            "assessment",
            "stale",
            "0.2.0",
            "<td>3</td>",
            "plugin &lt;broken&gt;",
            "ord-&lt;1&gt;",
            "<td>4</td>",
            "J••• D•• &lt;j•••@e••••••.c••&gt;",
            "href=\"/admin?reveal=1\"",
        ] {
            assert!(page.contains(shown), "{shown} missing from\n{page}");
        }
        assert!(!page.contains("jane@example.com"), "{page}");
        assert!(!page.contains("<bad>"), "{page}");
        assert!(!page.contains("<script"), "{page}");
        let revealed = render(true);
        assert!(revealed.contains("Jane Doe &lt;jane@example.com&gt;"));
    }

    #[test]
    fn reveal_is_asked_for_exactly() {
        assert!(wants_reveal(Some("reveal=1")));
        assert!(wants_reveal(Some("a=b&reveal=1")));
        assert!(!wants_reveal(Some("reveal=0")));
        assert!(!wants_reveal(Some("xreveal=1")));
        assert!(!wants_reveal(None));
    }

    #[test]
    fn the_login_page_escapes_its_message() {
        let page = login_page(Some("<i>wrong</i>"), true);
        assert!(page.contains("&lt;i&gt;wrong"), "{page}");
        assert!(page.contains("method=\"post\" action=\"/admin/login\""));
    }
}
