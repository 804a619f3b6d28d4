//! The naming rules of the product: tag names are letters, digits and spaces; group names
//! become table names (`dt_<slug>_visual`), lower case with spaces turned into `_`.

use crate::{CatalogError, Result};

const MAX_NAME: usize = 100;
const MAX_PROMPT: usize = 1000;

/// Checks and trims a tag name.
pub fn tag_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(CatalogError::Invalid("a tag name cannot be empty".into()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_alphanumeric() || *c == ' ')) {
        return Err(CatalogError::Invalid(format!(
            "invalid tag name '{name}': tag names may contain only letters, digits and spaces (found '{bad}'); put punctuation in a prompt instead"
        )));
    }
    if name.chars().count() > MAX_NAME {
        return Err(CatalogError::Invalid(format!(
            "invalid tag name '{name}': longer than {MAX_NAME} characters"
        )));
    }
    Ok(name.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Checks and trims a group name.
pub fn group_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(CatalogError::Invalid(
            "a tag group name cannot be empty".into(),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == ' ' || *c == '_'))
    {
        return Err(CatalogError::Invalid(format!(
            "invalid tag group name '{name}': group names become table names and may contain only ASCII letters, digits, spaces and '_' (found '{bad}')"
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(CatalogError::Invalid(format!(
            "invalid tag group name '{name}': it must start with a letter"
        )));
    }
    if name.len() > MAX_NAME {
        return Err(CatalogError::Invalid(format!(
            "invalid tag group name '{name}': longer than {MAX_NAME} characters"
        )));
    }
    Ok(name.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The table-name form of a group name: lower case, runs of spaces → `_`.
pub fn slug(group_name: &str) -> String {
    group_name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .to_ascii_lowercase()
}

/// Checks a prompt: any text, not empty, not absurdly long.
pub fn prompt(raw: &str) -> Result<String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(CatalogError::Invalid("a prompt cannot be empty".into()));
    }
    if text.chars().count() > MAX_PROMPT {
        return Err(CatalogError::Invalid(format!(
            "a prompt may have at most {MAX_PROMPT} characters"
        )));
    }
    Ok(text.to_string())
}

/// Checks a threshold.
pub fn threshold(t: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&t) {
        Ok(t)
    } else {
        Err(CatalogError::Invalid(format!(
            "invalid threshold {t}: a threshold is a score between 0 and 1"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_allow_letters_digits_spaces_only() {
        assert_eq!(tag_name("  Taylor  Swift ").unwrap(), "Taylor Swift");
        assert_eq!(tag_name("goal keeper 2").unwrap(), "goal keeper 2");
        assert_eq!(tag_name("Café").unwrap(), "Café");
        let err = tag_name("test_v1").unwrap_err().to_string();
        assert!(
            err.contains("only letters, digits and spaces") && err.contains("'_'"),
            "{err}"
        );
        assert!(tag_name("   ").is_err());
        assert!(tag_name("scary!").is_err());
    }

    #[test]
    fn group_names_become_table_names() {
        assert_eq!(slug(&group_name("Celebrities").unwrap()), "celebrities");
        assert_eq!(slug(&group_name(" IAB  Tags ").unwrap()), "iab_tags");
        assert!(
            group_name("9lives")
                .unwrap_err()
                .to_string()
                .contains("start with a letter")
        );
        assert!(group_name("news-2024").is_err());
    }

    #[test]
    fn prompts_take_any_text_and_thresholds_are_scores() {
        assert_eq!(
            prompt(" soccer goalkeeper! ").unwrap(),
            "soccer goalkeeper!"
        );
        assert!(prompt("").is_err());
        assert!(threshold(0.7).is_ok());
        assert!(
            threshold(1.5)
                .unwrap_err()
                .to_string()
                .contains("between 0 and 1")
        );
    }
}
