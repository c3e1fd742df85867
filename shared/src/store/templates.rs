//! Message templates: one item per account, channel and name (`account_id`,
//! `template_key` = `channel#name`), its languages as a map.

use aws_sdk_dynamodb::types::ReturnValue;
use serde_dynamo::to_attribute_value;

use super::{KeyPage, Store, db_err, de, s, ts};
use crate::domain::messages::templates::{Template, key};
use crate::domain::payments::plan::PaymentTemplates;
use crate::domain::payments::texts;
use crate::domain::{CustomerChannel, PaymentState};
use crate::error::{Error, Result};

impl Store {
    /// The account's `payment.<state>` templates on `channels`, side by
    /// side (an event asks for one to three).
    pub async fn payment_templates(
        &self,
        account_id: &str,
        state: PaymentState,
        channels: &[CustomerChannel],
    ) -> Result<PaymentTemplates> {
        let name = texts::template_name(state);
        let reads = channels
            .iter()
            .map(|channel| self.get_template(account_id, *channel, &name));
        let found = futures::future::try_join_all(reads).await?;
        Ok(channels
            .iter()
            .copied()
            .zip(found)
            .filter_map(|(c, t)| Some((c, t?)))
            .collect())
    }

    /// Writes (or replaces) a template in one write; a replaced template
    /// keeps its `created_at`, so concurrent writes need no read first —
    /// the last one stands whole.
    pub async fn put_template(&self, template: &Template) -> Result<Template> {
        let languages = to_attribute_value(&template.languages)
            .map_err(|e| Error::Dependency(format!("cannot encode a template: {e}")))?;
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.templates)
            .key("account_id", s(&template.account_id))
            .key("template_key", s(&template.template_key))
            .update_expression(
                "SET channel = :c, #name = :n, languages = :l, updated_at = :u, \
                 created_at = if_not_exists(created_at, :u)",
            )
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":c", s(template.channel.as_str()))
            .expression_attribute_values(":n", s(&template.name))
            .expression_attribute_values(":l", languages)
            .expression_attribute_values(":u", ts(template.updated_at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(db_err)?;
        de(out.attributes.unwrap_or_default())
    }

    pub async fn get_template(
        &self,
        account_id: &str,
        channel: CustomerChannel,
        name: &str,
    ) -> Result<Option<Template>> {
        self.get(
            &self.tables.templates,
            &[
                ("account_id", account_id),
                ("template_key", &key(channel, name)),
            ],
        )
        .await
    }

    /// A page of the account's templates, by channel then name.
    pub async fn list_templates(
        &self,
        account_id: &str,
        channel: Option<CustomerChannel>,
        limit: i32,
        cursor: Option<String>,
    ) -> Result<(Vec<Template>, Option<String>)> {
        let page = KeyPage {
            table: &self.tables.templates,
            sort_key: "template_key",
            prefix: channel.map(|c| format!("{}#", c.as_str())),
        };
        self.key_page(account_id, &page, limit, cursor, |t: &Template| {
            &t.template_key
        })
        .await
    }

    /// Removes a template; false if there was none.
    pub async fn delete_template(
        &self,
        account_id: &str,
        channel: CustomerChannel,
        name: &str,
    ) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.templates)
            .key("account_id", s(account_id))
            .key("template_key", s(&key(channel, name)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(db_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
