//! How recorded values read on a page: dates in words, hashes in short, and the plain names of
//! decisions and statuses, in the language of the page being rendered (English elsewhere).

/// A month's name, 1 to 12, in the language of the page being rendered.
fn month(m: usize) -> String {
    crate::i18n::tr(&format!("month-{m}"))
}

/// `2026-09-05` as `5 September 2026`; anything else as it is.
pub fn date_words(date: &str) -> String {
    let mut parts = date.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return date.to_string();
    };
    match (y.parse::<u32>(), m.parse::<usize>(), d.parse::<u32>()) {
        (Ok(y), Ok(m @ 1..=12), Ok(d)) => format!("{d} {} {y}", month(m)),
        _ => date.to_string(),
    }
}

/// Days since 1970-01-01 as a (year, month, day) civil date (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A recording time (ms since the epoch) as `5 September 2026` (UTC).
pub fn day_words(unix_ms: u64) -> String {
    let (y, m, d) = civil_from_days((unix_ms / 86_400_000) as i64);
    format!("{d} {} {y}", month(m as usize))
}

/// A recording time as `5 September 2026, 14:03 UTC`.
pub fn time_words(unix_ms: u64) -> String {
    let minutes = (unix_ms / 60_000) % 1_440;
    format!("{}, {:02}:{:02} UTC", day_words(unix_ms), minutes / 60, minutes % 60)
}

/// A recording time as RFC 3339, for feeds and machine-readable dates.
pub fn rfc3339(unix_ms: u64) -> String {
    let (y, m, d) = civil_from_days((unix_ms / 86_400_000) as i64);
    let seconds = (unix_ms / 1_000) % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", seconds / 3_600, seconds / 60 % 60, seconds % 60)
}

/// A recording time as a `YYYY-MM-DD` date (UTC).
pub fn iso_date(unix_ms: u64) -> String {
    let (y, m, d) = civil_from_days((unix_ms / 86_400_000) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The first 12 hex digits of a hash: enough to tell hashes apart on a page. The full hash is
/// always beside it, in the element's title and in the downloads.
pub fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

/// A decision in plain words.
pub fn decision_label(decision: klero_domain::Decision) -> String {
    crate::i18n::tr(match decision {
        klero_domain::Decision::Accepted => "decision-accepted",
        klero_domain::Decision::AcceptedInPart => "decision-accepted-in-part",
        klero_domain::Decision::NotAccepted => "decision-not-accepted",
        klero_domain::Decision::ReferredForFurtherStudy => "decision-referred",
    })
}

/// Where a recommendation stands, as a receipt says it.
pub fn recommendation_status_words(status: klero_projections::views::RecommendationStatus) -> String {
    use klero_projections::views::RecommendationStatus;
    crate::i18n::tr(match status {
        RecommendationStatus::Adopted => "recommendation-status-adopted",
        RecommendationStatus::Withdrawn => "recommendation-status-withdrawn",
        RecommendationStatus::Drafted => "recommendation-status-drafted",
    })
}

/// An implementation status in plain words.
pub fn status_label(status: klero_domain::ImplementationStatus) -> String {
    crate::i18n::tr(match status {
        klero_domain::ImplementationStatus::NotStarted => "implementation-not-started",
        klero_domain::ImplementationStatus::InProgress => "implementation-in-progress",
        klero_domain::ImplementationStatus::Completed => "implementation-completed",
        klero_domain::ImplementationStatus::Stalled => "implementation-stalled",
    })
}

/// A percentage with one decimal, from a probability.
pub fn percent(probability: f64) -> String {
    format!("{:.1}%", probability * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_words() {
        assert_eq!(date_words("2026-09-05"), "5 September 2026");
        assert_eq!(date_words("2027-12-31"), "31 December 2027");
        assert_eq!(date_words("not a date"), "not a date");
        // 2026-11-30T17:54:20Z
        assert_eq!(time_words(1_796_061_260_000), "30 November 2026, 17:54 UTC");
        assert_eq!(rfc3339(1_796_061_260_000), "2026-11-30T17:54:20Z");
        assert_eq!(iso_date(951_782_400_000), "2000-02-29");
        assert_eq!(day_words(0), "1 January 1970");
        let welsh = crate::i18n::rendering_in(crate::i18n::Lang::Cy, || date_words("2026-09-05"));
        assert_eq!(welsh, "5 Medi 2026");
    }
}
