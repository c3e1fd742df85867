//! Genio SMS's IPN as the merchant's endpoint receives it, and the line its
//! "IPN History" log shows for it.

use chrono::{DateTime, Utc};

use crate::domain::events::event::{IpnType, SmsResult};

/// The form body of a Genio IPN: Genio's fields, in Genio's order, with
/// standard form encoding (UTF-8, percent-encoded, a space written `+`).
pub fn ipn_form(ipn_type: IpnType, sms: &SmsResult) -> String {
    let status_code = sms.status_code.to_string();
    let id_smsout = sms.id_smsout.to_string();
    let fields: [(&str, &str); 10] = [
        ("status", &sms.status),
        ("status_code", &status_code),
        ("id_smsout", &id_smsout),
        ("request_code", &sms.request_code),
        ("pin", &sms.pin),
        ("custom", &sms.custom),
        ("ipn_type", ipn_type.as_str()),
        ("to", &sms.to),
        ("from", &sms.from),
        ("msg", &sms.msg),
    ];
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// One line of Genio's log: `ipn_type source http_status payload time`.
/// `http_status` is `-` when the endpoint never answered.
pub fn log_line(
    ipn_type: &str,
    source: &str,
    http_status: Option<u16>,
    payload: &str,
    at: DateTime<Utc>,
) -> String {
    let status = http_status.map_or_else(|| "-".to_owned(), |s| s.to_string());
    format!(
        "{ipn_type} {source} {status} {payload} {}",
        at.format("%Y-%m-%d %H:%M:%S")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Event;
    use chrono::TimeZone;

    #[test]
    fn encodes_the_seed_exactly_as_genio_does() {
        let event =
            Event::from_json(crate::domain::events::event::tests::SEED_SENT.as_bytes()).unwrap();
        let (ipn, sms) = event.sms().unwrap();
        assert_eq!(
            ipn_form(ipn, sms),
            "status=RESULT_OK&status_code=-1&id_smsout=6&request_code=54618541&pin=025719\
             &custom=&ipn_type=SENT&to=320555555&from=00391231234&msg=Your+SMS+message%F0%9F%A7%98"
        );
    }

    #[test]
    fn escapes_what_would_break_the_form() {
        let event =
            Event::from_json(crate::domain::events::event::tests::SEED_SENT.as_bytes()).unwrap();
        let (_, sms) = event.sms().unwrap();
        let mut sms = sms.clone();
        sms.msg = "a&ipn_type=DELIVERY=+%".into();
        let form = ipn_form(IpnType::Delivery, &sms);
        assert!(
            form.ends_with("&msg=a%26ipn_type%3DDELIVERY%3D%2B%25"),
            "{form}"
        );
        assert_eq!(form.matches("ipn_type=").count(), 1);
    }

    #[test]
    fn formats_the_log_line() {
        let at = Utc.with_ymd_and_hms(2025, 1, 30, 22, 0, 1).unwrap();
        assert_eq!(
            log_line("SENT", "smsout_api", Some(200), "status=RESULT_OK", at),
            "SENT smsout_api 200 status=RESULT_OK 2025-01-30 22:00:01"
        );
        assert_eq!(
            log_line("DELIVERY", "smsout_api", None, "x=1", at),
            "DELIVERY smsout_api - x=1 2025-01-30 22:00:01"
        );
    }
}
