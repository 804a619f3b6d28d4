//! Splitting a script into statements at top-level semicolons (the CLI's `-e`, files and
//! the shell).

/// Splits a script into statements at top-level `;` (quotes and comments respected).
pub fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    // A doubled quote is an escaped one: the literal goes on.
                    match chars.next_if_eq(&q) {
                        Some(escaped) => cur.push(escaped),
                        None => quote = None,
                    }
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            cur.push('\n');
                            break;
                        }
                    }
                }
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    let mut prev = ' ';
                    for c in chars.by_ref() {
                        if prev == '*' && c == '/' {
                            break;
                        }
                        prev = c;
                    }
                    cur.push(' ');
                }
                ';' => {
                    if !cur.trim().is_empty() {
                        out.push(cur.trim().to_string());
                    }
                    cur.clear();
                }
                _ => cur.push(c),
            },
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_statements;
    #[test]
    fn splits_scripts_at_top_level_semicolons() {
        let s = split_statements("SELECT ';' AS a; -- c;\nSELECT \"x;y\" FROM t /* ; */;\n;");
        assert_eq!(s, vec!["SELECT ';' AS a", "SELECT \"x;y\" FROM t"]);
    }
}
