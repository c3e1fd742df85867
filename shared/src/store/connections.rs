//! Open feed sockets (contract section 14): under their recipient
//! (`conn_key` = `account#recipient`, `connection_id`), so a new item finds
//! every socket of its recipient with one query; and under their own id
//! (`conn_key` = `conn#<id>`), so a disconnect finds whose it was. Both kept
//! three hours (API Gateway closes a socket after two); a socket API Gateway
//! says is gone is forgotten by whoever found it so.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::notifications::number;
use super::{Store, db_err, s};
use crate::error::Result;

/// How long a socket is remembered: past API Gateway's two hours.
const KEPT: Duration = Duration::hours(3);

fn conn_key(account_id: &str, recipient_id: &str) -> String {
    format!("{account_id}#{recipient_id}")
}

fn own_key(connection_id: &str) -> String {
    format!("conn#{connection_id}")
}

/// An open socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: String,
    pub account_id: String,
    pub recipient_id: String,
    pub connected_at: DateTime<Utc>,
}

impl Store {
    /// Remembers a socket of a recipient.
    pub async fn add_connection(&self, c: &Connection) -> Result<()> {
        let expires = number((c.connected_at + KEPT).timestamp());
        for key in [
            conn_key(&c.account_id, &c.recipient_id),
            own_key(&c.connection_id),
        ] {
            self.client
                .put_item()
                .table_name(&self.tables.connections)
                .item("conn_key", s(&key))
                .item("connection_id", s(&c.connection_id))
                .item("account_id", s(&c.account_id))
                .item("recipient_id", s(&c.recipient_id))
                .item("connected_at", super::ts(c.connected_at))
                .item("expires_at", expires.clone())
                .send()
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// The open sockets of a recipient (those API Gateway has not closed
    /// for two hours).
    pub async fn connections_of(
        &self,
        account_id: &str,
        recipient_id: &str,
    ) -> Result<Vec<Connection>> {
        let now = Utc::now();
        let all: Vec<Connection> = self
            .query_all(
                self.client
                    .query()
                    .table_name(&self.tables.connections)
                    .key_condition_expression("conn_key = :k")
                    .expression_attribute_values(":k", s(&conn_key(account_id, recipient_id)))
                    .consistent_read(true),
            )
            .await?;
        Ok(all
            .into_iter()
            .filter(|c| now - c.connected_at < KEPT)
            .collect())
    }

    /// Forgets a socket, found by its id (`$disconnect`, or gone).
    pub async fn remove_connection(&self, connection_id: &str) -> Result<()> {
        let own: Option<Connection> = self
            .get(
                &self.tables.connections,
                &[
                    ("conn_key", &own_key(connection_id)),
                    ("connection_id", connection_id),
                ],
            )
            .await?;
        if let Some(c) = own {
            self.client
                .delete_item()
                .table_name(&self.tables.connections)
                .key("conn_key", s(&conn_key(&c.account_id, &c.recipient_id)))
                .key("connection_id", s(connection_id))
                .send()
                .await
                .map_err(db_err)?;
        }
        self.client
            .delete_item()
            .table_name(&self.tables.connections)
            .key("conn_key", s(&own_key(connection_id)))
            .key("connection_id", s(connection_id))
            .send()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Forgets every socket of a recipient (its erasure).
    pub(super) async fn delete_connections(
        &self,
        account_id: &str,
        recipient_id: &str,
    ) -> Result<bool> {
        let open = self.connections_of(account_id, recipient_id).await?;
        let any = !open.is_empty();
        for c in open {
            self.remove_connection(&c.connection_id).await?;
        }
        Ok(any)
    }
}
