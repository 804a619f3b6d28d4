//! Prompt suggestions for a tag, per modality. With an LLM configured — an
//! OpenAI-compatible chat-completions endpoint: `DYNTAG_LLM_URL` (the base URL, e.g.
//! `https://api.openai.com/v1`, or the full `…/chat/completions`), `DYNTAG_LLM_MODEL`, the
//! key in `DYNTAG_LLM_API_KEY`, `DYNTAG_LLM_TIMEOUT_S` (default 30) — it is asked for
//! prompts as JSON, and the answer is validated. Without one, suggestions are made
//! offline: prompt-ensemble templates for visual prompts, and for transcript prompts the
//! sentences of the dataset's own transcripts nearest the tag.

use std::time::Duration;

use serde_json::{Value, json};

use crate::model::Modality;
use crate::service::Catalog;
use crate::{CatalogError, Result};

/// How many prompts are suggested.
pub const COUNT: usize = 6;

/// A suggested prompt and where it came from (`llm`, `template`, `transcripts`).
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub prompt: String,
    pub source: &'static str,
}

/// The LLM endpoint, from the environment.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
}

impl LlmConfig {
    /// `None` unless `DYNTAG_LLM_URL` is set.
    pub fn from_env() -> Option<Self> {
        let url = std::env::var("DYNTAG_LLM_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())?;
        let url = if url.trim_end_matches('/').ends_with("/chat/completions") {
            url
        } else {
            format!("{}/chat/completions", url.trim_end_matches('/'))
        };
        Some(Self {
            url,
            model: std::env::var("DYNTAG_LLM_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into()),
            api_key: std::env::var("DYNTAG_LLM_API_KEY").ok(),
            timeout: Duration::from_secs(
                std::env::var("DYNTAG_LLM_TIMEOUT_S")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(30),
            ),
        })
    }

    /// One chat completion whose answer must be a JSON object; returns it.
    pub async fn complete_json(&self, messages: Value) -> Result<Value> {
        let cfg = self.clone();
        let body = json!({
            "model": cfg.model,
            "messages": messages,
            "response_format": { "type": "json_object" },
            "temperature": 0.2,
        });
        let task = tokio::task::spawn_blocking(move || cfg.post(&body));
        let answer = tokio::time::timeout(self.timeout + Duration::from_secs(1), task)
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| CatalogError::Internal(format!("the LLM call's thread failed: {e}")))??;
        let content = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| {
                CatalogError::Upstream(format!(
                    "the LLM endpoint {} answered without choices[0].message.content",
                    self.url
                ))
            })?;
        serde_json::from_str::<Value>(content).map_err(|_| {
            CatalogError::Upstream(format!(
                "the LLM answered something that is not the JSON asked for: {}",
                content.chars().take(200).collect::<String>()
            ))
        })
    }

    fn timed_out(&self) -> CatalogError {
        CatalogError::Upstream(format!(
            "the LLM endpoint {} did not answer within {} s (DYNTAG_LLM_TIMEOUT_S)",
            self.url,
            self.timeout.as_secs()
        ))
    }

    fn post(&self, body: &Value) -> Result<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent
            .post(&self.url)
            .header("content-type", "application/json");
        if let Some(key) = &self.api_key {
            req = req.header("authorization", &format!("Bearer {key}"));
        }
        let mut resp = req.send_json(body).map_err(|e| match e {
            ureq::Error::Timeout(_) => self.timed_out(),
            e => CatalogError::Upstream(format!("the LLM endpoint {} failed: {e}", self.url)),
        })?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().map_err(|e| match e {
            ureq::Error::Timeout(_) => self.timed_out(),
            e => CatalogError::Upstream(format!("reading the LLM's answer failed: {e}")),
        })?;
        if status != 200 {
            return Err(CatalogError::Upstream(format!(
                "the LLM endpoint {} answered {status}: {}",
                self.url,
                text.chars().take(300).collect::<String>()
            )));
        }
        serde_json::from_str(&text).map_err(|_| {
            CatalogError::Upstream(format!(
                "the LLM endpoint {} did not answer with a chat completion (JSON)",
                self.url
            ))
        })
    }
}

/// Asks the LLM for prompts of `tag` for `modality`; validates the answer.
pub async fn from_llm(llm: &LlmConfig, tag: &str, modality: Modality) -> Result<Vec<Suggestion>> {
    let what = match modality {
        Modality::Visual => {
            "short visual descriptions of what an image or video frame showing this looks like (for a CLIP-style image search)"
        }
        Modality::Transcript => {
            "sentences someone might say in a video about this (for searching transcripts)"
        }
    };
    let messages = json!([
        { "role": "system", "content": "You write search prompts for tagging media. Answer only with a JSON object {\"prompts\": [\"...\"]}." },
        { "role": "user", "content": format!("Tag: \"{tag}\". Give {COUNT} {what}.") }
    ]);
    let answer = llm.complete_json(messages).await?;
    let prompts = answer["prompts"].as_array().ok_or_else(|| {
        CatalogError::Upstream(format!(
            "the LLM's JSON has no \"prompts\" list: {}",
            answer.to_string().chars().take(200).collect::<String>()
        ))
    })?;
    let out: Vec<Suggestion> = prompts
        .iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.chars().count() <= 300)
        .take(20)
        .map(|p| Suggestion {
            prompt: p.to_string(),
            source: "llm",
        })
        .collect();
    if out.is_empty() {
        return Err(CatalogError::Upstream(
            "the LLM suggested no usable prompt (empty or over-long strings)".into(),
        ));
    }
    Ok(out)
}

/// Visual prompt-ensemble templates.
const TEMPLATES: [&str; COUNT] = [
    "a photo of {}",
    "a picture of {}",
    "a close-up photo of {}",
    "an image showing {}",
    "a video frame of {}",
    "a drawing of {}",
];

/// Offline suggestions: templates (visual) or the nearest transcript sentences.
pub async fn offline(
    catalog: &Catalog,
    dataset: &str,
    tag: &str,
    modality: Modality,
) -> Result<Vec<Suggestion>> {
    match modality {
        Modality::Visual => Ok(TEMPLATES
            .iter()
            .map(|t| Suggestion {
                prompt: t.replace("{}", tag),
                source: "template",
            })
            .collect()),
        Modality::Transcript => {
            let segments = crate::service::search::semantic_search(
                catalog,
                dataset,
                Modality::Transcript,
                tag,
                30,
                false,
            )
            .await?;
            let mut sentences: Vec<String> = Vec::new();
            for s in segments.iter().filter_map(|s| s.detail.as_deref()) {
                for sentence in s.split(['.', '!', '?']).map(str::trim) {
                    let words = sentence.split_whitespace().count();
                    if (3..=25).contains(&words) && !sentences.iter().any(|x| x == sentence) {
                        sentences.push(sentence.to_string());
                    }
                }
            }
            if sentences.is_empty() {
                return Ok(Vec::new());
            }
            let snapshot = catalog.snapshot();
            let manifest = snapshot.dataset(dataset)?;
            let Some(model) = manifest.models.get(&Modality::Transcript) else {
                return Ok(Vec::new());
            };
            let text = catalog.model(&model.id)?.text()?;
            let q = text.embed_cached(tag)?;
            let emb = text.embed(&sentences)?;
            let mut scored: Vec<(f32, &String)> = sentences
                .iter()
                .enumerate()
                .map(|(i, s)| (emb.row(i).iter().zip(q.iter()).map(|(a, b)| a * b).sum(), s))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            Ok(scored
                .into_iter()
                .take(COUNT)
                .map(|(_, s)| Suggestion {
                    prompt: s.clone(),
                    source: "transcripts",
                })
                .collect())
        }
    }
}
