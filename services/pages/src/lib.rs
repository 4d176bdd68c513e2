//! The public pages as a pure function of a verified slice (docs/FORMAT.md §15).
//!
//! [`render`] turns a [`VerifiedSlice`] into a page's title and `<body>`. The server renders
//! every page this way from the slice it serves for that page, and the visitor's browser runs
//! the same code, compiled to WebAssembly (`klero-browser`), on the slice it fetched and checked
//! itself: it then compares what it derived with what the server sent, element by element. So
//! nothing the server's markup says decides what is checked, and the no-script page and the
//! checked page come from one template.
//!
//! Everything a page shows comes from the slice: the views rebuilt by folding it, the events
//! themselves, the stream heads, opened sealed text checked against its commitment, and
//! documents checked against their hashes. The one thing shown that the slice does not prove
//! is whether the server holds a document it did not include ("document-held"), which a page
//! says is the server's word.
//!
//! Nothing here does I/O or reads a clock.

mod assembly;
pub mod chart;
mod event;
pub mod format;
pub mod i18n;
mod listing;
pub mod programme;
mod submissions;
mod trace;
mod updates;

use askama::Template;
use klero_domain::{AssemblyId, CouncilId};
use klero_ledger::Hash256;
use klero_projections::views::PersonalTextView;
use klero_verifier::slice::{ErasuresComplete, SliceTarget, VerifiedSlice};

pub use assembly::{AssemblyModel, DataModel};
pub use event::EventModel;
pub use i18n::{Arg, Lang, ToArg};
pub use listing::{DashboardModel, IndexModel};
pub use submissions::SubmissionsModel;
pub use trace::TraceModel;
pub use updates::{submission_updates, RecordedUpdate, SubmissionUpdate};

/// A page of the site: what it shows, and so which slice it is derived from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Page {
    /// `/` (or `/?after=ID`): a page of the list of assemblies.
    Index { after: Option<AssemblyId> },
    /// `/dashboard` (or `?after=ID`): a page of assemblies compared.
    Dashboard { after: Option<AssemblyId> },
    /// `/assemblies/ID`.
    Assembly(AssemblyId),
    /// `/assemblies/ID/data`.
    Data(AssemblyId),
    /// `/assemblies/ID/submissions` (or `?page=K`, from 1): a page of the assembly's public
    /// submissions, each with its text and what became of it.
    Submissions { assembly: AssemblyId, page: u64 },
    /// `/events/N`.
    Event(u64),
    /// `/receipt?log_index=N`, or a receipt checked: what became of an input.
    Trace { log_index: u64, receipt: Option<ReceiptCheck> },
    /// `/programme` (or `?after=ID`): a page of the programme's councils, compared.
    Programme { after: Option<CouncilId> },
    /// `/councils/ID`: a council's own page, its assemblies compared.
    Council(CouncilId),
}

/// A receipt (a proof bundle, FORMAT.md §5) the reader checked: its event, and the size of the
/// checkpoint it carries, which the slice's checkpoint extends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiptCheck {
    pub leaf_index: u64,
    pub receipt_tree_size: u64,
}

impl Page {
    /// The slice the page is derived from.
    pub fn slice_target(&self) -> SliceTarget {
        match self {
            Page::Index { after } => SliceTarget::Index { after: after.clone() },
            Page::Dashboard { after } => SliceTarget::Dashboard { after: after.clone() },
            Page::Assembly(id) | Page::Data(id) => SliceTarget::Assembly(id.clone()),
            Page::Submissions { assembly, page } => {
                SliceTarget::Submissions { assembly: assembly.clone(), page: *page }
            }
            Page::Event(index) => SliceTarget::Event(*index),
            Page::Trace { log_index, .. } => SliceTarget::Input(*log_index),
            Page::Programme { after } => SliceTarget::Programme { after: after.clone() },
            Page::Council(id) => SliceTarget::Council(id.clone()),
        }
    }

    /// The page's address in `lang`.
    pub fn path_in(&self, lang: Lang) -> String {
        format!("{}{}", lang.prefix(), self.path())
    }

    /// The page's address (in English).
    pub fn path(&self) -> String {
        match self {
            Page::Index { after: None } => "/".into(),
            Page::Index { after: Some(id) } => format!("/?after={id}"),
            Page::Dashboard { after: None } => "/dashboard".into(),
            Page::Dashboard { after: Some(id) } => format!("/dashboard?after={id}"),
            Page::Assembly(id) => format!("/assemblies/{id}"),
            Page::Data(id) => format!("/assemblies/{id}/data"),
            Page::Submissions { assembly, page: 1 } => format!("/assemblies/{assembly}/submissions"),
            Page::Submissions { assembly, page } => format!("/assemblies/{assembly}/submissions?page={page}"),
            Page::Event(index) => format!("/events/{index}"),
            Page::Trace { log_index, .. } => format!("/receipt?log_index={log_index}"),
            Page::Programme { after: None } => "/programme".into(),
            Page::Programme { after: Some(id) } => format!("/programme?after={id}"),
            Page::Council(id) => format!("/councils/{id}"),
        }
    }
}

/// A page as rendered: its title (plain text) and the inside of its `<body>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedPage {
    /// The language it is in (the `<html lang>`).
    pub lang: Lang,
    pub title: String,
    pub body: String,
    /// An Atom feed the page's `<head>` links to, if any.
    pub feed: Option<String>,
}

/// Why a page cannot be rendered from a slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageError {
    /// What the page names is not in the record (an assembly never convened, an event that is
    /// not an input).
    NotFound(String),
    /// The page asks for something that cannot be shown (a receipt of an event that is not an
    /// input).
    BadRequest(String),
    /// A template failed; a bug.
    Render(String),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::NotFound(what) | PageError::BadRequest(what) | PageError::Render(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for PageError {}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> PageError {
        PageError::Render(error.to_string())
    }
}

/// What every page carries: its language, the record's size and date, and the keys it was
/// checked with.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub lang: Lang,
    /// What the page's own links start with: `/cy` in Welsh, nothing in English.
    pub pre: &'static str,
    /// This page in the other language.
    pub other_lang_path: String,
    pub tree_size: u64,
    /// The record's date in words: the recording time of its last event.
    pub as_of: String,
    pub log_vkey: String,
    pub trust_root: String,
    /// Witnesses that cosigned the checkpoint, by name.
    pub cosigned_by: Vec<String>,
}

impl Chrome {
    fn of(slice: &VerifiedSlice, page: &Page) -> Chrome {
        let lang = i18n::current();
        Chrome {
            lang,
            pre: lang.prefix(),
            other_lang_path: page.path_in(lang.other()),
            tree_size: slice.checkpoint.checkpoint().tree_size,
            as_of: if slice.as_of_unix_ms == 0 {
                lang.t("record-start")
            } else {
                format::time_words(slice.as_of_unix_ms)
            },
            log_vkey: slice.log_key.to_vkey_string(),
            trust_root: klero_ledger::hash::to_hex(&slice.trust_root),
            cosigned_by: slice.cosigned_by.clone(),
        }
    }

    /// "1 event", "35 events".
    pub fn events_words(&self) -> String {
        self.lang.ta("count-events", &[("count", Arg::Number(self.tree_size))])
    }

    /// The message `id`, as text.
    pub fn t(&self, id: &str) -> Words {
        Words(self.lang.t(id))
    }

    pub fn t1(&self, id: &str, a: &str, va: impl ToArg) -> Words {
        Words(self.lang.ta(id, &[(a, va.to_arg())]))
    }

    pub fn t2(&self, id: &str, a: &str, va: impl ToArg, b: &str, vb: impl ToArg) -> Words {
        Words(self.lang.ta(id, &[(a, va.to_arg()), (b, vb.to_arg())]))
    }

    // A message's id and three named arguments, as templates call it.
    #[allow(clippy::too_many_arguments)]
    pub fn t3(&self, id: &str, a: &str, va: impl ToArg, b: &str, vb: impl ToArg, c: &str, vc: impl ToArg) -> Words {
        Words(self.lang.ta(id, &[(a, va.to_arg()), (b, vb.to_arg()), (c, vc.to_arg())]))
    }

    /// The message `id` as markup (the catalogue's own tags, such as `<strong>`), its
    /// arguments escaped: for `|safe` in a template.
    pub fn h(&self, id: &str) -> String {
        self.lang.t(id)
    }

    pub fn h1(&self, id: &str, a: &str, va: impl ToArg) -> String {
        self.lang.ta(id, &[(a, escaped(va.to_arg()))])
    }

    pub fn h2(&self, id: &str, a: &str, va: impl ToArg, b: &str, vb: impl ToArg) -> String {
        self.lang.ta(id, &[(a, escaped(va.to_arg())), (b, escaped(vb.to_arg()))])
    }

    #[allow(clippy::too_many_arguments)]
    pub fn h3(&self, id: &str, a: &str, va: impl ToArg, b: &str, vb: impl ToArg, c: &str, vc: impl ToArg) -> String {
        self.lang.ta(id, &[(a, escaped(va.to_arg())), (b, escaped(vb.to_arg())), (c, escaped(vc.to_arg()))])
    }

    /// For a page with nothing from the record (a form, an error), at `path` (English).
    pub fn none_at(path: &str) -> Chrome {
        let lang = i18n::current();
        Chrome {
            lang,
            pre: lang.prefix(),
            other_lang_path: format!("{}{path}", lang.other().prefix()),
            ..Chrome::none()
        }
    }

    /// For a page with nothing from the record (a form, an error).
    pub fn none() -> Chrome {
        let lang = i18n::current();
        Chrome {
            lang,
            pre: lang.prefix(),
            other_lang_path: format!("{}/", lang.other().prefix()),
            tree_size: 0,
            as_of: String::new(),
            log_vkey: String::new(),
            trust_root: String::new(),
            cosigned_by: Vec::new(),
        }
    }
}

/// Renders `page` in `lang` from `slice`, which must be the slice of [`Page::slice_target`].
pub fn render(page: &Page, slice: &VerifiedSlice, lang: Lang) -> Result<RenderedPage, PageError> {
    i18n::rendering_in(lang, || {
        let mut rendered = render_in_current_lang(page, slice)?;
        rendered.lang = lang;
        Ok(rendered)
    })
}

fn render_in_current_lang(page: &Page, slice: &VerifiedSlice) -> Result<RenderedPage, PageError> {
    let chrome = Chrome::of(slice, page);
    match page {
        Page::Index { .. } => listing::render_index(chrome, slice),
        Page::Dashboard { .. } => listing::render_dashboard(chrome, slice),
        Page::Assembly(id) => assembly::render_assembly(chrome, slice, id),
        Page::Data(id) => assembly::render_data(chrome, slice, id),
        Page::Submissions { assembly, page } => submissions::render_submissions(chrome, slice, assembly, *page),
        Page::Event(index) => event::render_event(chrome, slice, *index),
        Page::Trace { log_index, receipt } => trace::render_trace(chrome, slice, *log_index, *receipt),
        Page::Programme { .. } => programme::render_programme(chrome, slice),
        Page::Council(id) => programme::render_council(chrome, slice, id),
    }
}

#[derive(Template)]
#[template(path = "receipt_form.html")]
struct ReceiptFormPage {
    chrome: Chrome,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    heading: &'a str,
    message: &'a str,
}

/// The form to follow a receipt, in `lang`: nothing on it comes from the record.
pub fn render_receipt_form(lang: Lang) -> Result<RenderedPage, PageError> {
    i18n::rendering_in(lang, || {
        Ok(RenderedPage {
            lang,
            title: lang.t("title-receipt"),
            body: ReceiptFormPage { chrome: Chrome::none_at("/receipt") }.render()?,
            feed: None,
        })
    })
}

#[derive(Template)]
#[template(path = "submitted.html")]
struct SubmittedPage<'a> {
    chrome: Chrome,
    assembly: &'a str,
    call: &'a str,
    log_index: u64,
}

/// What a resident sees once the web form's submission is in the record, in `lang`: where it
/// is, and how to follow it. Nothing on it is checked: it is the server's answer to the form.
pub fn render_submitted(lang: Lang, assembly: &str, call: &str, log_index: u64) -> RenderedPage {
    i18n::rendering_in(lang, || {
        let chrome = Chrome::none_at(&format!("/receipt?log_index={log_index}"));
        let body = SubmittedPage { chrome, assembly, call, log_index }
            .render()
            .unwrap_or_else(|_| format!("<main id=\"content\"><h1>{log_index}</h1></main>"));
        RenderedPage { lang, title: lang.t("title-submitted"), body, feed: None }
    })
}

/// An error page in `lang`; it names no log state, since it may be shown when the log cannot
/// be read.
pub fn render_error(lang: Lang, heading: &str, message: &str) -> RenderedPage {
    i18n::rendering_in(lang, || {
        let body = ErrorPage { chrome: Chrome::none(), heading, message }
            .render()
            .unwrap_or_else(|_| format!("<main id=\"content\"><h1>{}</h1></main>", escape(message)));
        RenderedPage { lang, title: heading.to_string(), body, feed: None }
    })
}

/// A whole HTML document around a rendered page: what the server sends.
pub fn document(page: &RenderedPage) -> String {
    let feed = page
        .feed
        .as_ref()
        .map(|href| {
            format!(
                "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"{}\" href=\"{}\">\n",
                escape(&page.lang.t("feed-title")),
                escape(href)
            )
        })
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} · Kleroterion</title>\n<link rel=\"stylesheet\" href=\"/static/klero.css\">\n<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">\n{feed}<script src=\"/static/klero.js\" defer></script>\n</head>\n<body>\n{}</body>\n</html>\n",
        page.lang.tag(),
        escape(&page.title),
        page.body
    )
}

/// A message as text in a template: escaped as the templates' own words were before they moved
/// to the catalogues (`<`, `>`, `&` and `"`, but not the apostrophes of "council's"), so that the
/// pages' bytes do not change with where their words come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Words(pub String);

impl std::fmt::Display for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '&' => f.write_str("&amp;")?,
                '"' => f.write_str("&quot;")?,
                c => std::fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

// Its Display escapes what HTML needs escaped, in text and in double-quoted attributes.
impl askama::filters::HtmlSafe for Words {}

fn escaped(arg: Arg) -> Arg {
    match arg {
        Arg::Text(text) => Arg::Text(escape(&text)),
        number => number,
    }
}

/// HTML escaping for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A document an event commits to, as a page shows it.
#[derive(Clone, Debug)]
pub struct DocumentShown {
    pub sha256: Hash256,
    pub state: DocumentState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentState {
    /// Short text the slice includes, checked against its hash.
    Text(String),
    /// The server says it holds it (long, or not text): a link, not checked here.
    Held,
    /// Erased, as the record says.
    Erased { on: String, reason: String },
    /// The server holds no copy: not uploaded, or removed.
    NotHeld,
}

impl DocumentShown {
    fn of(slice: &VerifiedSlice, sha256: Hash256) -> DocumentShown {
        let state = match slice.documents.get(&sha256) {
            Some(bytes) => DocumentState::Text(String::from_utf8_lossy(bytes).into_owned()),
            None if slice.documents_held.contains(&sha256) => DocumentState::Held,
            None => DocumentState::NotHeld,
        };
        DocumentShown { sha256, state }
    }

    fn erased(sha256: Hash256, on: String, reason: String) -> DocumentShown {
        DocumentShown { sha256, state: DocumentState::Erased { on, reason } }
    }

    pub fn hex(&self) -> String {
        self.sha256.to_hex()
    }

    pub fn short(&self) -> String {
        self.sha256.to_hex()[..12].to_string()
    }

    pub fn text(&self) -> Option<&str> {
        match &self.state {
            DocumentState::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn erasure(&self) -> Option<String> {
        match &self.state {
            DocumentState::Erased { on, reason } => {
                Some(i18n::tra("erased-on", &[("date", on.into()), ("reason", reason.into())]))
            }
            _ => None,
        }
    }

    /// Whether the page links to the bytes: they exist somewhere to download.
    pub fn linkable(&self) -> bool {
        matches!(self.state, DocumentState::Text(_) | DocumentState::Held)
    }

    pub fn held_only(&self) -> bool {
        self.state == DocumentState::Held
    }
}

/// What the server says of its old copies of the erased items a page shows (FORMAT.md §14.3):
/// its word, which the slice carries and no reader can check, so a page says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErasureNotice {
    /// Erased items the notice is about.
    pub erased: usize,
    /// Of those, the ones the server says are complete in every copy it keeps.
    pub complete: usize,
    pub statement: Option<ErasuresComplete>,
}

impl ErasureNotice {
    /// The notice for the erased events `erased` (by hash) of `slice`; `None` if it has none.
    pub fn of<'h>(slice: &VerifiedSlice, erased: impl IntoIterator<Item = &'h Hash256>) -> Option<ErasureNotice> {
        let times = slice.erasure_times();
        let recorded: Vec<u64> = erased.into_iter().filter_map(|hash| times.get(hash).copied()).collect();
        if recorded.is_empty() {
            return None;
        }
        let complete = match slice.erasures_complete {
            Some(statement) => recorded.iter().filter(|at| statement.covers(**at)).count(),
            None => 0,
        };
        Some(ErasureNotice { erased: recorded.len(), complete, statement: slice.erasures_complete })
    }

    /// The notice in words.
    pub fn words(&self) -> String {
        let count = || ("count", Arg::from(self.erased));
        let statement = match self.statement {
            None => i18n::tr("erasure-server-silent"),
            Some(ErasuresComplete::AtOnce) => i18n::tra("erasure-complete-at-once", &[count()]),
            Some(ErasuresComplete::Before(0)) => i18n::tr("erasure-no-rotation"),
            Some(ErasuresComplete::Before(through)) if self.complete == self.erased => {
                i18n::tra("erasure-complete-since", &[count(), ("date", format::time_words(through).into())])
            }
            Some(ErasuresComplete::Before(through)) => i18n::tra(
                "erasure-partly-complete",
                &[("complete", self.complete.into()), count(), ("date", format::time_words(through).into())],
            ),
        };
        format!("{statement} {}", i18n::tr("erasure-server-word"))
    }
}

/// Free text that may hold personal data (FORMAT.md §14), as a page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersonalShown {
    /// Plain text, as signed.
    Plain(String),
    /// Sealed text the server opened; checked against the commitment its author signed.
    Opened(String),
    /// Erased: when and why, as the record says.
    Erased { on: String, reason: String },
    /// Sealed, and not opened by the server.
    Unopened,
    /// A resident's submission a moderator withheld, with the call's reason: never shown.
    Withheld(String),
    /// A resident's submission no moderator has decided yet: not shown until published.
    AwaitingModeration,
}

impl PersonalShown {
    fn of(slice: &VerifiedSlice, text: &PersonalTextView) -> PersonalShown {
        match text {
            PersonalTextView::Plain(text) => PersonalShown::Plain(text.clone()),
            PersonalTextView::Sealed { erased_on: Some(on), erasure_reason, .. } => PersonalShown::Erased {
                on: format::date_words(&on.to_string()),
                reason: erasure_reason.clone().unwrap_or_default(),
            },
            PersonalTextView::Sealed { sealed_commitment, .. } => match slice.openings.get(sealed_commitment) {
                Some(opened) => PersonalShown::Opened(opened.text.clone()),
                None => PersonalShown::Unopened,
            },
        }
    }

    pub fn erased(&self) -> bool {
        matches!(self, PersonalShown::Erased { .. })
    }

    pub fn sealed(&self) -> bool {
        !matches!(self, PersonalShown::Plain(_))
    }
}

impl std::fmt::Display for PersonalShown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PersonalShown::Plain(text) | PersonalShown::Opened(text) => f.write_str(text),
            PersonalShown::Erased { on, reason } => {
                f.write_str(&i18n::tra("erased-on", &[("date", on.into()), ("reason", reason.into())]))
            }
            PersonalShown::Unopened => f.write_str(&i18n::tr("sealed-unopened")),
            PersonalShown::Withheld(reason) => {
                f.write_str(&i18n::tra("withheld-by-moderator", &[("reason", reason.replace('_', " ").into())]))
            }
            PersonalShown::AwaitingModeration => f.write_str(&i18n::tr("awaiting-moderation")),
        }
    }
}
