//! Which kind of endpoint a body makes (contract sections 7 and 15): an
//! HTTP one at its `url`, or a queue, topic or bus at its target field —
//! and what only an HTTP endpoint may have.

use std::collections::BTreeMap;

use crate::domain::accounts::settings::WebhookFormat;
use crate::domain::destinations::Destination;
use crate::error::{Error, Result};

/// What a body says of its kind: `type`, `url`, and the target field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Given<'a> {
    pub type_name: Option<&'a str>,
    pub url: Option<&'a str>,
    pub target: Option<&'a Destination>,
}

/// The destination and `url` this body gives an endpoint that has
/// `current` (`None`: a new one): a `type` needs its target field (or
/// keeps the current one of the same type); a target field belongs to
/// its type.
pub(crate) fn destination(
    given: Given<'_>,
    current: Option<(&Destination, &str)>,
) -> Result<(Destination, String)> {
    let current_type = current.map(|(d, _)| d.type_name());
    let type_name = given.type_name.or(current_type).unwrap_or("http");
    if let Some(given) = given.target
        && given.type_name() != type_name
        && let Some((field, _)) = given.target()
    {
        return Err(Error::unprocessable(
            "invalid_field",
            format!(
                "{field}: belongs to a {} endpoint, not a {type_name} one",
                given.type_name()
            ),
            Some(field),
        ));
    }
    if type_name == "http" {
        let url = match (given.url, current) {
            (Some(url), _) => url.to_owned(),
            (None, Some((Destination::Http, url))) => url.to_owned(),
            _ => {
                return Err(Error::bad_request(
                    "missing_field",
                    "url: is required",
                    Some("url"),
                ));
            }
        };
        return Ok((Destination::Http, url));
    }
    if given.url.is_some() {
        let field = Destination::field_of(type_name).unwrap_or("url");
        return Err(Error::unprocessable(
            "invalid_field",
            format!("url: a {type_name} endpoint takes `{field}`, not a url"),
            Some("url"),
        ));
    }
    let destination = match (given.target, current) {
        (Some(given), _) => given.clone(),
        (None, Some((d, _))) if d.type_name() == type_name => d.clone(),
        _ => {
            let field = Destination::field_of(type_name).unwrap_or("url");
            return Err(Error::bad_request(
                "missing_field",
                format!("{field}: is required for a {type_name} endpoint"),
                Some(field),
            ));
        }
    };
    let url = destination
        .target()
        .map(|(_, t)| t.to_owned())
        .unwrap_or_default();
    Ok((destination, url))
}

/// What only an HTTP endpoint may have: the `form` format and headers; and
/// a transformation works on the JSON, so not with `form`.
pub(crate) fn fits(
    destination: &Destination,
    format: WebhookFormat,
    headers: &BTreeMap<String, String>,
    transformed: bool,
) -> Result<()> {
    let type_name = destination.type_name();
    if !destination.is_http() && format == WebhookFormat::Form {
        return Err(Error::unprocessable(
            "invalid_field",
            format!("format: a {type_name} endpoint receives json"),
            Some("format"),
        ));
    }
    if !destination.is_http() && !headers.is_empty() {
        return Err(Error::unprocessable(
            "invalid_field",
            format!("headers: only an http endpoint sends headers, not a {type_name} one"),
            Some("headers"),
        ));
    }
    if transformed && format == WebhookFormat::Form {
        return Err(Error::unprocessable(
            "invalid_transformation",
            "transformation: reshapes the JSON webhook; it needs format json",
            Some("transformation"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use crate::domain::common::url_policy::EndpointPolicy;
    use crate::domain::destinations::Destination;
    use crate::domain::endpoints::endpoint::Endpoint;
    use crate::domain::endpoints::input::{EndpointPatch, EndpointSpec};

    const LOCAL: EndpointPolicy = EndpointPolicy {
        allow_private: true,
    };
    const QUEUE: &str = "http://127.0.0.1:5000/123456789012/orders";

    fn refused(body: &str) -> (u16, String) {
        let e = EndpointSpec::from_json(body.as_bytes(), &LOCAL).expect_err(body);
        (e.status(), e.field().unwrap_or_default().to_owned())
    }

    #[test]
    fn a_type_takes_its_own_target_and_nothing_only_http_has() {
        let spec = EndpointSpec::from_json(
            format!(r#"{{"type":"sqs","queue_url":"{QUEUE}","transformation":"{{id}}"}}"#)
                .as_bytes(),
            &LOCAL,
        )
        .expect("an sqs endpoint");
        assert_eq!(spec.url, QUEUE);
        assert_eq!(spec.destination.type_name(), "sqs");
        assert_eq!(spec.transformation.as_deref(), Some("{id}"));
        assert_eq!(refused(r#"{"type":"sqs"}"#), (400, "queue_url".into()));
        assert_eq!(
            refused(&format!(r#"{{"queue_url":"{QUEUE}"}}"#)),
            (422, "queue_url".into())
        );
        assert_eq!(
            refused(&format!(
                r#"{{"type":"sqs","queue_url":"{QUEUE}","url":"http://127.0.0.1/"}}"#
            )),
            (422, "url".into())
        );
        assert_eq!(
            refused(&format!(
                r#"{{"type":"sqs","queue_url":"{QUEUE}","format":"form"}}"#
            )),
            (422, "format".into())
        );
        assert_eq!(
            refused(&format!(
                r#"{{"type":"sqs","queue_url":"{QUEUE}","headers":{{"X-A":"b"}}}}"#
            )),
            (422, "headers".into())
        );
        assert_eq!(
            refused(
                r#"{"type":"sns","topic_arn":"arn:aws:sns:us-east-1:123456789012:t","event_bus_name":"b"}"#
            ),
            (422, "topic_arn".into())
        );
        assert_eq!(
            refused(r#"{"url":"http://127.0.0.1/","format":"form","transformation":"{id}"}"#),
            (422, "transformation".into())
        );
    }

    #[test]
    fn a_patch_changes_the_kind_only_with_the_new_target() {
        let http = Endpoint::create(
            "acc",
            EndpointSpec::from_json(br#"{"url":"http://127.0.0.1:9/"}"#, &LOCAL).expect("http"),
            Utc::now(),
        );
        let patch = |body: &str| EndpointPatch::from_json(body.as_bytes(), &LOCAL).expect(body);
        let e = patch(r#"{"type":"sqs"}"#)
            .apply(http.clone(), Utc::now())
            .expect_err("no queue_url");
        assert_eq!(e.field(), Some("queue_url"));
        let queue = patch(&format!(r#"{{"type":"sqs","queue_url":"{QUEUE}"}}"#))
            .apply(http.clone(), Utc::now())
            .expect("to a queue");
        assert_eq!(queue.url, QUEUE);
        // Its target alone changes; back to HTTP needs a url.
        let moved = patch(r#"{"queue_url":"http://127.0.0.1:5000/123456789012/other"}"#)
            .apply(queue.clone(), Utc::now())
            .expect("another queue");
        assert!(moved.url.ends_with("/other"));
        assert!(matches!(moved.destination, Destination::Sqs { .. }));
        let e = patch(r#"{"type":"http"}"#)
            .apply(queue.clone(), Utc::now())
            .expect_err("no url");
        assert_eq!(e.field(), Some("url"));
        let back = patch(r#"{"type":"http","url":"http://127.0.0.1:8/"}"#)
            .apply(queue, Utc::now())
            .expect("back to http");
        assert!(back.destination.is_http());
        // An HTTP endpoint keeps its url through a patch that does not name it.
        let same = patch(r#"{"description":"x"}"#)
            .apply(http.clone(), Utc::now())
            .expect("a description");
        assert_eq!(same.url, http.url);
    }
}
