//! The direct message parser (`POST /v1/messages`): any bytes are either
//! refused with a 4xx or give a message within the contract's limits.
#![no_main]

use inc_shared::domain::messages::direct::{Content, MAX_AHEAD, MessageRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let now = chrono::Utc::now();
    match MessageRequest::from_json(body, now) {
        Ok(m) => {
            assert!(!m.id.is_empty() && m.id.chars().count() <= 128, "{:?}", m.id);
            assert!(m.send_at.is_none_or(|at| at > now && at <= now + MAX_AHEAD));
            if let Content::Text { text, .. } = &m.content {
                assert!(!text.trim().is_empty());
            }
        }
        Err(e) => assert!((400..500).contains(&e.status()), "{e}"),
    }
});
