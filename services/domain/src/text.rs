//! What characters recorded text may hold (docs/RULES.md, `text.characters`): every page, feed
//! and CSV must stay valid whatever the log holds, and one text must have one form.

/// The rule's code, as refusals and verifiers name it.
pub const TEXT_CHARACTERS_RULE: &str = "text.characters";

/// The codes of field-level checks (`INVALID_ARGUMENT`, a verifier's `payload`), documented in
/// docs/RULES.md beside the rules' codes ([`crate::RuleCode`]).
pub const FIELD_CHECK_CODES: &[&str] = &[TEXT_CHARACTERS_RULE];

/// A character recorded text may not hold, and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "text.characters: holds U+{:04X} at byte {byte_offset}; recorded text holds no control character but tab and line feed (line ends are LF alone) and no U+FFFE or U+FFFF",
    *character as u32
)]
pub struct BadCharacter {
    pub byte_offset: usize,
    pub character: char,
}

/// Whether `character` may appear in recorded text: tab, line feed, and every Unicode scalar
/// value from U+0020 except DEL and the C1 controls (U+007F to U+009F) and the noncharacters
/// U+FFFE and U+FFFF. These are the characters XML 1.0 allows, without CR (so that a text has
/// one form) and without the controls that no reader displays.
pub fn allowed_in_text(character: char) -> bool {
    match character {
        '\t' | '\n' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

/// Checks recorded text against `text.characters`; the error names the first character that
/// breaks it.
pub fn check_text_characters(text: &str) -> Result<(), BadCharacter> {
    match text.char_indices().find(|(_, character)| !allowed_in_text(*character)) {
        None => Ok(()),
        Some((byte_offset, character)) => Err(BadCharacter { byte_offset, character }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_holds_printable_characters_tabs_and_line_feeds_only() {
        for good in
            ["", "Buses until 11pm.", "Line one\nLine two\twith a tab", "Café, naïve, 東京, 🚌", "\u{a0}\u{fffd}"]
        {
            assert_eq!(check_text_characters(good), Ok(()), "{good:?}");
        }
        for (bad, offset, character) in [
            ("a\0b", 1, '\0'),
            ("bell\u{7}", 4, '\u{7}'),
            ("vt\u{b}", 2, '\u{b}'),
            ("\u{1b}[31m", 0, '\u{1b}'),
            ("crlf\r\n", 4, '\r'),
            ("del\u{7f}", 3, '\u{7f}'),
            ("c1\u{85}", 2, '\u{85}'),
            ("é\u{fffe}", 2, '\u{fffe}'),
            ("\u{ffff}", 0, '\u{ffff}'),
        ] {
            let error = check_text_characters(bad).expect_err(bad);
            assert_eq!((error.byte_offset, error.character), (offset, character), "{bad:?}");
            assert!(error.to_string().starts_with("text.characters: holds U+"), "{error}");
        }
    }
}
