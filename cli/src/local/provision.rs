//! Provisioning: every table, queue, topic and SES configuration set of the
//! template, created on the local AWS endpoint as CloudFormation would
//! (named by logical id).

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Map, Value};

use super::template::{Resolver, Template};
use crate::{Error, Result};

/// Local names of the template's resources.
#[derive(Debug, Default, Clone)]
pub struct Resources {
    pub tables: BTreeMap<String, String>,
    /// Logical id → (URL, ARN).
    pub queues: BTreeMap<String, (String, String)>,
    /// Logical id → ARN.
    pub topics: BTreeMap<String, String>,
    /// Logical id → name.
    pub configuration_sets: BTreeMap<String, String>,
    /// WebSocket API logical id → where the local stack serves it
    /// (`ws://127.0.0.1:3001`).
    pub websockets: BTreeMap<String, String>,
}

impl Resolver for Resources {
    fn table_name(&self, id: &str) -> Option<String> {
        self.tables.get(id).cloned()
    }
    fn queue_url(&self, id: &str) -> Option<String> {
        self.queues.get(id).map(|(url, _)| url.clone())
    }
    fn queue_arn(&self, id: &str) -> Option<String> {
        self.queues.get(id).map(|(_, arn)| arn.clone())
    }
    fn topic_arn(&self, id: &str) -> Option<String> {
        self.topics.get(id).cloned()
    }
    fn configuration_set(&self, id: &str) -> Option<String> {
        self.configuration_sets.get(id).cloned()
    }
    fn websocket_endpoint(&self, id: &str) -> Option<String> {
        self.websockets.get(id).cloned()
    }
}

/// Creates every table, queue, topic and configuration set of the
/// template, named by logical id.
pub async fn provision(sdk: &SdkConfig, template: &Template) -> Result<Resources> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut resources = Resources::default();
    for table in &template.tables {
        create_table(&dynamodb, &table.logical_id, &table.properties).await?;
        resources
            .tables
            .insert(table.logical_id.clone(), table.logical_id.clone());
    }
    // Queues first, then their redrive policies, which name other queues.
    for queue in &template.queues {
        let mut request = sqs.create_queue().queue_name(&queue.logical_id);
        for (name, attribute) in [
            ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
            (
                "MessageRetentionPeriod",
                QueueAttributeName::MessageRetentionPeriod,
            ),
            ("DelaySeconds", QueueAttributeName::DelaySeconds),
            (
                "ReceiveMessageWaitTimeSeconds",
                QueueAttributeName::ReceiveMessageWaitTimeSeconds,
            ),
        ] {
            if let Some(value) = queue.properties.get(name) {
                request = request.attributes(attribute, template.resolve(value, &resources)?);
            }
        }
        let url = request
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .ok_or_else(|| Error::aws("CreateQueue returned no URL"))?;
        let arn = queue_arn(&sqs, &url).await?;
        resources
            .queues
            .insert(queue.logical_id.clone(), (url, arn));
    }
    for queue in &template.queues {
        let Some(policy) = queue
            .properties
            .get("RedrivePolicy")
            .and_then(Value::as_object)
        else {
            continue;
        };
        let mut resolved = Map::new();
        for (k, v) in policy {
            let value = template.resolve(v, &resources)?;
            let value = value
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::String(value));
            resolved.insert(k.clone(), value);
        }
        sqs.set_queue_attributes()
            .queue_url(&resources.queues[&queue.logical_id].0)
            .attributes(
                QueueAttributeName::RedrivePolicy,
                Value::Object(resolved).to_string(),
            )
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    }
    let sns = aws_sdk_sns::Client::new(sdk);
    for topic in &template.topics {
        let arn = sns
            .create_topic()
            .name(&topic.logical_id)
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sns::error::DisplayErrorContext(e)))?
            .topic_arn
            .ok_or_else(|| Error::aws("CreateTopic returned no ARN"))?;
        resources.topics.insert(topic.logical_id.clone(), arn);
    }
    let ses = aws_sdk_sesv2::Client::new(sdk);
    for set in &template.configuration_sets {
        ses.create_configuration_set()
            .configuration_set_name(&set.logical_id)
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_sesv2::error::DisplayErrorContext(e)))?;
        resources
            .configuration_sets
            .insert(set.logical_id.clone(), set.logical_id.clone());
    }
    Ok(resources)
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| Error::aws(aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| Error::aws("GetQueueAttributes returned no ARN"))
}

fn key_schema(value: Option<&Value>) -> Result<Vec<KeySchemaElement>> {
    value
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Template("a table or index has no KeySchema".into()))?
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(
                    k.get("AttributeName")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .key_type(KeyType::from(
                    k.get("KeyType").and_then(Value::as_str).unwrap_or_default(),
                ))
                .build()
                .map_err(|e| Error::Template(e.to_string()))
        })
        .collect()
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    props: &Map<String, Value>,
) -> Result<()> {
    let definitions = props
        .get("AttributeDefinitions")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Template(format!("{name}: no AttributeDefinitions")))?
        .iter()
        .map(|d| {
            AttributeDefinition::builder()
                .attribute_name(
                    d.get("AttributeName")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .attribute_type(ScalarAttributeType::from(
                    d.get("AttributeType")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ))
                .build()
                .map_err(|e| Error::Template(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut request = client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema(props.get("KeySchema"))?))
        .billing_mode(BillingMode::PayPerRequest);
    for index in props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let projection = index.get("Projection");
        let projection = Projection::builder()
            .set_projection_type(
                projection
                    .and_then(|p| p.get("ProjectionType"))
                    .and_then(Value::as_str)
                    .map(ProjectionType::from),
            )
            .set_non_key_attributes(
                projection
                    .and_then(|p| p.get("NonKeyAttributes"))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    }),
            )
            .build();
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(
                index
                    .get("IndexName")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
            .set_key_schema(Some(key_schema(index.get("KeySchema"))?))
            .projection(projection)
            .build()
            .map_err(|e| Error::Template(e.to_string()))?;
        request = request.global_secondary_indexes(gsi);
    }
    request
        .send()
        .await
        .map_err(|e| Error::aws(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(
                ttl.get("AttributeName")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
            .enabled(ttl.get("Enabled").and_then(Value::as_bool).unwrap_or(false))
            .build()
            .map_err(|e| Error::Template(e.to_string()))?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| Error::aws(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}
