//! The pages' words in English and Welsh, from one message catalogue per language (Project
//! Fluent: `locales/en.ftl`, `locales/cy.ftl`), compiled in, so that the server and the
//! browser's module render the same words. A test checks that both catalogues hold the same
//! messages, and that every message a page asks for exists.

use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    /// The language of the page being rendered. A page's words are chosen once per render, and
    /// rendering is synchronous and pure, so the many small `Display` impls and formatters take
    /// their language from here rather than each model carrying it.
    static RENDERING: Cell<Lang> = const { Cell::new(Lang::En) };
}

/// Runs `render` with the pages' words in `lang`.
pub fn rendering_in<T>(lang: Lang, render: impl FnOnce() -> T) -> T {
    let before = RENDERING.with(|current| current.replace(lang));
    let result = render();
    RENDERING.with(|current| current.set(before));
    result
}

/// The language of the page being rendered.
pub fn current() -> Lang {
    RENDERING.with(Cell::get)
}

/// The message `id` in the language of the page being rendered.
pub fn tr(id: &str) -> String {
    current().t(id)
}

/// The message `id`, with its arguments, in the language of the page being rendered.
pub fn tra(id: &str, args: &[(&str, Arg)]) -> String {
    current().ta(id, args)
}

/// A language the pages are in. English is served at `/…`, Welsh at `/cy/…`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    En,
    Cy,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Cy];

    /// The BCP 47 tag, for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Cy => "cy",
        }
    }

    /// What a page's address starts with in this language: nothing for English, `/cy` for Welsh.
    pub fn prefix(self) -> &'static str {
        match self {
            Lang::En => "",
            Lang::Cy => "/cy",
        }
    }

    /// The language of a path, and the path without its prefix.
    pub fn of_path(path: &str) -> (Lang, &str) {
        match path.strip_prefix("/cy") {
            Some("") => (Lang::Cy, "/"),
            Some(rest) if rest.starts_with('/') || rest.starts_with('?') => (Lang::Cy, rest),
            _ => (Lang::En, path),
        }
    }

    /// The other language, for the switch every page offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Cy,
            Lang::Cy => Lang::En,
        }
    }

    /// The catalogue's source.
    pub fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../locales/en.ftl"),
            Lang::Cy => include_str!("../locales/cy.ftl"),
        }
    }

    fn bundle(self) -> &'static Bundle {
        static BUNDLES: OnceLock<[Bundle; 2]> = OnceLock::new();
        let bundles = BUNDLES.get_or_init(|| [Bundle::new(Lang::En), Bundle::new(Lang::Cy)]);
        &bundles[self as usize]
    }

    /// The message `id`, with no arguments.
    pub fn t(self, id: &str) -> String {
        self.bundle().format(id, None)
    }

    /// The message `id` with its arguments.
    pub fn ta(self, id: &str, args: &[(&str, Arg)]) -> String {
        let mut fluent = FluentArgs::new();
        for (name, value) in args {
            fluent.set(*name, value.to_fluent());
        }
        self.bundle().format(id, Some(&fluent))
    }
}

/// An argument of a message: a number (which chooses plural forms) or a text.
#[derive(Clone, Debug)]
pub enum Arg {
    Number(u64),
    Text(String),
}

impl Arg {
    fn to_fluent(&self) -> FluentValue<'_> {
        match self {
            Arg::Number(n) => FluentValue::from(*n),
            Arg::Text(text) => FluentValue::from(text.as_str()),
        }
    }
}

impl<T: ToArg + ?Sized> From<&T> for Arg {
    fn from(value: &T) -> Arg {
        value.to_arg()
    }
}

macro_rules! from_values {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(value: $t) -> Arg {
                value.to_arg()
            }
        }
    )*};
}
from_values!(u64, u32, usize, i64, String);

/// What a message may take as an argument: numbers, texts, and references to them (as the
/// templates pass them).
pub trait ToArg {
    fn to_arg(&self) -> Arg;
}

macro_rules! number_args {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg {
                Arg::Number(*self as u64)
            }
        }
    )*};
}
number_args!(u64, u32, usize, i64);

impl ToArg for str {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.to_string())
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.clone())
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg {
        (**self).to_arg()
    }
}

struct Bundle(fluent_bundle::concurrent::FluentBundle<FluentResource>);

impl Bundle {
    fn new(lang: Lang) -> Bundle {
        let tag: unic_langid::LanguageIdentifier = lang.tag().parse().expect("a language tag");
        let mut bundle = fluent_bundle::concurrent::FluentBundle::new_concurrent(vec![tag]);
        // Isolation marks would land inside HTML attributes and the browser's comparison.
        bundle.set_use_isolating(false);
        let resource = FluentResource::try_new(lang.source().to_string())
            .unwrap_or_else(|(_, errors)| panic!("locales/{}.ftl does not parse: {errors:?}", lang.tag()));
        bundle.add_resource(resource).unwrap_or_else(|errors| panic!("locales/{}.ftl: {errors:?}", lang.tag()));
        Bundle(bundle)
    }

    fn format(&self, id: &str, args: Option<&FluentArgs>) -> String {
        let Some(pattern) = self.0.get_message(id).and_then(|message| message.value()) else {
            // A missing message shows as its id: a test (every message a page asks for
            // exists) catches it before it ships.
            return format!("[{id}]");
        };
        let mut errors = Vec::new();
        self.0.format_pattern(pattern, args, &mut errors).into_owned()
    }
}

/// Every message id of a catalogue, in order: each line that starts a message (`id =`).
pub fn message_ids(lang: Lang) -> Vec<String> {
    lang.source()
        .lines()
        .filter(|line| line.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter_map(|line| line.split_once(" =").map(|(id, _)| id.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Message ids the pages' code and templates ask for: every `t("…")`, `t1("…", …)`,
    /// `h…("…")`, `tr("…")`, `tra("…", …)`, and the ids chosen in code (`"standing-…"`, …).
    fn ids_asked_for() -> std::collections::BTreeSet<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates", "src"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("dir") {
                files.push(std::fs::read_to_string(entry.expect("entry").path()).expect("read"));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for text in files {
            for call in [
                ".t(\"", ".t1(\"", ".t2(\"", ".t3(\"", ".h(\"", ".h1(\"", ".h2(\"", ".h3(\"", "tr(\"", "tra(\"",
                "tra(\n",
            ] {
                for (at, _) in text.match_indices(call) {
                    let rest = text[at + call.len()..].trim_start().trim_start_matches('"');
                    let id: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                        .collect();
                    if id.len() > 1 && !id.ends_with('-') {
                        ids.insert(id);
                    }
                }
            }
        }
        ids
    }

    #[test]
    fn both_catalogues_hold_the_same_messages_and_every_one_a_page_asks_for() {
        let english = message_ids(Lang::En);
        let welsh = message_ids(Lang::Cy);
        assert_eq!(english, welsh, "en.ftl and cy.ftl list the same messages in the same order");
        let known: std::collections::BTreeSet<String> = english.into_iter().collect();
        let asked = ids_asked_for();
        assert!(asked.len() > 200, "the scan finds the pages' messages: {}", asked.len());
        let missing: Vec<&String> = asked.iter().filter(|id| !known.contains(*id)).collect();
        assert!(missing.is_empty(), "asked for but in no catalogue: {missing:?}");
        for lang in Lang::ALL {
            for id in &known {
                let text = lang.ta(id, &[]);
                assert!(!text.trim().is_empty() && !text.starts_with('['), "{}: {id} is empty", lang.tag());
            }
        }
    }

    #[test]
    fn no_message_is_left_in_english_in_the_welsh_catalogue() {
        // The same in both languages by nature: names, codes and punctuation.
        let same_in_both =
            ["agenda", "algorithm", "adoption-recorded-close", "field-agenda", "field-algorithm", "title-council"];
        let english = message_ids(Lang::En);
        let untranslated: Vec<&String> = english
            .iter()
            .filter(|id| !same_in_both.contains(&id.as_str()))
            .filter(|id| Lang::En.t(id) == Lang::Cy.t(id))
            .collect();
        assert!(untranslated.is_empty(), "the same text in English and Welsh: {untranslated:?}");
    }

    /// Every word a template shows comes from the catalogues: outside its tags and
    /// expressions, a template holds only names that are the same in every language.
    #[test]
    fn templates_hold_no_words_of_their_own() {
        let same_in_every_language = ["Kleroterion", "SHA-256", "json"];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for entry in std::fs::read_dir(&root).expect("templates") {
            let path = entry.expect("entry").path();
            let mut text = std::fs::read_to_string(&path).expect("read");
            for (open, close) in [("{%", "%}"), ("{{", "}}"), ("<", ">")] {
                while let Some(start) = text.find(open) {
                    let end = text[start..].find(close).map_or(text.len(), |end| start + end + close.len());
                    text.replace_range(start..end, " ");
                }
            }
            for token in same_in_every_language {
                text = text.replace(token, " ");
            }
            let words: Vec<&str> =
                text.split(|c: char| !c.is_alphabetic()).filter(|word| word.chars().count() > 1).collect();
            assert!(words.is_empty(), "{} shows words of its own: {words:?}", path.display());
        }
    }

    #[test]
    fn numbers_choose_english_plurals_and_welsh_keeps_its_singular_noun() {
        assert_eq!(Lang::En.ta("count-events", &[("count", Arg::Number(1))]), "1 event");
        assert_eq!(Lang::En.ta("count-events", &[("count", Arg::Number(35))]), "35 events");
        assert_eq!(Lang::Cy.ta("count-events", &[("count", Arg::Number(35))]), "35 digwyddiad");
    }

    #[test]
    fn a_path_names_its_language() {
        assert_eq!(Lang::of_path("/cy/assemblies/a"), (Lang::Cy, "/assemblies/a"));
        assert_eq!(Lang::of_path("/cy"), (Lang::Cy, "/"));
        assert_eq!(Lang::of_path("/cy?after=b"), (Lang::Cy, "?after=b"));
        assert_eq!(Lang::of_path("/cymru"), (Lang::En, "/cymru"));
        assert_eq!(Lang::of_path("/assemblies/a"), (Lang::En, "/assemblies/a"));
    }
}
