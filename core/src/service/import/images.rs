//! Images and keyframes with precomputed embeddings.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{DataType, Int64Type};

use super::{Progress, Staging, check_new_key, embedding, first_empty};
use crate::Result;
use crate::model::Modality;
use crate::model::dataset::encoding::Encoding;
use crate::model::dataset::schema::{col, embedding_field, table_schema};
use crate::model::dataset::{EmbeddingModel, TableKind};
use crate::store::input::{InputFile, column, import_err, strings_or_null};

/// Imports a Parquet file of images/keyframes; returns the rows imported.
pub(crate) async fn import(
    st: &mut Staging<'_>,
    path: &Path,
    model: &str,
    progress: &dyn Progress,
) -> Result<u64> {
    let mut input = InputFile::open(path)?;
    let file = input.name.clone();
    input.require(&[col::IMAGE_ID, col::EMBEDDING])?;
    if model.trim().is_empty() {
        return Err(import_err(
            &file,
            "the id of the model that made the embeddings is required (--model)",
        ));
    }
    let known = st.manifest.models.get(&Modality::Visual).cloned();
    if let Some(k) = &known
        && k.id != model
    {
        return Err(import_err(
            &file,
            format!(
                "dataset '{}' holds visual embeddings of model '{}'; these are said to come from '{model}' (one model per modality)",
                st.dataset(),
                k.id
            ),
        ));
    }
    let registry_dim = st
        .catalog
        .models()
        .get(model)
        .ok()
        .map(|m| m.manifest().dimension)
        .filter(|d| *d > 0);
    let mut dim = known.as_ref().map(|k| k.dimension).or(registry_dim);
    let dataset = st.dataset().to_string();
    let existing = st.existing_ids(TableKind::Images).await?.clone();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut writer = None;
    let mut rows = 0u64;
    progress.begin(&format!("importing {file}"), None);
    while let Some(next) = input.next_batch() {
        let (first, batch) = next?;
        let n = batch.num_rows();
        let ids =
            column(&file, &batch, first, col::IMAGE_ID, &DataType::Utf8, true)?.expect("required");
        if let Some(i) = first_empty(ids.as_ref()) {
            return Err(import_err(
                &file,
                format!("row {}, column '{}': empty id", first + i, col::IMAGE_ID),
            ));
        }
        let id_values = ids.as_string::<i32>();
        for i in 0..n {
            check_new_key(
                &file,
                &dataset,
                &existing,
                &mut seen,
                id_values.value(i).to_string(),
                first + i,
                &format!("image id '{}'", id_values.value(i)),
            )?;
        }
        let video = strings_or_null(&file, &batch, first, col::VIDEO_ID)?;
        let kf_index = column(
            &file,
            &batch,
            first,
            col::KEYFRAME_INDEX,
            &DataType::Int32,
            false,
        )?
        .unwrap_or_else(|| new_null_array(&DataType::Int32, n));
        let kf_time = column(
            &file,
            &batch,
            first,
            col::KEYFRAME_TIME,
            &DataType::Int64,
            false,
        )?
        .unwrap_or_else(|| new_null_array(&DataType::Int64, n));
        let shot = strings_or_null(&file, &batch, first, col::SHOT_ID)?;
        let img_path = strings_or_null(&file, &batch, first, col::PATH)?;
        let width = column(&file, &batch, first, col::WIDTH, &DataType::Int32, false)?
            .unwrap_or_else(|| new_null_array(&DataType::Int32, n));
        let height = column(&file, &batch, first, col::HEIGHT, &DataType::Int32, false)?
            .unwrap_or_else(|| new_null_array(&DataType::Int32, n));
        let raw = batch.column(batch.schema().index_of(col::EMBEDDING).expect("required"));
        let (emb, d) =
            embedding::normalise(&file, raw, first, col::EMBEDDING, dim).map_err(|e| {
                match (&known, e) {
                    (Some(k), crate::CatalogError::Import { file, message })
                        if message.contains("dimension") =>
                    {
                        crate::CatalogError::Import {
                            file,
                            message: format!(
                                "{message} (model '{}' of dataset '{}')",
                                k.id, dataset
                            ),
                        }
                    }
                    (_, e) => e,
                }
            })?;
        dim = Some(d);
        {
            let v = video.as_string::<i32>();
            let t = kf_time.as_primitive::<Int64Type>();
            for i in 0..n {
                if v.is_valid(i) {
                    st.note_video(v.value(i), t.is_valid(i).then(|| t.value(i)));
                }
            }
        }
        let schema = table_schema(
            TableKind::Images,
            Some(embedding_field(
                model,
                Modality::Visual.as_str(),
                d,
                Encoding::Float32,
            )),
        );
        let out = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                ids,
                video,
                kf_index,
                kf_time,
                shot,
                img_path,
                width,
                height,
                Arc::new(emb) as ArrayRef,
            ],
        )
        .map_err(|e| import_err(&file, e.to_string()))?;
        if writer.is_none() {
            writer = Some(st.writer(TableKind::Images, schema)?);
        }
        let w = writer.as_mut().expect("opened above");
        st.write(w, &out).await?;
        rows += n as u64;
        progress.advance(n as u64);
    }
    progress.end();
    if rows == 0 {
        return Err(import_err(&file, "no rows"));
    }
    if let Some(w) = writer {
        st.finish(w).await?;
    }
    st.manifest.models.insert(
        Modality::Visual,
        EmbeddingModel {
            id: model.to_string(),
            dimension: dim.expect("rows were read"),
            encoding: st.encoding(Modality::Visual)?,
        },
    );
    Ok(rows)
}
