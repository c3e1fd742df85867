//! `inc recipients import --list L FILE.csv`: a merchant's contacts into a
//! list, through the API as any client would (`POST /v1/lists/{id}/members`,
//! a thousand rows a request).
//!
//! The file has a header row naming its columns: `id` (required), `phone`,
//! `email`, `whatsapp`, `language`, `timezone`, and `data.<key>` for each
//! key of the recipient's `data` (a string). An empty cell is an absent
//! field: each row replaces its recipient whole, as `PUT` does. Every row
//! is checked here first, by the same rules the API applies, so a bad row
//! is reported by its line number and the rest go; a repeated id keeps its
//! first row. A request the API cannot take now (`503`, `429`, no answer)
//! is sent again, which is safe: a batch's retry adds only what is
//! missing and counts nothing twice.

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::Path;

use inc_shared::domain::recipients::lists::MAX_BATCH;
use inc_shared::domain::recipients::recipient::{RecipientSpec, check_id};

pub use crate::api::Target;
use crate::api::{Client, refusal};
use crate::{Error, Result};

/// The columns a file may have besides `data.<key>`.
const COLUMNS: &[&str] = &["id", "phone", "email", "whatsapp", "language", "timezone"];

/// A row left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The row's line in the file (the header is line 1).
    pub line: u64,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub added: u64,
    pub updated: u64,
    pub refused: Vec<Refused>,
    /// The list's members once the last batch was in.
    pub member_count: u64,
}

/// One good row: its line and the member as the API takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: u64,
    pub member: Value,
}

/// Reads a CSV file's rows: the good ones as members, the others refused.
/// A header the import cannot read (no `id`, an unknown column) refuses
/// the whole file.
pub fn read_rows(csv_text: impl std::io::Read) -> Result<(Vec<Row>, Vec<Refused>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(csv_text);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Api(format!("cannot read the header row: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if !header.iter().any(|c| c == "id") {
        return Err(Error::Api("the header row has no `id` column".to_owned()));
    }
    for column in &header {
        let known = COLUMNS.contains(&column.as_str())
            || column.strip_prefix("data.").is_some_and(|k| !k.is_empty());
        if !known {
            return Err(Error::Api(format!(
                "unknown column `{column}`; a file has {} and data.<key>",
                COLUMNS.join(", ")
            )));
        }
    }
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                refused.push(Refused {
                    line,
                    reason: format!("not a row of this file: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        match member_of(&header, &record) {
            Ok((id, member)) => match first_line.get(&id) {
                Some(first) => refused.push(Refused {
                    line,
                    reason: format!("id: `{id}` appears again (first on line {first})"),
                }),
                None => {
                    first_line.insert(id, line);
                    rows.push(Row { line, member });
                }
            },
            Err(reason) => refused.push(Refused { line, reason }),
        }
    }
    Ok((rows, refused))
}

/// A row as the member the API takes, checked by the API's own rules; or
/// why not, naming the field.
fn member_of(
    header: &[String],
    record: &csv::StringRecord,
) -> std::result::Result<(String, Value), String> {
    let mut fields = Map::new();
    let mut data = Map::new();
    let mut id = String::new();
    for (column, cell) in header.iter().zip(record.iter()) {
        if column == "id" {
            id = cell.to_owned();
        } else if cell.is_empty() {
            continue;
        } else if let Some(key) = column.strip_prefix("data.") {
            data.insert(key.to_owned(), Value::String(cell.to_owned()));
        } else {
            fields.insert(column.clone(), Value::String(cell.to_owned()));
        }
    }
    check_id(&id, "id").map_err(|e| e.to_string())?;
    if !data.is_empty() {
        fields.insert("data".to_owned(), Value::Object(data));
    }
    RecipientSpec::from_object(fields.clone(), "").map_err(|e| e.to_string())?;
    fields.insert("id".to_owned(), Value::String(id.clone()));
    Ok((id, Value::Object(fields)))
}

/// Imports `file` into `list` (created, named as its id, if there is
/// none), a batch at a time, with a progress bar on the terminal.
pub async fn run(target: &Target, list: &str, file: &Path) -> Result<Summary> {
    let reader = std::fs::File::open(file)
        .map_err(|e| Error::Api(format!("cannot open {}: {e}", file.display())))?;
    let (rows, refused) = read_rows(std::io::BufReader::new(reader))?;
    let bar = ProgressBar::new(rows.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = import(target, list, rows, refused, |n| bar.inc(n)).await;
    bar.finish_and_clear();
    summary
}

/// [`run`]'s work on rows already read; `progress` hears how many rows
/// each batch took.
pub async fn import(
    target: &Target,
    list: &str,
    rows: Vec<Row>,
    mut refused: Vec<Refused>,
    progress: impl Fn(u64),
) -> Result<Summary> {
    check_id(list, "list").map_err(|e| Error::Api(e.to_string()))?;
    let client = Client::new(target)?;
    ensure_list(&client, list).await?;
    let mut summary = Summary::default();
    for batch in rows.chunks(MAX_BATCH) {
        let members: Vec<&Value> = batch.iter().map(|r| &r.member).collect();
        let answer = client
            .send(
                reqwest::Method::POST,
                &format!("/v1/lists/{list}/members"),
                Some(json!({ "recipients": members })),
            )
            .await
            .map_err(|e| {
                let lines = (batch[0].line, batch[batch.len() - 1].line);
                Error::Api(format!("{e} (the batch of lines {}–{})", lines.0, lines.1))
            })?;
        summary.added += answer["added"].as_u64().unwrap_or(0);
        summary.updated += answer["updated"].as_u64().unwrap_or(0);
        summary.member_count = answer["member_count"].as_u64().unwrap_or(0);
        progress(batch.len() as u64);
    }
    if rows.is_empty() {
        let (_, found) = client
            .call(reqwest::Method::GET, &format!("/v1/lists/{list}"), None)
            .await?;
        summary.member_count = found["member_count"].as_u64().unwrap_or(0);
    }
    refused.sort_by_key(|r| r.line);
    summary.refused = refused;
    Ok(summary)
}

/// The list, created (named as its id) if there is none.
async fn ensure_list(client: &Client<'_>, list: &str) -> Result<()> {
    let path = format!("/v1/lists/{list}");
    match client.call(reqwest::Method::GET, &path, None).await? {
        (200, _) => Ok(()),
        (404, _) => client
            .send(reqwest::Method::PUT, &path, Some(json!({ "name": list })))
            .await
            .map(|_| ()),
        (status, body) => Err(refusal(status, &body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_members_and_bad_ones_are_refused_by_line() {
        let file = "id,phone,email,language,timezone,data.tier,data.city\n\
                    ada,+96599990001,Ada@Example.com,ar,Asia/Kuwait,gold,Kuwait\n\
                    bob,99990002,,,,,\n\
                    cy,,cy@example.com,,,,\n\
                    ada,+96599990009,,,,,\n\
                    ,+96599990003,,,,,\n\
                    dee,,,,Mars/Base,,\n";
        let (rows, refused) = read_rows(file.as_bytes()).expect("readable");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(
            rows[0].member,
            json!({"id": "ada", "phone": "+96599990001", "email": "Ada@Example.com",
                   "language": "ar", "timezone": "Asia/Kuwait",
                   "data": {"tier": "gold", "city": "Kuwait"}})
        );
        assert_eq!(
            rows[1].member,
            json!({"id": "cy", "email": "cy@example.com"})
        );
        let lines: Vec<(u64, &str)> = refused
            .iter()
            .map(|r| (r.line, r.reason.split(':').next().unwrap_or_default()))
            .collect();
        assert_eq!(
            lines,
            [(3, "phone"), (5, "id"), (6, "id"), (7, "timezone")],
            "{refused:?}"
        );
        assert!(refused[1].reason.contains("first on line 2"), "{refused:?}");
    }

    #[test]
    fn a_header_without_id_or_with_an_unknown_column_refuses_the_file() {
        for header in ["phone,email\n", "id,nickname\n", "id,data.\n"] {
            assert!(read_rows(header.as_bytes()).is_err(), "{header}");
        }
        let (rows, refused) = read_rows("id\n".as_bytes()).expect("an empty file");
        assert!(rows.is_empty() && refused.is_empty());
    }

    #[test]
    fn a_row_of_another_width_is_refused_alone() {
        let (rows, refused) =
            read_rows("id,phone\nada,+96599990001\nbob\ncy,+96599990003\n".as_bytes())
                .expect("readable");
        assert_eq!(rows.len(), 2);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].line, 3);
    }
}
