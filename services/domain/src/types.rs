//! Small validated value types shared by the rules.

use std::fmt;

/// An assembly id: 1 to 64 bytes, `[council "."] name`, where `name` is 1 or more of
/// `a-z 0-9 -` starting with a letter or digit, and `council` (when present) is a
/// [`CouncilId`]. It is part of every stream name of the assembly, so it must be a valid
/// stream-name segment. An id with a council part is that council's assembly, governed by the
/// council's own registry (docs/RULES.md, "Councils"); one without is the platform's own.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct AssemblyId(String);

impl AssemblyId {
    pub const BYTES_MAX: usize = 64;

    pub fn parse(text: &str) -> Result<AssemblyId, AssemblyIdError> {
        AssemblyId::check(text).map(|()| AssemblyId(text.to_string()))
    }

    fn check(text: &str) -> Result<(), AssemblyIdError> {
        if text.is_empty() || text.len() > Self::BYTES_MAX {
            return Err(AssemblyIdError::Length);
        }
        let name = match text.split_once('.') {
            Some((council, name)) => {
                CouncilId::check(council).map_err(|_| AssemblyIdError::Council)?;
                name
            }
            None => text,
        };
        check_segment(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` is an assembly id, without making one.
    pub fn is_valid(text: &str) -> bool {
        AssemblyId::check(text).is_ok()
    }

    /// The council whose assembly this is; `None` for the platform's own.
    pub fn council(&self) -> Option<&str> {
        council_of_assembly(&self.0)
    }
}

/// The one grammar of an id's part (a council's id, an assembly's name): `a-z 0-9 -`, starting
/// with a letter or digit; its length is the caller's to check.
fn check_segment(text: &str) -> Result<(), AssemblyIdError> {
    if !text.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric) {
        return Err(AssemblyIdError::FirstByte);
    }
    if !text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(AssemblyIdError::Characters);
    }
    Ok(())
}

/// The council part of a checked assembly id, for paths that hold the id as text.
pub fn council_of_assembly(assembly: &str) -> Option<&str> {
    assembly.split_once('.').map(|(council, _)| council)
}

/// A council's id: 1 to 32 of `a-z 0-9 -`, starting with a letter or digit. A council's
/// registry is the stream `council/<id>`, and its assemblies' ids start with `<id>.`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct CouncilId(String);

impl CouncilId {
    pub const BYTES_MAX: usize = 32;

    pub fn parse(text: &str) -> Result<CouncilId, AssemblyIdError> {
        CouncilId::check(text).map(|()| CouncilId(text.to_string()))
    }

    fn check(text: &str) -> Result<(), AssemblyIdError> {
        if text.is_empty() || text.len() > Self::BYTES_MAX {
            return Err(AssemblyIdError::CouncilLength);
        }
        check_segment(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The council's registry stream, `council/<id>`.
    pub fn stream(&self) -> String {
        format!("{COUNCIL_STREAM_PREFIX}{}", self.0)
    }
}

impl std::borrow::Borrow<str> for CouncilId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CouncilId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Maps keyed by assembly id can be searched with a `&str`: the fold looks ids up for every
/// event, and a lookup should not allocate.
impl std::borrow::Borrow<str> for AssemblyId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssemblyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why text is not an assembly id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssemblyIdError {
    #[error("must be 1 to {} bytes", AssemblyId::BYTES_MAX)]
    Length,
    #[error("must start with a lowercase letter or digit")]
    FirstByte,
    #[error("may hold only a-z, 0-9 and '-' (and one '.' after a council's id)")]
    Characters,
    #[error("must start with a council id (1 to 32 of a-z, 0-9 and '-') before its '.'")]
    Council,
    #[error("must be 1 to 32 bytes")]
    CouncilLength,
}

/// Why text is not a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("must be \"*\" or an assembly id that {0}")]
    AssemblyId(AssemblyIdError),
}

/// Why text is not a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("must be a date written YYYY-MM-DD")]
    Shape,
    #[error("must be a real date between 1970 and 9999")]
    NotARealDate,
}

/// What a key may author.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Role {
    Convenor,
    SelectionOperator,
    Facilitator,
    PanelSecretary,
    CouncilDecisionMaker,
    Auditor,
    DataProtectionOfficer,
    Moderator,
    Intake,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Convenor => "convenor",
            Role::SelectionOperator => "selection operator",
            Role::Facilitator => "facilitator",
            Role::PanelSecretary => "panel secretary",
            Role::CouncilDecisionMaker => "council decision-maker",
            Role::Auditor => "auditor",
            Role::DataProtectionOfficer => "data protection officer",
            Role::Moderator => "moderator",
            Role::Intake => "intake",
        })
    }
}

/// Which assemblies a grant covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scope {
    /// Every assembly, written `*`.
    AllAssemblies,
    /// One assembly.
    Assembly(AssemblyId),
}

impl Scope {
    pub fn parse(text: &str) -> Result<Scope, ScopeError> {
        if text == "*" {
            return Ok(Scope::AllAssemblies);
        }
        AssemblyId::parse(text).map(Scope::Assembly).map_err(ScopeError::AssemblyId)
    }

    pub fn covers(&self, assembly: &AssemblyId) -> bool {
        self.covers_str(assembly.as_str())
    }

    /// [`Scope::covers`] for an id already checked as text.
    pub fn covers_str(&self, assembly: &str) -> bool {
        match self {
            Scope::AllAssemblies => true,
            Scope::Assembly(id) => id.as_str() == assembly,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::AllAssemblies => f.write_str("*"),
            Scope::Assembly(id) => f.write_str(id.as_str()),
        }
    }
}

/// A calendar date, stored as days since 1970-01-01 (proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Date(pub i64);

impl Date {
    /// Parses `YYYY-MM-DD` for years 1970 to 9999.
    pub fn parse(text: &str) -> Result<Date, DateError> {
        let bytes = text.as_bytes();
        let shape = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shape {
            return Err(DateError::Shape);
        }
        let number = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap_or(0);
        let (year, month, day) = (number(0..4), number(5..7), number(8..10));
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(DateError::NotARealDate);
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if day < 1 || day > month_days[(month - 1) as usize] {
            return Err(DateError::NotARealDate);
        }
        Ok(Date(days_from_civil(year, month, day)))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.0);
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// The council's decision on a recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accepted,
    AcceptedInPart,
    NotAccepted,
    ReferredForFurtherStudy,
}

impl Decision {
    /// Whether implementation updates may follow.
    pub fn accepts(self) -> bool {
        matches!(self, Decision::Accepted | Decision::AcceptedInPart)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::AcceptedInPart => "accepted_in_part",
            Decision::NotAccepted => "not_accepted",
            Decision::ReferredForFurtherStudy => "referred_for_further_study",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImplementationStatus {
    NotStarted,
    InProgress,
    Completed,
    Stalled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum WithdrawalReason {
    Personal,
    Unreachable,
    Other,
}

/// The registry whose grants authorise the events of `stream`: a registry stream's own, a
/// council's assembly's council's (`council/<id>`), else the platform's (`registry`).
pub fn registry_stream_for(stream: &str) -> String {
    if registry_of_stream(stream).is_some() {
        return stream.to_string();
    }
    match StreamKind::parse_stream_str(stream).and_then(|(_, assembly)| council_of_assembly(assembly?)) {
        Some(council) => format!("{COUNCIL_STREAM_PREFIX}{council}"),
        None => REGISTRY_STREAM.to_string(),
    }
}

/// Which stream of an assembly an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum StreamKind {
    Registry,
    Assembly,
    Selection,
    Deliberation,
    Recommendation,
    Response,
}

/// The platform's stream of key grants and revocations, and the councils it registers.
pub const REGISTRY_STREAM: &str = "registry";
/// A council's registry is the stream `council/<id>`: its registration by the platform, then
/// its own grants and revocations.
pub const COUNCIL_STREAM_PREFIX: &str = "council/";

/// Which registry a registry stream is: the platform's (`registry`) or a council's
/// (`council/<id>`); `None` for any other stream.
pub fn registry_of_stream(stream: &str) -> Option<Option<&str>> {
    if stream == REGISTRY_STREAM {
        return Some(None);
    }
    let council = stream.strip_prefix(COUNCIL_STREAM_PREFIX)?;
    CouncilId::check(council).is_ok().then_some(Some(council))
}

impl StreamKind {
    /// The stream name of this kind for an assembly (the registry has one global stream).
    pub fn stream_name(self, assembly: &AssemblyId) -> String {
        match self {
            StreamKind::Registry => REGISTRY_STREAM.to_string(),
            StreamKind::Assembly => format!("assembly/{assembly}"),
            StreamKind::Selection => format!("assembly/{assembly}/selection"),
            StreamKind::Deliberation => format!("assembly/{assembly}/deliberation"),
            StreamKind::Recommendation => format!("assembly/{assembly}/recommendation"),
            StreamKind::Response => format!("assembly/{assembly}/response"),
        }
    }

    /// Splits a stream name into its kind and assembly; `None` for names outside the scheme.
    /// A council's registry (`council/<id>`) is of kind `Registry`, with no assembly.
    pub fn parse_stream(stream: &str) -> Option<(StreamKind, Option<AssemblyId>)> {
        let (kind, id) = StreamKind::parse_stream_str(stream)?;
        Some((kind, id.map(|id| AssemblyId(id.to_string()))))
    }

    /// [`StreamKind::parse_stream`] with the assembly id as a checked slice of `stream`, for
    /// the paths that run for every event and should not allocate.
    pub fn parse_stream_str(stream: &str) -> Option<(StreamKind, Option<&str>)> {
        if registry_of_stream(stream).is_some() {
            return Some((StreamKind::Registry, None));
        }
        let rest = stream.strip_prefix("assembly/")?;
        let (id, kind) = match rest.split_once('/') {
            None => (rest, StreamKind::Assembly),
            Some((id, "selection")) => (id, StreamKind::Selection),
            Some((id, "deliberation")) => (id, StreamKind::Deliberation),
            Some((id, "recommendation")) => (id, StreamKind::Recommendation),
            Some((id, "response")) => (id, StreamKind::Response),
            Some(_) => return None,
        };
        AssemblyId::is_valid(id).then_some((kind, Some(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        for text in ["1970-01-01", "2000-02-29", "2026-11-27", "9999-12-31"] {
            assert_eq!(Date::parse(text).expect("valid").to_string(), text);
        }
        assert_eq!(Date::parse("1970-01-02").expect("valid").0, 1);
        for bad in ["2026-02-29", "2026-13-01", "2026-1-01", "1969-12-31", "2026/01/01", "2026-04-31"] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stream_names_parse_back() {
        let id = AssemblyId::parse("camden-2026").expect("id");
        for kind in [StreamKind::Assembly, StreamKind::Selection, StreamKind::Response] {
            assert_eq!(StreamKind::parse_stream(&kind.stream_name(&id)), Some((kind, Some(id.clone()))));
        }
        assert_eq!(StreamKind::parse_stream("registry"), Some((StreamKind::Registry, None)));
        assert_eq!(StreamKind::parse_stream("assembly/x/other"), None);
        assert_eq!(StreamKind::parse_stream("assembly/UPPER"), None);
        assert_eq!(StreamKind::parse_stream("council/north"), Some((StreamKind::Registry, None)));
        assert_eq!(StreamKind::parse_stream("council/north.x"), None);
        assert_eq!(registry_stream_for("assembly/north.budget/response"), "council/north");
        assert_eq!(registry_stream_for("assembly/budget/response"), "registry");
        assert_eq!(registry_stream_for("council/north"), "council/north");
    }

    #[test]
    fn a_councils_assemblies_carry_its_id() {
        let id = AssemblyId::parse("north.budget-2027").expect("a council's assembly");
        assert_eq!(id.council(), Some("north"));
        assert_eq!(AssemblyId::parse("budget").expect("the platform's").council(), None);
        for bad in
            ["north.", ".budget", "north.budget.x", "North.budget", "north.-x", "a-very-long-council-id-of-33-bytes.x"]
        {
            assert!(AssemblyId::parse(bad).is_err(), "{bad}");
        }
        assert!(CouncilId::parse("north-wales").is_ok());
        assert!(CouncilId::parse("north.wales").is_err());
    }
}
