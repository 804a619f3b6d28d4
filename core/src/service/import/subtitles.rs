//! WebVTT and SRT transcripts: one video per file, one segment per cue.

use crate::{CatalogError, Result};

/// A cue of a subtitle file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// The cue identifier (SRT index, or VTT identifier), else its 1-based position.
    pub id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The text with markup (`<i>`, `<v Speaker>`) removed, lines joined by spaces.
    pub text: String,
}

/// Parses WebVTT (`vtt = true`) or SRT text. Errors name the file and line.
pub fn parse(file: &str, content: &str, vtt: bool) -> Result<Vec<Cue>> {
    let err = |line: usize, msg: String| CatalogError::Import {
        file: file.to_string(),
        message: format!("line {line}: {msg}"),
    };
    let content = content.trim_start_matches('\u{feff}');
    let lines: Vec<&str> = content.lines().collect();
    let mut i = 0;
    if vtt {
        if !lines
            .first()
            .is_some_and(|l| l.trim_start().starts_with("WEBVTT"))
        {
            return Err(err(1, "a WebVTT file must start with 'WEBVTT'".into()));
        }
        // Skip the header block.
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
    }
    let mut cues = Vec::new();
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let block_start = i;
        let mut block = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            block.push(lines[i]);
            i += 1;
        }
        if vtt && (block[0].starts_with("NOTE") || block[0] == "STYLE" || block[0] == "REGION") {
            continue;
        }
        let timing_at = block
            .iter()
            .position(|l| l.contains("-->"))
            .ok_or_else(|| {
                err(
                    block_start + 1,
                    format!("no timing line ('start --> end') in cue '{}'", block[0]),
                )
            })?;
        let identifier = if timing_at > 0 {
            Some(block[0].trim().to_string())
        } else {
            None
        };
        let (start, end) =
            parse_timing(block[timing_at]).map_err(|m| err(block_start + timing_at + 1, m))?;
        if end < start {
            return Err(err(
                block_start + timing_at + 1,
                format!("cue ends ({end} ms) before it starts ({start} ms)"),
            ));
        }
        let text = block[timing_at + 1..]
            .iter()
            .map(|l| strip_markup(l))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() {
            continue;
        }
        cues.push(Cue {
            id: identifier.unwrap_or_else(|| (cues.len() + 1).to_string()),
            start_ms: start,
            end_ms: end,
            text,
        });
    }
    if cues.is_empty() {
        return Err(err(1, "no cues with text".into()));
    }
    Ok(cues)
}

fn parse_timing(line: &str) -> Result<(i64, i64), String> {
    let (a, b) = line
        .split_once("-->")
        .ok_or_else(|| format!("invalid timing '{line}'"))?;
    let b = b.split_whitespace().next().unwrap_or("");
    Ok((parse_time(a.trim())?, parse_time(b.trim())?))
}

/// `hh:mm:ss.mmm`, `mm:ss.mmm` (VTT) or `hh:mm:ss,mmm` (SRT) → milliseconds.
fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid time '{s}' (expected hh:mm:ss.mmm)");
    let s2 = s.replace(',', ".");
    let (hms, ms) = s2.split_once('.').unwrap_or((s2.as_str(), "0"));
    let parts: Vec<&str> = hms.split(':').collect();
    let nums: Vec<i64> = parts
        .iter()
        .map(|p| p.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (h, m, sec) = match nums.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => (0, *m, *s),
        _ => return Err(bad()),
    };
    if !(0..60).contains(&m)
        || !(0..60).contains(&sec)
        || !(0..=MAX_HOURS).contains(&h)
        || ms.len() > 3
        || !ms.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let frac: i64 = format!("{ms:0<3}").parse().map_err(|_| bad())?;
    Ok(((h * 60 + m) * 60 + sec) * 1000 + frac)
}

/// The longest time a cue may start or end at: a million hours.
const MAX_HOURS: i64 = 1_000_000;

#[cfg(test)]
#[test]
fn times_out_of_range_are_refused() {
    assert_eq!(parse_time("01:02:03,004"), Ok(3_723_004));
    for bad in [
        "-1:00:00.000",
        "00:-5:00.000",
        "9999999999999999:00:00.000",
        "00:00:99.000",
    ] {
        assert!(parse_time(bad).is_err(), "{bad}");
    }
}

fn strip_markup(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_webvtt_with_identifiers_and_markup() {
        let vtt = "WEBVTT\nKind: captions\n\nNOTE a comment\n\nintro\n00:01.000 --> 00:04.500 align:start\n<v Anna>Welcome <i>back</i>!\nSecond line\n\n00:00:05.000 --> 00:00:07.250\nNext &amp; last\n";
        let cues = parse("a.vtt", vtt, true).unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!(
            cues[0],
            Cue {
                id: "intro".into(),
                start_ms: 1000,
                end_ms: 4500,
                text: "Welcome back! Second line".into()
            }
        );
        assert_eq!(cues[1].id, "2");
        assert_eq!((cues[1].start_ms, cues[1].end_ms), (5000, 7250));
        assert_eq!(cues[1].text, "Next & last");
    }

    #[test]
    fn parses_srt() {
        let srt = "1\r\n00:00:01,000 --> 00:00:02,000\r\nHello\r\n\r\n2\r\n01:00:00,5 --> 01:00:01,000\r\nWorld\r\n";
        let cues = parse("a.srt", srt, false).unwrap();
        assert_eq!(
            cues[1],
            Cue {
                id: "2".into(),
                start_ms: 3_600_500,
                end_ms: 3_601_000,
                text: "World".into()
            }
        );
    }

    #[test]
    fn bad_files_name_the_line() {
        let err = parse("a.vtt", "hello", true).unwrap_err().to_string();
        assert!(
            err.contains("a.vtt: line 1") && err.contains("WEBVTT"),
            "{err}"
        );
        let err = parse("a.srt", "1\n00:00:01,000 --> 00:0x:02,000\nHi\n", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("invalid time"),
            "{err}"
        );
        let err = parse("a.srt", "1\n00:00:05,000 --> 00:00:02,000\nHi\n", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ends"), "{err}");
    }
}
