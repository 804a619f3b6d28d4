//! Concurrent writers never overwrite each other silently.

use std::sync::Arc;

use dyntag_core::model::access::Principal;
use dyntag_core::model::tags::{Polarity, Prompt, PromptModality};
use dyntag_core::service::tags::{GroupEdit, TagService};
use dyntag_core::{Catalog, CatalogError};

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

/// Two writers edit the same tag many times at once, each pinning the revision it read (as
/// the HTTP API's `expected_revision` and SQL's `AT REVISION` do). Every write either
/// lands as exactly one new revision or is refused with a conflict, which the writer
/// answers by re-reading and trying again; at the end every change is there and the
/// revision count proves nothing was overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pinned_writers_on_one_tag_lose_nothing() {
    const EDITS: usize = 40;
    let (dir, catalog) = common::news_catalog().await;
    TagService::new(Arc::clone(&catalog), Principal::LocalAdmin)
        .create_group("Sports", common::DATASET, &["football".into()], &[])
        .await
        .unwrap();
    let mut writers = Vec::new();
    for w in ["a", "b"] {
        let data = dir.path().join("data");
        writers.push(tokio::spawn(async move {
            let c = Catalog::open(common::config(&data)).await.unwrap();
            let service = TagService::new(Arc::clone(&c), Principal::LocalAdmin);
            let mut conflicts = 0;
            for i in 0..EDITS {
                let edit = GroupEdit::AddPrompt {
                    tag: "football".into(),
                    prompt: Prompt {
                        text: format!("{w} {i}"),
                        polarity: Polarity::Positive,
                        modality: PromptModality::Both,
                    },
                };
                loop {
                    let read = c.refresh().await.unwrap().group("sports").unwrap().revision;
                    match service.edit("sports", &edit, Some(read)).await {
                        Ok((rev, _)) => {
                            assert_eq!(rev, read + 1, "a pinned write lands on the next revision");
                            break;
                        }
                        Err(CatalogError::Conflict { current, .. }) => {
                            assert!(current > read, "the conflict names a newer revision");
                            conflicts += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for w in writers {
        conflicts += w.await.unwrap();
    }
    let snapshot = catalog.refresh().await.unwrap();
    let group = snapshot.group("sports").unwrap();
    let texts: Vec<&str> = group
        .doc
        .tag("football")
        .unwrap()
        .prompts
        .iter()
        .map(|p| p.text.as_str())
        .collect();
    for w in ["a", "b"] {
        for i in 0..EDITS {
            let t = format!("{w} {i}");
            assert!(
                texts.contains(&t.as_str()),
                "'{t}' was lost (conflicts: {conflicts})"
            );
        }
    }
    assert_eq!(
        group.revision as usize,
        1 + 2 * EDITS,
        "one revision per write: none overwrote another"
    );
    println!("{} pinned writes, {conflicts} conflicts retried", 2 * EDITS);
}

/// Another process's commits reach a catalog through the journal: creations, edits, drops
/// and re-creations; a revision whose writer died before journaling it is found by a full
/// reload, and carried by the next journaled commit to the same document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_changes_arrive_through_the_journal() {
    use dyntag_core::model::tags::group_log;
    use dyntag_core::store::StorePath;

    let (dir, writer) = common::news_catalog().await;
    let reader = Catalog::open(common::config(&dir.path().join("data")))
        .await
        .unwrap();
    let service = TagService::new(Arc::clone(&writer), Principal::LocalAdmin);
    let threshold = |c: &Catalog| {
        c.snapshot()
            .group("sports")
            .map(|g| (g.revision, g.doc.tag("football").unwrap().threshold))
            .ok()
    };
    service
        .create_group("Sports", common::DATASET, &["football".into()], &[])
        .await
        .unwrap();
    assert_eq!(threshold(&reader), None, "not refreshed yet");
    reader.refresh().await.unwrap();
    let (created, _) = threshold(&reader).expect("the new group");
    let set = |t: f64| GroupEdit::SetThreshold {
        tag: "football".into(),
        threshold: t,
    };
    service.edit("sports", &set(0.61), None).await.unwrap();
    reader.refresh().await.unwrap();
    assert_eq!(threshold(&reader), Some((created + 1, 0.61)));

    service.drop_group("sports").await.unwrap();
    reader.refresh().await.unwrap();
    assert_eq!(threshold(&reader), None, "dropped");
    service
        .create_group("Sports", common::DATASET, &["football".into()], &[])
        .await
        .unwrap();
    reader.refresh().await.unwrap();
    let (recreated, _) = threshold(&reader).expect("created again");
    assert_eq!(recreated, created + 3);

    // A writer killed between its commit and its journal entry: the revision is on the
    // store, the journal does not name it.
    let store = writer.store();
    let log = group_log("sports");
    let (rev, mut doc) = log
        .latest::<dyntag_core::model::tags::TagGroup>(store)
        .await
        .unwrap()
        .unwrap();
    doc.tag_mut("football").unwrap().threshold = 0.77;
    let path: StorePath = log.path(rev + 1);
    assert!(
        store
            .put_if_absent(&path, dyntag_core::store::to_json(&doc).unwrap())
            .await
            .unwrap()
    );
    reader.refresh().await.unwrap();
    assert_eq!(
        threshold(&reader),
        Some((rev, 0.5)),
        "unjournaled: not seen"
    );
    reader.reload().await.unwrap();
    assert_eq!(
        threshold(&reader),
        Some((rev + 1, 0.77)),
        "a reload finds it"
    );
    // The next journaled commit carries it for everyone.
    let other = Catalog::open(common::config(&dir.path().join("data")))
        .await
        .unwrap();
    service.edit("sports", &set(0.42), None).await.unwrap();
    other.refresh().await.unwrap();
    assert_eq!(threshold(&other), Some((rev + 2, 0.42)));
}

/// Journal entries of one log may arrive out of order (a writer journals its revision after
/// the next writer journaled the following one): an older entry never undoes a newer one,
/// so a dropped group does not come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_journal_entry_does_not_undo_a_newer_revision() {
    use dyntag_core::model::tags::group_log;
    use dyntag_core::store::journal;

    let (dir, writer) = common::news_catalog().await;
    let reader = Catalog::open(common::config(&dir.path().join("data")))
        .await
        .unwrap();
    let service = TagService::new(Arc::clone(&writer), Principal::LocalAdmin);
    service
        .create_group("Sports", common::DATASET, &["football".into()], &[])
        .await
        .unwrap();
    let before = group_log("sports")
        .latest_revision(writer.store())
        .await
        .unwrap();
    service.drop_group("sports").await.unwrap();
    reader.refresh().await.unwrap();
    assert!(reader.snapshot().group("sports").is_err(), "dropped");
    // The late entry: the revision before the drop, journaled after it.
    let store = writer.store();
    let seq = journal::head(store).await.unwrap() + 1;
    let entry = journal::Entry {
        log: group_log("sports").folder().to_string(),
        revision: before,
    };
    assert!(
        store
            .put_if_absent(
                &journal::path(seq),
                dyntag_core::store::to_json(&entry).unwrap()
            )
            .await
            .unwrap()
    );
    reader.refresh().await.unwrap();
    assert_eq!(reader.snapshot().journal, seq, "the entry was read");
    assert!(
        reader.snapshot().group("sports").is_err(),
        "an older revision brought a dropped group back"
    );
}
