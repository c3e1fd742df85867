//! The in-app feed: items by message and by campaign, read by the app
//! with its recipient token (never another recipient's, never with an API
//! key), an exact unread count under concurrent reads, and every item and
//! read arriving live on each of the recipient's sockets.

use futures::{SinkExt, StreamExt};
use inc_shared::store::connections::Connection;
use inc_tests::{PATIENCE, TestStack, eventually, json};
use reqwest::Method;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn token(t: &TestStack, key: &str, recipient: &str) -> String {
    let (status, body) = t
        .send_json(
            &format!("/v1/recipients/{recipient}/token"),
            key,
            json!({"ttl_seconds": 3600}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().expect("a token").to_owned()
}

async fn open(t: &TestStack, token: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("{}/?token={token}", t.ws_url()))
        .await
        .expect("the socket opens");
    socket
}

/// The next text frame, as JSON (within the test's patience).
async fn frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("a JSON frame");
        }
    }
}

/// The next frame of type `kind`, skipping others (the reads a burst of
/// concurrent reads sent, say).
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let f = frame(socket).await;
        if f["type"] == kind {
            return f;
        }
    }
}

async fn in_app(t: &TestStack, key: &str, id: &str, to: &str) -> (u16, Value) {
    t.send_json(
        "/v1/messages",
        key,
        json!({"id": id, "channel": "in_app", "to_recipient": to, "title": "Price alert",
               "text": format!("{id}: AAPL crossed 200"), "data": {"symbol": "AAPL"}, "category": "alerts"}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_is_read_by_token_and_arrives_live_on_every_socket() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let key = &acct.key;
    for id in ["ada", "bob"] {
        let (status, _) = t
            .call(
                Method::PUT,
                &format!("/v1/recipients/{id}"),
                key,
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200);
    }

    // Tokens: at most 24 h, only for the account's recipients.
    let (status, body) = t
        .send_json(
            "/v1/recipients/ada/token",
            key,
            json!({"ttl_seconds": 90_000}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("ttl_seconds")),
        "{body}"
    );
    assert_eq!(
        t.send_json("/v1/recipients/nobody/token", key, json!({}))
            .await
            .0,
        404
    );
    let ada = token(&t, key, "ada").await;
    let bob = token(&t, key, "bob").await;

    // A bad token is refused at connect; a good one opens, twice.
    let refused =
        tokio_tungstenite::connect_async(format!("{}/?token=not-a-token", t.ws_url())).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("a bad token must be refused: {:?}", other.map(|_| ())),
    }
    // Ada's claims under Bob's signature: forged.
    let (claims, _) = ada.rsplit_once('.').expect("a JWT");
    let (_, signature) = bob.rsplit_once('.').expect("a JWT");
    let tampered = format!("{claims}.{signature}");
    assert_eq!(t.as_app(Method::GET, "/v1/feed", &tampered).await.0, 401);
    assert!(
        tokio_tungstenite::connect_async(format!("{}/?token={tampered}", t.ws_url()))
            .await
            .is_err()
    );
    let (mut phone, mut tablet, mut bobs) = (
        open(&t, &ada).await,
        open(&t, &ada).await,
        open(&t, &bob).await,
    );

    // An item arrives on each of ada's sockets, with the unread count.
    let (status, answer) = in_app(&t, key, "alert-1", "ada").await;
    assert_eq!(status, 202, "{answer}");
    for socket in [&mut phone, &mut tablet] {
        let f = frame(socket).await;
        assert_eq!(f["type"], "feed.item", "{f}");
        assert_eq!(f["item"]["title"], "Price alert");
        assert_eq!(f["item"]["data"], json!({"symbol": "AAPL"}));
        assert_eq!(f["item"]["category"], "alerts");
        assert_eq!(f["unread_count"], 1);
    }
    let item = answer["notification_id"].as_str().expect("id").to_owned();
    // Bob's socket got nothing of ada's: its first frame is its own.
    in_app(&t, key, "bob-1", "bob").await;
    let f = frame(&mut bobs).await;
    assert!(
        f["item"]["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("bob-1")),
        "{f}"
    );

    // The app reads its own feed by token; what it got is seen.
    let (status, feed) = t.as_app(Method::GET, "/v1/feed", &ada).await;
    assert_eq!(status, 200, "{feed}");
    assert_eq!(feed["unread_count"], 1);
    assert_eq!(feed["items"][0]["id"], item.as_str());
    assert!(feed["items"][0]["seen_at"].is_string(), "{feed}");
    assert!(feed["items"][0]["read_at"].is_null());
    let (_, merchant) = t.get(key, "/v1/recipients/ada/feed").await;
    assert_eq!(merchant["items"][0]["id"], item.as_str(), "{merchant}");
    // An API key is not a recipient token; a token reads no one else's.
    assert_eq!(t.get(key, "/v1/feed").await.0, 401);
    assert_eq!(t.as_app(Method::GET, "/v1/feed", key).await.0, 401);
    assert_eq!(
        t.as_app(Method::POST, &format!("/v1/feed/{item}/read"), &bob)
            .await
            .0,
        404
    );
    assert_eq!(
        t.as_app(Method::GET, "/v1/recipients/ada/feed", &ada)
            .await
            .0,
        401
    );

    // A read answers and arrives live; reading again changes nothing.
    let (status, read) = t
        .as_app(Method::POST, &format!("/v1/feed/{item}/read"), &ada)
        .await;
    assert_eq!(
        (status, read["unread_count"].as_i64()),
        (200, Some(0)),
        "{read}"
    );
    for socket in [&mut phone, &mut tablet] {
        let f = frame(socket).await;
        assert_eq!(
            f,
            json!({"type": "feed.read", "ids": [item], "unread_count": 0})
        );
    }
    let (_, again) = t
        .as_app(Method::POST, &format!("/v1/feed/{item}/read"), &ada)
        .await;
    assert_eq!(again, json!({"ids": [], "unread_count": 0}));

    // Concurrent reads of the same items, twice each, beside a read-all:
    // each item is read once and the count ends exact.
    let mut items = Vec::new();
    for i in 0..6 {
        let (_, answer) = in_app(&t, key, &format!("alert-burst-{i}"), "ada").await;
        items.push(answer["notification_id"].as_str().expect("id").to_owned());
    }
    for _ in 0..6 {
        assert_eq!(frame(&mut phone).await["type"], "feed.item");
    }
    let paths: Vec<String> = items
        .iter()
        .chain(items.iter())
        .map(|id| format!("/v1/feed/{id}/read"))
        .collect();
    let reads = paths
        .iter()
        .map(|path| t.as_app(Method::POST, path, &ada))
        .collect::<Vec<_>>();
    let (answers, all) = tokio::join!(
        futures::future::join_all(reads),
        t.as_app(Method::POST, "/v1/feed/read-all", &ada)
    );
    let mut read_ids: Vec<String> = answers
        .iter()
        .chain(std::iter::once(&all))
        .flat_map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["ids"].as_array().cloned().unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    read_ids.sort();
    let mut expected = items.clone();
    expected.sort();
    assert_eq!(read_ids, expected, "each item read exactly once");
    assert_eq!(
        t.as_app(Method::GET, "/v1/feed", &ada).await.1["unread_count"],
        0
    );

    // A socket that closed is forgotten; one that vanished without a word
    // is forgotten at the first frame API Gateway cannot deliver.
    tablet.close(None).await.expect("close");
    let store = t.store();
    let vanished = Connection {
        connection_id: "vanished0000001".into(),
        account_id: acct.id.clone(),
        recipient_id: "ada".into(),
        connected_at: chrono::Utc::now(),
    };
    store
        .add_connection(&vanished)
        .await
        .expect("a socket record");
    in_app(&t, key, "alert-after", "ada").await;
    let f = next_of(&mut phone, "feed.item").await;
    assert!(
        f["item"]["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("alert-after")),
        "{f}"
    );
    eventually("gone sockets forgotten", PATIENCE, || async {
        let open = store
            .connections_of(&acct.id, "ada")
            .await
            .expect("sockets");
        (open.len() == 1).then_some(())
    })
    .await;
    phone
        .send(Message::Text("ping".into()))
        .await
        .expect("the app may talk; it is ignored");
    drop(bobs);

    // A campaign in_app reaches each member's feed.
    let (status, body) = t
        .call(Method::PUT, "/v1/templates/in_app/weekly", key,
              Some(json!({"languages": {"en": {"title": "Weekly", "body": "Hi {{ recipient.id }}, {{ news }}", "data": {"kind": "digest"}}}})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        t.call(
            Method::PUT,
            "/v1/lists/all",
            key,
            Some(json!({"name": "All"}))
        )
        .await
        .0,
        200
    );
    let (status, body) = t
        .send_json(
            "/v1/lists/all/members",
            key,
            json!({"recipients": [{"id": "ada"}, {"id": "bob"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = t
        .send_json(
            "/v1/campaigns",
            key,
            json!({"id": "weekly-1", "name": "Weekly", "list": "all",
            "channel": "in_app", "template": "weekly", "data": {"news": "markets are up"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let f = next_of(&mut phone, "feed.item").await;
    assert_eq!(f["item"]["title"], "Weekly", "{f}");
    assert_eq!(f["item"]["data"]["kind"], "digest");
    eventually("bob's digest", PATIENCE, || async {
        let (_, feed) = t.as_app(Method::GET, "/v1/feed", &bob).await;
        feed["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["body"] == "Hi bob, markets are up"))
            .then_some(())
    })
    .await;
}

/// Frames until `want` distinct items have arrived, counting each id.
async fn collect_items(
    socket: &mut Socket,
    want: usize,
) -> std::collections::BTreeMap<String, usize> {
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < want {
        let f = next_of(socket, "feed.item").await;
        *seen
            .entry(f["item"]["id"].as_str().expect("an id").to_owned())
            .or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_thousand_items_reaches_every_socket_once_and_counts_exactly() {
    const ITEMS: usize = 1_000;
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let key = &acct.key;
    let (status, _) = t
        .call(Method::PUT, "/v1/recipients/trader", key, Some(json!({})))
        .await;
    assert_eq!(status, 200);
    let token = token(&t, key, "trader").await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(open(&t, &token).await);
    }

    // The ledger: every id accepted, eight requests in flight at a time.
    let ids: Vec<String> = futures::stream::iter(0..ITEMS)
        .map(|i| {
            let t = &t;
            async move {
                let (status, body) = in_app(t, key, &format!("tick-{i:04}"), "trader").await;
                assert_eq!(status, 202, "{body}");
                body["notification_id"].as_str().expect("id").to_owned()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let accepted: std::collections::BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(accepted.len(), ITEMS);

    // Each socket gets every item once (frames may arrive out of order
    // under a burst: ids sort by creation, as the app orders them).
    for socket in &mut sockets {
        let seen = collect_items(socket, ITEMS).await;
        assert_eq!(
            seen.keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>(),
            accepted
        );
        assert!(
            seen.values().all(|n| *n == 1),
            "an item framed twice on one socket"
        );
    }
    // The feed holds each once, and the count is exact.
    let mut held = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/recipients/trader/feed?limit=100&cursor={c}"),
            None => "/v1/recipients/trader/feed?limit=100".to_owned(),
        };
        let (status, page) = t.get(key, &path).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["unread_count"], ITEMS, "{}", page["unread_count"]);
        for item in page["items"].as_array().expect("items") {
            assert!(
                held.insert(item["id"].as_str().expect("id").to_owned()),
                "an item held twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(held, accepted);
}
