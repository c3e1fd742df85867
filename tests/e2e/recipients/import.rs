//! `inc recipients import` against the local stack: a CSV file of 2,500
//! contacts (with bad rows among them) into a list that does not exist
//! yet, then the same file again, which updates and adds nothing.

use std::io::Write;

use inc_cli::import::{Target, run};
use inc_tests::TestStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_file_is_imported_in_batches_and_its_bad_rows_are_named_by_line() {
    let t = TestStack::start().await;
    let acct = t.account(None).await;
    let mut file = String::from("id,phone,email,language,timezone,data.tier\n");
    for i in 0..2_500 {
        file.push_str(&format!(
            "c{i:05},+3933300{i:05},C{i}@Example.com,it,Europe/Rome,gold\n"
        ));
        // After rows 100 and 2,000: a phone that is not E.164, an id again.
        if i == 100 {
            file.push_str("bad-phone,333 1234,,,,\n");
        }
        if i == 2_000 {
            file.push_str("c00007,+393330000099,,,,\n");
        }
    }
    let dir = std::env::temp_dir().join(format!("inc-import-{}", acct.id));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("contacts.csv");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(file.as_bytes()))
        .expect("write the file");
    let target = Target {
        api_url: t.url(""),
        api_key: acct.key.clone(),
    };

    let summary = run(&target, "spring", &path).await.expect("imported");
    assert_eq!((summary.added, summary.updated), (2_500, 0));
    assert_eq!(summary.member_count, 2_500);
    let refused: Vec<(u64, String)> = summary
        .refused
        .iter()
        .map(|r| (r.line, r.reason.clone()))
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0, 103, "the line after row 101");
    assert!(refused[0].1.starts_with("phone:"), "{refused:?}");
    assert_eq!(refused[1].0, 2_004);
    assert!(refused[1].1.contains("first on line 9"), "{refused:?}");

    let (status, list) = t.get(&acct.key, "/v1/lists/spring").await;
    assert_eq!((status, &list["name"]), (200, &"spring".into()));
    assert_eq!(list["member_count"], 2_500);
    let (_, one) = t.get(&acct.key, "/v1/recipients/c00042").await;
    assert_eq!(one["email"], "c42@example.com");
    assert_eq!(one["data"]["tier"], "gold");
    assert_eq!(one["timezone"], "Europe/Rome");

    // Again: every row updates its recipient, none is added or counted twice.
    let again = run(&target, "spring", &path).await.expect("imported");
    assert_eq!((again.added, again.updated), (0, 2_500));
    assert_eq!(again.member_count, 2_500);
    assert_eq!(
        t.get(&acct.key, "/v1/lists/spring").await.1["member_count"],
        2_500
    );

    // A key of no account stops the import before anything is sent.
    let wrong = Target {
        api_url: t.url(""),
        api_key: "inc_nope".into(),
    };
    let error = run(&wrong, "spring", &path).await.expect_err("refused");
    assert!(error.to_string().contains("401"), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}
