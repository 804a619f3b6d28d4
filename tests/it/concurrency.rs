//! Concurrent writers never overwrite each other silently.

use std::sync::Arc;

use dyntag_catalog::access::Principal;
use dyntag_catalog::tags::{GroupEdit, Polarity, Prompt, PromptModality, TagService};
use dyntag_catalog::{Catalog, CatalogError};

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_all_land() {
    let (dir, catalog) = common::news_catalog().await;
    TagService::new(Arc::clone(&catalog), Principal::LocalAdmin)
        .create_group("Sports", common::DATASET, &["football".into()], &[])
        .await
        .unwrap();
    // Several "processes": separate catalogs over the same data folder.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let data = dir.path().join("data");
        tasks.push(tokio::spawn(async move {
            let c = Catalog::open(common::config(&data)).await.unwrap();
            let prompt = Prompt {
                text: format!("prompt {i}"),
                polarity: Polarity::Positive,
                modality: PromptModality::Both,
            };
            TagService::new(c, Principal::LocalAdmin)
                .edit(
                    "sports",
                    &GroupEdit::AddPrompt {
                        tag: "football".into(),
                        prompt,
                    },
                    None,
                )
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let snapshot = catalog.refresh().await.unwrap();
    let tag = snapshot
        .group("sports")
        .unwrap()
        .doc
        .tag("football")
        .unwrap()
        .clone();
    for i in 0..12 {
        assert!(
            tag.prompts.iter().any(|p| p.text == format!("prompt {i}")),
            "prompt {i} was lost: {:?}",
            tag.prompts
        );
    }
    assert_eq!(snapshot.group("sports").unwrap().revision, 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_revisions_conflict_and_name_the_current_one() {
    let (_dir, catalog) = common::news_catalog().await;
    let service = TagService::new(Arc::clone(&catalog), Principal::LocalAdmin);
    service
        .create_group("Sports", common::DATASET, &["football".into()], &[])
        .await
        .unwrap();
    let edit = |t: f64| GroupEdit::SetThreshold {
        tag: "football".into(),
        threshold: t,
    };
    let (e6, e7) = (edit(0.6), edit(0.7));
    let (a, b) = tokio::join!(
        service.edit("sports", &e6, Some(1)),
        service.edit("sports", &e7, Some(1))
    );
    let (ok, err) = match (a, b) {
        (Ok(x), Err(e)) | (Err(e), Ok(x)) => (x, e),
        other => panic!("exactly one pinned writer must win: {other:?}"),
    };
    assert_eq!(ok.0, 2);
    assert!(
        matches!(err, CatalogError::Conflict { current: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("now at revision 2"), "{err}");
    // Creating a group twice at once: one wins, the other is told it exists.
    let (rain, snow) = (vec!["rain".to_string()], vec!["snow".to_string()]);
    let (x, y) = tokio::join!(
        service.create_group("Weather", common::DATASET, &rain, &[]),
        service.create_group("weather", common::DATASET, &snow, &[])
    );
    assert!(x.is_ok() != y.is_ok(), "{x:?} {y:?}");
    let e = x.err().or(y.err()).unwrap().to_string();
    assert!(e.contains("already exists"), "{e}");
}
