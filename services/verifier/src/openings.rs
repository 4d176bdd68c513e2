//! The openings file (docs/FORMAT.md §14.5): sealed fields opened for an auditor, to check
//! against the commitments their events signed.
//!
//! ```text
//! openings     = "klero-openings/v1" LF opening-line*
//! opening-line = "opening " decimal SP field SP hex64 SP base64 LF
//!                          log index   name     salt    the text, UTF-8
//! ```

use crate::verify::Opening;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

const HEADER: &str = "klero-openings/v1";
/// Most opening lines in one file.
pub const OPENINGS_MAX: usize = 10_000_000;

/// The line of one opening, with its LF.
pub fn encode_opening(opening: &Opening) -> String {
    format!(
        "opening {} {} {} {}\n",
        opening.log_index,
        opening.field,
        klero_ledger::hash::to_hex(&opening.salt),
        BASE64.encode(opening.text.as_bytes())
    )
}

/// The first line of an openings file, with its LF.
pub fn openings_header() -> String {
    format!("{HEADER}\n")
}

/// Reads an openings file strictly; an error names the 1-based line.
pub fn parse_openings(text: &str) -> Result<Vec<Opening>, String> {
    let body = text
        .strip_prefix(HEADER)
        .and_then(|rest| rest.strip_prefix('\n'))
        .ok_or("line 1: must be klero-openings/v1")?;
    let mut openings = Vec::new();
    if body.is_empty() {
        return Ok(openings);
    }
    let body = body.strip_suffix('\n').ok_or("the file must end with LF")?;
    for (at, line) in body.split('\n').enumerate() {
        let number = at + 2;
        let bad = |why: &str| format!("line {number}: {why}");
        if openings.len() == OPENINGS_MAX {
            return Err(bad("too many openings"));
        }
        let parts: Vec<&str> = line.split(' ').collect();
        let ["opening", index, field, salt, text] = parts.as_slice() else {
            return Err(bad("must be: opening <log index> <field> <hex salt> <base64 text>"));
        };
        let log_index: u64 = index
            .parse()
            .ok()
            .filter(|_| *index == "0" || !index.starts_with('0'))
            .ok_or_else(|| bad("the log index must be a decimal with no leading zero"))?;
        if field.is_empty() || !field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(bad("the field must be a field name (a-z and _)"));
        }
        let salt: [u8; 32] = klero_ledger::hash::from_hex(salt)
            .ok()
            .filter(|_| salt.bytes().all(|b| !b.is_ascii_uppercase()))
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| bad("the salt must be 64 lowercase hex digits"))?;
        let bytes = BASE64.decode(text).map_err(|_| bad("the text must be base64 (RFC 4648 §4, padded)"))?;
        if BASE64.encode(&bytes) != *text {
            return Err(bad("the text's base64 is not canonical"));
        }
        let text = String::from_utf8(bytes).map_err(|_| bad("the text is not UTF-8"))?;
        // One order, so that one set of openings has one file: by log index, then field.
        if let Some(last) = openings.last() {
            let Opening { log_index: last_index, field: last_field, .. } = last;
            if (*last_index, last_field.as_str()) >= (log_index, *field) {
                return Err(bad("openings must be in ascending order of log index, then field, each once"));
            }
        }
        openings.push(Opening { log_index, field: field.to_string(), salt, text });
    }
    Ok(openings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openings_read_back_what_was_written_and_refuse_other_forms() {
        let opening = Opening { log_index: 7, field: "sealed_text".into(), salt: [9; 32], text: "Mill Lane".into() };
        let text = format!("{}{}", openings_header(), encode_opening(&opening));
        assert_eq!(parse_openings(&text), Ok(vec![opening.clone()]));
        assert_eq!(parse_openings(&openings_header()), Ok(Vec::new()));
        for bad in [
            "klero-openings/v2\n".to_string(),
            text.trim_end().to_string(),
            text.replace("opening 7", "opening 07"),
            text.replace("sealed_text", "Sealed"),
            text.replace('\n', "\r\n"),
            format!("{text}{}", encode_opening(&opening)),
            format!(
                "{}{}{}",
                openings_header(),
                encode_opening(&Opening { log_index: 8, ..opening.clone() }),
                encode_opening(&opening)
            ),
            text.replace("TWlsbCBMYW5l", "/w=="),
        ] {
            assert!(parse_openings(&bad).is_err(), "{bad:?} was accepted");
        }
    }
}
