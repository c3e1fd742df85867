//! Genio's form-encoded event parser: any bytes are either refused with a
//! 4xx or give an event within the limits.
#![no_main]

use inc_shared::domain::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match Event::from_form(body) {
        Ok(event) => assert!(!event.id.is_empty() && event.id.chars().count() <= 128, "{:?}", event.id),
        Err(e) => assert!((400..500).contains(&e.status()), "{e}"),
    }
});
