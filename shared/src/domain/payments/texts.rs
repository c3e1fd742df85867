//! The texts customers receive about a payment, per channel × state ×
//! language, rendered with minijinja from the transaction's fields
//! ([`data`]). Defaults ship here (English and Arabic). An account replaces
//! them with its own `payment.<state>` templates (`domain::messages::templates`);
//! the older overrides in its channel settings, under the key `state` or
//! `state.language`, still come first where they exist.

use minijinja::Environment;

use crate::domain::common::channel::CustomerChannel;

use crate::domain::accounts::providers::{
    Channels, EmailProvider, EmailTemplate, SmsProvider, WhatsappProvider,
};
use crate::domain::events::payment::PaymentState;
use crate::domain::payments::transaction::Transaction;
use crate::error::{Error, Result};

/// The default sentence for a state, in English and Arabic.
fn phrase(state: PaymentState, language: &str) -> &'static str {
    use PaymentState::*;
    let ar = language == "ar";
    match (state, ar) {
        (Created, false) => "your payment request for order {{ order }} of {{ amount }} is ready.",
        (Created, true) => "طلب الدفع للطلب {{ order }} بمبلغ {{ amount }} جاهز.",
        (Paid, false) => {
            "we received your payment of {{ amount }} for order {{ order }}. Thank you!"
        }
        (Paid, true) => "استلمنا دفعتك بمبلغ {{ amount }} للطلب {{ order }}. شكراً لك!",
        (Canceled, false) => "the payment for order {{ order }} was canceled.",
        (Canceled, true) => "تم إلغاء الدفع للطلب {{ order }}.",
        (Failed, false) => {
            "the payment for order {{ order }} did not go through. Please try again."
        }
        (Failed, true) => "لم تتم عملية الدفع للطلب {{ order }}. يرجى المحاولة مرة أخرى.",
        (Expired, false) => "the payment link for order {{ order }} has expired.",
        (Expired, true) => "انتهت صلاحية رابط الدفع للطلب {{ order }}.",
        (Authorized, false) => "your payment of {{ amount }} for order {{ order }} is authorized.",
        (Authorized, true) => "تم تفويض دفعتك بمبلغ {{ amount }} للطلب {{ order }}.",
        (Voided, false) => "the authorization for order {{ order }} was voided.",
        (Voided, true) => "تم إبطال التفويض للطلب {{ order }}.",
        (Refunded, false) => "{{ amount }} for order {{ order }} was refunded.",
        (Refunded, true) => "تم استرداد {{ amount }} للطلب {{ order }}.",
        (Captured, false) => "{{ amount }} for order {{ order }} was captured.",
        (Captured, true) => "تم تحصيل {{ amount }} للطلب {{ order }}.",
    }
}

fn greeting(language: &str) -> &'static str {
    if language == "ar" {
        "مرحباً{% if first_name %} {{ first_name }}{% endif %}، "
    } else {
        "Hi{% if first_name %} {{ first_name }}{% endif %}, "
    }
}

fn default_subject(language: &str) -> &'static str {
    if language == "ar" {
        "دفعتك للطلب {{ order }}"
    } else {
        "Your payment for order {{ order }}"
    }
}

/// The name of the account's own template for a payment state.
pub fn template_name(state: PaymentState) -> String {
    format!("payment.{}", state.as_str())
}

/// The variables a payment's texts are rendered with: the shipped ones,
/// the settings' overrides and the account's `payment.<state>` templates.
pub fn data(t: &Transaction) -> serde_json::Value {
    let amount = match (&t.amount, &t.currency_code) {
        (Some(a), Some(c)) => format!("{a} {c}"),
        (Some(a), None) => a.clone(),
        _ => String::new(),
    };
    serde_json::json!({
        "first_name": t.customer_first_name.clone().unwrap_or_default(),
        "order": t.order_no.clone().unwrap_or_else(|| t.session_id.clone()),
        "order_no": t.order_no.clone().unwrap_or_default(),
        "session_id": t.session_id.clone(),
        "amount": amount,
        "currency_code": t.currency_code.clone().unwrap_or_default(),
        "state": t.state.as_str(),
        "language": t.language.clone(),
    })
}

/// Whether the account's channel settings override the text of `t`'s
/// state on `channel` (they win over a stored template).
pub fn overridden(channels: &Channels, channel: CustomerChannel, t: &Transaction) -> bool {
    match channel {
        CustomerChannel::Sms => channels
            .sms
            .as_ref()
            .is_some_and(|p| lookup(&p.templates, t).is_some()),
        CustomerChannel::Email => channels
            .email
            .as_ref()
            .is_some_and(|p| lookup(&p.templates, t).is_some()),
        CustomerChannel::Whatsapp => channels
            .whatsapp
            .as_ref()
            .is_some_and(|p| p.templates.contains_key(t.state.as_str())),
        CustomerChannel::Push | CustomerChannel::InApp => false,
    }
}

fn render(source: &str, t: &Transaction) -> Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.render_str(source, data(t))
        .map(|s| s.trim().to_owned())
        .map_err(|e| {
            Error::unprocessable(
                "template_error",
                format!("a message template failed: {e}"),
                None,
            )
        })
}

fn lookup<'a, T>(
    overrides: &'a std::collections::BTreeMap<String, T>,
    t: &Transaction,
) -> Option<&'a T> {
    let state = t.state.as_str();
    overrides
        .get(&format!("{state}.{}", t.language))
        .or_else(|| overrides.get(state))
}

/// The SMS text for the transaction's current state.
pub fn sms_text(t: &Transaction, provider: &SmsProvider) -> Result<String> {
    match lookup(&provider.templates, t) {
        Some(source) => render(source, t),
        None => render(
            &format!("{}{}", greeting(&t.language), phrase(t.state, &t.language)),
            t,
        ),
    }
}

/// The email's subject and text for the transaction's current state.
pub fn email(t: &Transaction, provider: &EmailProvider) -> Result<(String, String)> {
    let (subject, body) = match lookup(&provider.templates, t) {
        Some(EmailTemplate { subject, body }) => (subject.clone(), body.clone()),
        None => (
            default_subject(&t.language).to_owned(),
            format!("{}{}", greeting(&t.language), phrase(t.state, &t.language)),
        ),
    };
    Ok((render(&subject, t)?, render(&body, t)?))
}

/// The WhatsApp template name, language and body parameters.
pub fn whatsapp(t: &Transaction, provider: &WhatsappProvider) -> (String, String, Vec<String>) {
    let name = provider
        .templates
        .get(t.state.as_str())
        .cloned()
        .unwrap_or_else(|| format!("inc_{}", t.state.as_str()));
    let amount = [t.amount.as_deref(), t.currency_code.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let params = vec![
        t.customer_first_name.clone().unwrap_or_default(),
        t.order_no.clone().unwrap_or_else(|| t.session_id.clone()),
        amount,
    ];
    (name, t.language.clone(), params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::providers::check_overrides;
    use crate::domain::events::payment::PaymentChange;

    fn tx(state: &str, lang: &str) -> Transaction {
        let c = PaymentChange::from_value(serde_json::json!({"session_id": "s_1", "order_no": "o_9", "state": state,
            "amount": "19.000", "currency_code": "KWD", "customer_first_name": "Asha", "language": lang}))
        .unwrap();
        Transaction::apply(None, "acc", "e", &c, chrono::Utc::now())
    }

    fn sms() -> SmsProvider {
        SmsProvider {
            fallback: None,
            enabled: true,
            url: "http://x".into(),
            api_key: "k".into(),
            sender: None,
            templates: Default::default(),
        }
    }

    #[test]
    fn every_state_has_a_text_in_both_languages() {
        for state in PaymentState::ALL {
            for lang in ["en", "ar"] {
                let text = sms_text(&tx(state.as_str(), lang), &sms()).unwrap();
                assert!(
                    text.contains("o_9") && text.contains("Asha"),
                    "{state:?} {lang}: {text}"
                );
                assert!(!text.contains("{{"), "{text}");
            }
        }
        assert_eq!(
            sms_text(&tx("paid", "en"), &sms()).unwrap(),
            "Hi Asha, we received your payment of 19.000 KWD for order o_9. Thank you!"
        );
    }

    #[test]
    fn overrides_win_by_state_and_language() {
        let mut p = sms();
        p.templates
            .insert("paid".into(), "Paid: {{ order }}".into());
        p.templates
            .insert("paid.ar".into(), "مدفوع: {{ order }}".into());
        assert_eq!(sms_text(&tx("paid", "en"), &p).unwrap(), "Paid: o_9");
        assert_eq!(sms_text(&tx("paid", "ar"), &p).unwrap(), "مدفوع: o_9");
        let c = Channels {
            sms: Some(p.clone()),
            ..Default::default()
        };
        assert!(check_overrides(&c).is_ok());
        p.templates.insert("paid".into(), "{% if %}".into());
        assert!(
            check_overrides(&Channels {
                sms: Some(p.clone()),
                ..Default::default()
            })
            .is_err()
        );
        p.templates.clear();
        p.templates.insert("lost".into(), "x".into());
        assert!(
            check_overrides(&Channels {
                sms: Some(p),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn customer_fields_are_data_not_template() {
        let mut t = tx("paid", "en");
        t.customer_first_name = Some("{{ 7 * 7 }}".into());
        let text = sms_text(&t, &sms()).unwrap();
        assert!(
            text.contains("{{ 7 * 7 }}") && !text.contains("49"),
            "{text}"
        );
    }

    #[test]
    fn whatsapp_uses_the_named_or_default_template() {
        let mut p = WhatsappProvider {
            enabled: true,
            base_url: "http://x".into(),
            phone_number_id: "1".into(),
            access_token: "t".into(),
            templates: Default::default(),
            verify_token: None,
            app_secret: None,
            fallback: None,
        };
        assert_eq!(whatsapp(&tx("created", "ar"), &p).0, "inc_created");
        p.templates.insert("paid".into(), "payment_paid".into());
        let (name, lang, params) = whatsapp(&tx("paid", "en"), &p);
        assert_eq!((name.as_str(), lang.as_str()), ("payment_paid", "en"));
        assert_eq!(params, ["Asha", "o_9", "19.000 KWD"]);
    }
}
