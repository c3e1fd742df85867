//! Quiet hours (contract section 9): a daily window, in the account's IANA
//! time zone, inside which an SMS or WhatsApp message waits for the
//! window's end. Email and webhooks never wait.
//!
//! The window may cross midnight (`21:00`–`08:00`). Its end is a local time
//! on a real calendar day: where a DST change skips it, the message goes at
//! the first instant after the gap; where a DST change repeats it, at the
//! first of the two.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::common::channel::Channel;
use crate::error::{Error, Result};

/// `settings.quiet_hours`, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// `HH:MM` (or `HH:MM:SS`), local time.
    pub start: String,
    pub end: String,
    /// An IANA time zone, such as `Europe/Rome`.
    pub timezone: String,
}

/// Whether messages on `channel` keep quiet hours: SMS and WhatsApp do.
pub fn applies_to(channel: Channel) -> bool {
    matches!(channel, Channel::Sms | Channel::Whatsapp)
}

fn invalid(field: &str, why: &str) -> Error {
    let field = format!("quiet_hours.{field}");
    Error::bad_request("invalid_field", format!("{field}: {why}"), Some(&field))
}

fn parse_time(value: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(value, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(value, "%H:%M:%S"))
        .ok()
        .filter(|_| matches!(value.len(), 5 | 8))
}

impl QuietHours {
    /// `{"start", "end", "timezone"}` checked, each fault naming its field.
    pub fn from_value(value: &Value) -> Result<QuietHours> {
        let Value::Object(fields) = value else {
            return Err(Error::bad_request(
                "invalid_field",
                "quiet_hours: must be an object {\"start\", \"end\", \"timezone\"}, or null",
                Some("quiet_hours"),
            ));
        };
        if let Some(key) = fields
            .keys()
            .find(|k| !matches!(k.as_str(), "start" | "end" | "timezone"))
        {
            return Err(invalid(
                key,
                "unknown field; expected start, end and timezone",
            ));
        }
        let text = |name: &str| match fields.get(name) {
            Some(Value::String(v)) => Ok(v.clone()),
            None | Some(Value::Null) => Err(invalid(name, "is required")),
            Some(_) => Err(invalid(name, "must be a string")),
        };
        let (start, end, timezone) = (text("start")?, text("end")?, text("timezone")?);
        let from =
            parse_time(&start).ok_or_else(|| invalid("start", "must be HH:MM, such as 21:00"))?;
        let to = parse_time(&end).ok_or_else(|| invalid("end", "must be HH:MM, such as 08:00"))?;
        if from == to {
            return Err(invalid("end", "must differ from start"));
        }
        if timezone.parse::<Tz>().is_err() {
            return Err(invalid(
                "timezone",
                "must be an IANA time zone, such as Europe/Rome",
            ));
        }
        Ok(QuietHours {
            start,
            end,
            timezone,
        })
    }

    /// When the window `now` falls in ends; `None` outside it.
    /// The same window in `timezone` when it names a zone (a recipient's,
    /// contract 12), else in the account's own.
    pub fn in_zone(&self, timezone: Option<&str>) -> QuietHours {
        match timezone.filter(|z| z.parse::<Tz>().is_ok()) {
            Some(zone) => QuietHours {
                timezone: zone.to_owned(),
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    pub fn window_end(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tz: Tz = self.timezone.parse().ok()?;
        let (start, end) = (parse_time(&self.start)?, parse_time(&self.end)?);
        let local = now.with_timezone(&tz);
        let time = local.time();
        let (inside, end_day) = if start < end {
            (start <= time && time < end, local.date_naive())
        } else if time >= start {
            (true, local.date_naive().succ_opt()?)
        } else {
            (time < end, local.date_naive())
        };
        if !inside {
            return None;
        }
        let at = first_instant(&tz, end_day.and_time(end))?;
        (at > now).then_some(at)
    }
}

/// The first instant at or after the local time `naive` in `tz`: after a
/// DST gap (at most a few hours), the first whole minute that exists.
fn first_instant(tz: &Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    let resolve = |local: NaiveDateTime| match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => None,
    };
    resolve(naive).or_else(|| {
        let minute = naive.with_second(0)?.with_nanosecond(0)?;
        (1..=240).find_map(|m| resolve(minute + Duration::minutes(m)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hours(start: &str, end: &str, timezone: &str) -> QuietHours {
        QuietHours::from_value(&json!({"start": start, "end": end, "timezone": timezone})).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_window_end_across_midnight_dst_and_zones() {
        // (window, time zone, now, when the message may go)
        let cases = [
            // A window inside one day, in Rome (UTC+1 in winter).
            (
                "12:00",
                "14:00",
                "Europe/Rome",
                "2026-12-02T11:30:00Z",
                Some("2026-12-02T13:00:00Z"),
            ),
            (
                "12:00",
                "14:00",
                "Europe/Rome",
                "2026-12-02T13:00:00Z",
                None,
            ),
            (
                "12:00",
                "14:00",
                "Europe/Rome",
                "2026-12-02T10:59:59Z",
                None,
            ),
            // Across midnight: late evening waits for tomorrow morning…
            (
                "21:00",
                "08:00",
                "Europe/Rome",
                "2026-12-02T22:00:00Z",
                Some("2026-12-03T07:00:00Z"),
            ),
            // …the small hours for this morning…
            (
                "21:00",
                "08:00",
                "Europe/Rome",
                "2026-12-02T02:00:00Z",
                Some("2026-12-02T07:00:00Z"),
            ),
            // …and the day goes at once, up to the window's first second.
            (
                "21:00",
                "08:00",
                "Europe/Rome",
                "2026-12-02T07:00:00Z",
                None,
            ),
            (
                "21:00",
                "08:00",
                "Europe/Rome",
                "2026-12-02T19:59:59Z",
                None,
            ),
            (
                "21:00",
                "08:00",
                "Europe/Rome",
                "2026-12-02T20:00:00Z",
                Some("2026-12-03T07:00:00Z"),
            ),
            // Spring forward (Rome, 29 March 2026, 02:00 → 03:00): 02:30 does
            // not exist; the message goes at 03:00 local.
            (
                "22:00",
                "02:30",
                "Europe/Rome",
                "2026-03-28T22:00:00Z",
                Some("2026-03-29T01:00:00Z"),
            ),
            // Fall back (25 October 2026, 03:00 → 02:00): 02:30 happens
            // twice; the first (summer time, UTC+2) ends the window.
            (
                "21:00",
                "02:30",
                "Europe/Rome",
                "2026-10-24T21:00:00Z",
                Some("2026-10-25T00:30:00Z"),
            ),
            // In summer Rome is UTC+2.
            (
                "21:00",
                "08:00",
                "Europe/Rome",
                "2026-07-01T20:00:00Z",
                Some("2026-07-02T06:00:00Z"),
            ),
            // West of UTC, the local evening is the next UTC day.
            (
                "21:00",
                "08:00",
                "America/New_York",
                "2026-12-02T03:00:00Z",
                Some("2026-12-02T13:00:00Z"),
            ),
            // No DST at all.
            (
                "22:00",
                "07:00",
                "Asia/Kuwait",
                "2026-12-02T20:00:00Z",
                Some("2026-12-03T04:00:00Z"),
            ),
            // Seconds are allowed.
            (
                "12:00:00",
                "12:00:30",
                "UTC",
                "2026-12-02T12:00:10Z",
                Some("2026-12-02T12:00:30Z"),
            ),
        ];
        for (start, end, tz, now, expected) in cases {
            assert_eq!(
                hours(start, end, tz).window_end(utc(now)),
                expected.map(utc),
                "{start}–{end} {tz} at {now}"
            );
        }
    }

    #[test]
    fn bad_quiet_hours_name_their_field() {
        let cases = [
            (json!("21:00-08:00"), "quiet_hours"),
            (
                json!({"end": "08:00", "timezone": "UTC"}),
                "quiet_hours.start",
            ),
            (
                json!({"start": "9pm", "end": "08:00", "timezone": "UTC"}),
                "quiet_hours.start",
            ),
            (
                json!({"start": "21:00", "end": "24:00", "timezone": "UTC"}),
                "quiet_hours.end",
            ),
            (
                json!({"start": "21:00", "end": "21:00", "timezone": "UTC"}),
                "quiet_hours.end",
            ),
            (
                json!({"start": "21:00", "end": "08:00", "timezone": "Mars/Olympus"}),
                "quiet_hours.timezone",
            ),
            (
                json!({"start": "21:00", "end": "08:00", "timezone": 1}),
                "quiet_hours.timezone",
            ),
            (
                json!({"start": "21:00", "end": "08:00", "timezone": "UTC", "days": []}),
                "quiet_hours.days",
            ),
        ];
        for (value, field) in cases {
            match QuietHours::from_value(&value) {
                Err(Error::BadRequest { field: f, .. }) => {
                    assert_eq!(f.as_deref(), Some(field), "{value}")
                }
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_sms_and_whatsapp_keep_quiet_hours() {
        assert!(applies_to(Channel::Sms) && applies_to(Channel::Whatsapp));
        assert!(!applies_to(Channel::Email) && !applies_to(Channel::Webhook));
    }
}
