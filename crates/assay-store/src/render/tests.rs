use super::*;
use crate::{
    EventDisposition, OrderId, OrderKind, OrderState, OutboxState, RedriveKind, Timestamp,
};

/// 2023-11-14T22:13:20.000Z plus `s` seconds.
fn at(s: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + s * 1000)
}

fn summary(id: i64, order_id: &str) -> OrderSummary {
    OrderSummary {
        id: OrderId(id),
        product: "codetest".into(),
        order_id: order_id.into(),
        kind: OrderKind::Assessment,
        account_id: "acct-1".into(),
        provider: None,
        package_id: None,
        candidate_label: None,
        state: OrderState::Received,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        failure_reason: None,
        external_id: None,
        test_url: None,
        last_result: None,
        undelivered_results: 0,
        dead_letters: 0,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn fulfilled(id: i64, order_id: &str) -> OrderSummary {
    OrderSummary {
        kind: OrderKind::BackgroundCheck,
        provider: Some("recruitee".into()),
        package_id: Some("pkg-1".into()),
        candidate_label: Some("Ada Lovelace".into()),
        state: OrderState::DeadLettered,
        attempts: 12,
        external_id: Some("ext-42".into()),
        test_url: Some("https://vendor.example/t/42".into()),
        last_result: Some("completed".into()),
        dead_letters: 1,
        updated_at: at(65),
        ..summary(id, order_id)
    }
}

#[test]
fn the_order_table_aligns_its_columns() {
    let mut odd = summary(7, "o-7");
    odd.candidate_label = Some("Eve\n\u{1b}[31m".into());
    let text = order_table(&[fulfilled(12, "stackone-order-12"), odd]);
    let expected = "\
ID  PRODUCT   STACKONE ORDER     KIND              STATE          CANDIDATE        ATTEMPTS  DEAD LETTERS  EXTERNAL ID  UPDATED                   CREATED
12  codetest  stackone-order-12  background_check  dead_lettered  Ada Lovelace     12        1             ext-42       2023-11-14T22:14:25.000Z  2023-11-14T22:13:20.000Z
7   codetest  o-7                assessment        received       Eve\\n\\u{1b}[31m  0         0             -            2023-11-14T22:13:20.000Z  2023-11-14T22:13:20.000Z
";
    assert_eq!(text, expected);
}

#[test]
fn an_empty_order_table_says_so() {
    let text = order_table(&[]);
    let expected = format!("{}\n{NO_ORDERS}\n", ORDER_COLUMNS.join("  "));
    assert_eq!(text, expected);
}

#[test]
fn an_order_detail_has_every_section() {
    let detail = OrderDetail {
        summary: fulfilled(12, "o-12"),
        order_json: r#"{"id":"o-12","candidate":{"email":"ada@example.com"}}"#.into(),
        events: vec![
            EventRecord {
                id: 1,
                event_name: "ats_assessments.created".into(),
                idempotency_key: "k-1".into(),
                received_at: at(0),
                disposition: EventDisposition::Order,
                envelope: "{}".into(),
            },
            EventRecord {
                id: 5,
                event_name: "ats_assessments.created".into(),
                idempotency_key: "k-2".into(),
                received_at: at(3),
                disposition: EventDisposition::DuplicateOrder,
                envelope: "{}".into(),
            },
        ],
        outbox: vec![
            OutboxRecord {
                id: 3,
                result_value: Some("initiated".into()),
                body_json: r#"{"result":{"value":"initiated"}}"#.into(),
                state: OutboxState::Delivered,
                attempts: 1,
                next_attempt_at: None,
                last_error: None,
                http_status: Some(200),
                created_at: at(1),
                finished_at: Some(at(2)),
            },
            OutboxRecord {
                id: 9,
                result_value: Some("completed".into()),
                body_json: r#"{"result":{"value":"completed"}}"#.into(),
                state: OutboxState::DeadLettered,
                attempts: 2,
                next_attempt_at: None,
                last_error: Some("HTTP 503".into()),
                http_status: Some(422),
                created_at: at(60),
                finished_at: Some(at(65)),
            },
        ],
        dead_letters: vec![DeadLetterRecord {
            id: 1,
            outbox_id: 9,
            http_status: Some(422),
            message: "score out of range".into(),
            created_at: at(65),
            redriven_at: Some(at(70)),
        }],
        redrives: vec![RedriveRecord {
            id: 2,
            kind: RedriveKind::Result,
            from_state: OrderState::DeadLettered,
            reason: Some("score out of range".into()),
            outbox_id: Some(9),
            attempts: 2,
            created_at: at(70),
        }],
    };
    let expected = r#"Order 12 (codetest, StackOne order o-12)
  kind            background_check
  state           dead_lettered
  account         acct-1
  provider        recruitee
  package         pkg-1
  candidate       Ada Lovelace
  attempts        12
  next attempt    -
  last error      -
  failure reason  -
  external id     ext-42
  test url        https://vendor.example/t/42
  last result     completed
  undelivered     0
  dead letters    1
  created         2023-11-14T22:13:20.000Z
  updated         2023-11-14T22:14:25.000Z

Events
  ID  RECEIVED                  EVENT                    DISPOSITION      IDEMPOTENCY KEY
  1   2023-11-14T22:13:20.000Z  ats_assessments.created  order            k-1
  5   2023-11-14T22:13:23.000Z  ats_assessments.created  duplicate_order  k-2

Outbox
  ID  RESULT     STATE          ATTEMPTS  HTTP  CREATED                   NEXT  FINISHED                  ERROR
  3   initiated  delivered      1         200   2023-11-14T22:13:21.000Z  -     2023-11-14T22:13:22.000Z  -
  9   completed  dead_lettered  2         422   2023-11-14T22:14:20.000Z  -     2023-11-14T22:14:25.000Z  HTTP 503
  body 3: {"result":{"value":"initiated"}}
  body 9: {"result":{"value":"completed"}}

Dead letters
  ID  OUTBOX  HTTP  CREATED                   REDRIVEN                  MESSAGE
  1   9       422   2023-11-14T22:14:25.000Z  2023-11-14T22:14:30.000Z  score out of range

Redrives
  ID  AT                        WHAT    FROM           OUTBOX  ATTEMPTS  REASON
  2   2023-11-14T22:14:30.000Z  result  dead_lettered  9       2         score out of range

StackOne order
  {
    "candidate": {
      "email": "ada@example.com"
    },
    "id": "o-12"
  }
"#;
    assert_eq!(order_detail(&detail), expected);
}

#[test]
fn an_order_detail_without_history_says_none() {
    let detail = OrderDetail {
        summary: summary(7, "o-7"),
        order_json: "not json\u{7}".into(),
        events: Vec::new(),
        outbox: Vec::new(),
        dead_letters: Vec::new(),
        redrives: Vec::new(),
    };
    let text = order_detail(&detail);
    let tail = "
Events
  (none)

Outbox
  (none)

Dead letters
  (none)

StackOne order
  not json\\u{7}
";
    assert!(text.ends_with(tail), "{text}");
    assert!(
        text.starts_with("Order 7 (codetest, StackOne order o-7)\n  kind            assessment\n"),
        "{text}"
    );
}
