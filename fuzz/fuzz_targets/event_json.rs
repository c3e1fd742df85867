//! The JSON event parser (`POST /v1/events`, `application/json`): any bytes
//! are either refused with a 4xx or give an event within the limits.
#![no_main]

use inc_shared::domain::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match Event::from_json(body) {
        Ok(event) => {
            assert!(!event.id.is_empty() && event.id.chars().count() <= 128, "{:?}", event.id);
            // What was accepted has a stable fingerprint.
            assert_eq!(event.fingerprint(), event.fingerprint());
        }
        Err(e) => assert!((400..500).contains(&e.status()), "{e}"),
    }
});
