//! A table over the cache budget: previews, uncertain assets and the Tag Evaluator's sample
//! scan every row once and read again only the rows they keep, so a catalog that holds no
//! file resident answers exactly what one holding every file does.

use std::collections::HashSet;
use std::sync::Arc;

use dyntag::engine::Engine;
use dyntag_core::Catalog;
use dyntag_core::Modality;
use dyntag_core::model::access::Principal;
use dyntag_core::model::snapshot::Definition;
use dyntag_core::scoring::scan::PreviewMode;
use dyntag_core::service::evaluate::Evaluator;
use dyntag_core::service::search::uncertain;
use dyntag_core::service::tags::{PreviewRequest, TagService};

use crate::common;
use crate::util::publish_topics;

#[tokio::test]
async fn a_catalog_holding_nothing_resident_samples_what_one_holding_everything_does() {
    let (dir, resident) = common::news_catalog().await;
    let engine = Engine::new(Arc::clone(&resident), Some(common::DATASET)).unwrap();
    publish_topics(&engine).await;
    // The same data, with no room in the cache: every file is read for each pass.
    let mut config = common::config(&dir.path().join("data"));
    config.cache_bytes = 0;
    let streamed = Catalog::open(config).await.unwrap();

    let snapshot = resident.snapshot();
    let files = &snapshot
        .dataset(common::DATASET)
        .unwrap()
        .files(dyntag_core::model::dataset::TableKind::of(Modality::Visual));
    let mut answers = Vec::new();
    for catalog in [&resident, &streamed] {
        let tags = TagService::new(Arc::clone(catalog), Principal::LocalAdmin);
        let mut previews = Vec::new();
        for (modality, mode) in [
            (Modality::Visual, PreviewMode::Compare),
            (Modality::Visual, PreviewMode::Stratified { per_bucket: 2 }),
            (Modality::Transcript, PreviewMode::Top),
        ] {
            let batch = tags
                .preview(&PreviewRequest {
                    group: "topics".into(),
                    tag: "cooking".into(),
                    modality,
                    mode: Some(mode),
                    threshold: Some(0.3),
                    limit: 6,
                    published: true,
                    seed: Some(11),
                })
                .await
                .unwrap();
            assert!(batch.num_rows() > 0, "{mode:?}");
            previews.push(batch);
        }
        let snapshot = catalog.snapshot();
        let frozen = &snapshot.versions[&("topics".to_string(), 1)];
        let definition = Definition {
            group: "topics".into(),
            version: Some(1),
            revision: 0,
            tags: frozen.tags.clone(),
        };
        let everything = uncertain(
            catalog,
            common::DATASET,
            &definition,
            "cooking",
            0.3,
            4,
            &HashSet::new(),
        )
        .await
        .unwrap();
        assert_eq!(everything.len(), 4);
        // Leaving out the nearest one (as labelled items are left out).
        let excluded: HashSet<String> = [everything[0].id.clone()].into();
        let rest = uncertain(
            catalog,
            common::DATASET,
            &definition,
            "cooking",
            0.3,
            4,
            &excluded,
        )
        .await
        .unwrap();
        assert_eq!(rest.len(), 4);
        assert!(rest.iter().all(|i| i.id != everything[0].id), "{rest:?}");
        let evaluation = Evaluator::new(Arc::clone(catalog), Principal::LocalAdmin)
            .start("topics", "cooking", 12, Some(5))
            .await
            .unwrap();
        assert_eq!(evaluation.items.len(), 12);
        answers.push((previews, everything, rest, evaluation.items));
    }
    assert!(
        files
            .iter()
            .all(|f| streamed.table_cache().peek(&f.path).is_none()),
        "the catalog without a budget kept no file"
    );
    assert!(
        files
            .iter()
            .all(|f| resident.table_cache().peek(&f.path).is_some()),
        "the other holds every file"
    );
    assert_eq!(answers[0], answers[1]);
}
