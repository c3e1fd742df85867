//! The receipt parsers (contract section 10) — Genio's IPN form, Meta's
//! status webhook, SES's event — take anything a stranger posts: each
//! either refuses it with a 4xx or reads a receipt within its limits.
#![no_main]

use inc_shared::domain::messages::receipts::email::{SesNotice, ses_event};
use inc_shared::domain::messages::receipts::{ReceiptStatus, SmsInbound, sms_inbound, whatsapp_statuses};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let now = chrono::Utc::now();
    match sms_inbound(body, now) {
        Ok(SmsInbound::Receipt { notification_id, .. }) => {
            assert!(notification_id.starts_with("ntf_") && notification_id.len() <= 64)
        }
        Ok(SmsInbound::Stop { from }) => assert!(from.starts_with('+'), "{from}"),
        Ok(SmsInbound::Reply { from, id, .. }) => {
            assert!(from.starts_with('+'), "{from}");
            assert_eq!(id.len(), 64, "a reply's id is its body's digest");
        }
        Ok(SmsInbound::Ignored) => {}
        Err(e) => assert!((400..500).contains(&e.status()), "{e}"),
    }
    match whatsapp_statuses(body) {
        Ok(statuses) => {
            for (id, _) in statuses {
                assert!(!id.is_empty() && id.len() <= 256);
            }
        }
        Err(e) => assert!((400..500).contains(&e.status()), "{e}"),
    }
    match ses_event(&String::from_utf8_lossy(body)) {
        Ok(SesNotice::Event(e)) => {
            assert!(e.account_id.starts_with("acc_") && e.account_id.len() <= 64);
            assert!(!e.message_id.is_empty() && e.message_id.len() <= 512);
            let opts_out = matches!(e.receipt.status, ReceiptStatus::Bounced | ReceiptStatus::Complained);
            assert!(e.suppress.is_empty() || opts_out);
        }
        Ok(SesNotice::Ignored(_)) => {}
        Err(e) => assert!((400..500).contains(&e.status()), "{e}"),
    }
});
