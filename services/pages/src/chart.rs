//! The quota chart: for each quota, the seats its range allows (a band) against the members
//! seated (a bar), drawn on the server as SVG, so it needs no script. The same numbers are in
//! the table beside it; the chart adds nothing a screen reader would miss.

use crate::i18n::{tr, tra};
use std::fmt::Write as _;

/// One quota against the panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaRow {
    pub feature: String,
    pub value: String,
    pub min: u64,
    pub max: u64,
    /// The planned bounds, when the quota was relaxed (`min` and `max` are then the relaxed
    /// ones, which apply).
    pub planned: Option<(u64, u64)>,
    pub seated: u64,
    pub within: bool,
}

/// Escapes text for SVG (XML) content and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // A character XML cannot carry (the rules refuse them in new records, but a record
            // from before `text.characters` may hold one): shown as U+FFFD, so that the feed
            // stays a valid document whatever the log holds.
            c if !klero_domain::text::allowed_in_text(c) && c != '\r' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const ROW: u64 = 34;
const LABEL: u64 = 190;
const PLOT: u64 = 300;

/// The chart, or an empty string when there are no quotas.
pub fn quota_chart(quotas: &[QuotaRow]) -> String {
    if quotas.is_empty() {
        return String::new();
    }
    let scale_max = quotas.iter().map(|q| q.max.max(q.seated)).max().unwrap_or(1).max(1);
    let x = |seats: u64| LABEL + seats * PLOT / scale_max;
    let height = ROW * quotas.len() as u64 + 30;
    let width = LABEL + PLOT + 150;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"quota-chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"quota-chart-title\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"quota-chart-title\">{}</title>",
        xml_escape(&tr("chart-title"))
    );
    for (row, q) in quotas.iter().enumerate() {
        let y = row as u64 * ROW + 6;
        let label = xml_escape(&format!("{}: {}", q.feature, q.value));
        let verdict = tr(if q.within { "chart-within" } else { "chart-outside" });
        let allowed = xml_escape(&tra("chart-allowed", &[("min", q.min.into()), ("max", q.max.into())]));
        let seated_title = xml_escape(&tra("chart-seated-title", &[("seated", q.seated.into())]));
        let seated_line = xml_escape(&tra(
            "chart-seated-line",
            &[("seated", q.seated.into()), ("min", q.min.into()), ("max", q.max.into()), ("verdict", verdict.into())],
        ));
        let class = if q.within { "seated" } else { "seated outside" };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{ty}\" class=\"label\">{label}</text>\
             <rect x=\"{bx}\" y=\"{y}\" width=\"{bw}\" height=\"22\" class=\"band\"><title>{allowed}</title></rect>\
             <rect x=\"{LABEL}\" y=\"{sy}\" width=\"{sw}\" height=\"12\" class=\"{class}\"><title>{seated_title}</title></rect>\
             <text x=\"{nx}\" y=\"{ty}\" class=\"count\">{seated_line}</text>",
            ty = y + 16,
            bx = x(q.min),
            bw = (x(q.max) - x(q.min)).max(2),
            sy = y + 5,
            sw = (x(q.seated) - LABEL).max(1),
            nx = LABEL + PLOT + 8,
        );
    }
    let axis_y = ROW * quotas.len() as u64 + 20;
    let _ = write!(
        svg,
        "<text x=\"{LABEL}\" y=\"{axis_y}\" class=\"axis\">0</text><text x=\"{}\" y=\"{axis_y}\" class=\"axis\" \
         text-anchor=\"end\">{}</text></svg>",
        LABEL + PLOT,
        xml_escape(&tra("chart-seats", &[("count", scale_max.into())]))
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_every_quota_is_drawn() {
        let quotas = vec![
            QuotaRow {
                feature: "age".into(),
                value: "<script>".into(),
                min: 2,
                max: 4,
                planned: None,
                seated: 3,
                within: true,
            },
            QuotaRow {
                feature: "ward".into(),
                value: "north & south".into(),
                min: 1,
                max: 2,
                planned: None,
                seated: 3,
                within: false,
            },
        ];
        let svg = quota_chart(&quotas);
        assert!(svg.contains("age: &lt;script&gt;") && !svg.contains("<script>"));
        assert!(svg.contains("north &amp; south"));
        assert!(svg.contains("3 seated (1–2, OUTSIDE)"), "the verdict is in words, not colour alone");
        assert_eq!(svg.matches("class=\"band\"").count(), 2);
        assert_eq!(quota_chart(&[]), "");
    }
}

#[cfg(test)]
mod escape_tests {
    use super::xml_escape;

    #[test]
    fn escaped_text_is_valid_xml_whatever_it_holds() {
        assert_eq!(xml_escape("a<b & \"c\"'"), "a&lt;b &amp; &quot;c&quot;&#39;");
        assert_eq!(xml_escape("nul\0bel\u{7}esc\u{1b}"), "nul\u{fffd}bel\u{fffd}esc\u{fffd}");
        assert_eq!(xml_escape("tab\tline\nend"), "tab\tline\nend");
    }
}
