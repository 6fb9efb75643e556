//! What the generated items are made of: the Jira fields a mapping can name, directions,
//! transforms, schedules, labels, error codes, projects and targets, the awkward names and
//! values a lake must survive, the shape of a working week, and the kinds of change a
//! history holds, each with its weight.

/// A Jira field that syncs can map, with its popularity.
pub(crate) struct FieldSpec {
    pub(crate) id: &'static str,
    pub(crate) weight: u32,
    /// The usual target field.
    pub(crate) mapping: &'static str,
    /// Less usual target fields.
    pub(crate) alternates: &'static [&'static str],
    /// Weights of inbound, outbound, bidirectional.
    pub(crate) directions: [u32; 3],
    /// The transform usually used with this field.
    pub(crate) transform: Option<&'static str>,
}

pub(crate) const fn field(
    id: &'static str,
    weight: u32,
    mapping: &'static str,
    alternates: &'static [&'static str],
    directions: [u32; 3],
    transform: Option<&'static str>,
) -> FieldSpec {
    FieldSpec { id, weight, mapping, alternates, directions, transform }
}

pub(crate) const FIELDS: &[FieldSpec] = &[
    field("summary", 100, "title", &["name", "subject"], [15, 10, 75], Some("truncate:255")),
    field("description", 80, "body", &["description", "details"], [20, 15, 65], Some("adf_to_markdown")),
    field("status", 70, "state", &["status", "column"], [25, 20, 55], Some("map_values")),
    field("priority", 55, "priority", &["severity", "urgency"], [30, 15, 55], Some("map_values")),
    field("assignee", 50, "owner", &["assignee", "assignee_email"], [25, 20, 55], Some("user_lookup:email")),
    field("labels", 40, "tags", &["labels", "topics"], [25, 20, 55], Some("lowercase")),
    field("components", 22, "components", &["area", "module"], [40, 15, 45], None),
    field("fixVersions", 18, "milestone", &["release", "version"], [45, 10, 45], None),
    field("duedate", 15, "due_date", &["deadline", "due"], [30, 20, 50], Some("date:iso8601")),
    field("reporter", 14, "author", &["reporter", "created_by"], [70, 5, 25], Some("user_lookup:email")),
    field("issuetype", 12, "type", &["kind", "category"], [60, 10, 30], Some("map_values")),
    field("customfield_10001", 10, "story_points", &["estimate", "points"], [35, 20, 45], None),
    field("resolution", 8, "resolution", &["close_reason"], [60, 10, 30], Some("map_values")),
    field("customfield_10002", 8, "sprint", &["iteration", "cycle"], [50, 10, 40], None),
    field("customfield_10014", 7, "epic_link", &["parent_epic", "epic"], [45, 10, 45], None),
    field("parent", 5, "parent", &["parent_id"], [50, 10, 40], None),
    field("customfield_10020", 5, "team", &["squad", "group"], [50, 15, 35], None),
    field("environment", 3, "environment", &["env"], [40, 20, 40], Some("trim")),
    field("timetracking", 3, "estimate", &["time_spent"], [50, 20, 30], None),
    field("attachment", 3, "attachments", &["files"], [40, 30, 30], None),
];

pub(crate) const DIRECTIONS: [&str; 3] = ["inbound", "outbound", "bidirectional"];

pub(crate) const TRANSFORMS: &[&str] = &[
    "lowercase",
    "trim",
    "markdown_to_adf",
    "adf_to_markdown",
    "map_values",
    "truncate:255",
    "date:iso8601",
    "user_lookup:email",
];

/// Weights of 1..=12 mappings on a new item (an empty list is chosen apart).
pub(crate) const MAPPING_COUNT_WEIGHTS: [u32; 12] = [8, 12, 16, 16, 13, 10, 7, 5, 4, 3, 3, 3];

pub(crate) const INTERVALS: &[(u32, u32)] = &[(5, 15), (15, 35), (30, 15), (60, 25), (1440, 10)];

pub(crate) const TIMEZONES: &[(&str, u32)] = &[
    ("UTC", 30),
    ("Europe/Berlin", 18),
    ("America/New_York", 16),
    ("America/Los_Angeles", 10),
    ("Europe/London", 9),
    ("Asia/Tokyo", 6),
    ("Asia/Kolkata", 5),
    ("Australia/Sydney", 4),
    ("America/Sao_Paulo", 2),
];

pub(crate) const CRONS: &[&str] =
    &["0 */2 * * *", "30 6 * * 1-5", "0 0 * * *", "*/10 9-17 * * MON-FRI", "15 3 * * SUN"];

pub(crate) const LABELS: &[(&str, u32)] = &[
    ("prod", 30),
    ("staging", 14),
    ("dev", 8),
    ("team-alpha", 10),
    ("team-beta", 8),
    ("migration", 6),
    ("pilot", 6),
    ("eu-west-1", 7),
    ("us-east-1", 9),
    ("critical", 8),
    ("nightly", 5),
    ("legacy", 4),
    ("ünïcödé", 2),
    ("数据同步", 2),
    ("needs,review", 2),
    ("with space", 2),
];

pub(crate) const ERROR_CODES: &[(&str, u32)] =
    &[("RATE_LIMITED", 34), ("AUTH_EXPIRED", 24), ("TIMEOUT", 18), ("FIELD_NOT_FOUND", 14), ("PERMISSION_DENIED", 10)];

pub(crate) const PROJECTS: &[&str] =
    &["CORE", "WEB", "MOBILE", "OPS", "DATA", "PAY", "INFRA", "SEC", "SUPPORT", "GROWTH", "PLAT", "QA"];

pub(crate) const TARGETS: &[&str] = &[
    "GitHub Issues",
    "Linear",
    "ServiceNow",
    "Zendesk",
    "Salesforce",
    "Azure DevOps",
    "GitLab",
    "Asana",
    "Notion",
    "HubSpot",
];

/// Names a data lake has to survive.
pub(crate) const AWKWARD_NAMES: &[&str] = &[
    "Ops\tBoard sync",
    "\"Quoted\" project sync",
    "Windows path C:\\jira\\sync",
    "\\N",
    "Null marker \\N inside",
    "line one\nline two",
    "carriage\rreturn",
    "CRLF line\r\nbreak",
    "a,b,c",
    "Smith, John — personal sync",
    "Release 🚀 sync ✅",
    "同步配置 测试",
    "日本語の同期",
    "e\u{301}te\u{301} with combining marks",
    "\u{5e1}\u{5e0}\u{5db}\u{5e8}\u{5d5}\u{5df} Jira",
    "مزامنة جيرا",
    "",
    "  padded with spaces  ",
    "NULL",
    "null",
    "zero\u{200b}width space",
    "tab\tcomma,quote\"backslash\\newline\n",
];

pub(crate) const CHECKSUM_LEN: usize = 16;

/// Relative write rate by hour of day (UTC): busy 08–18.
pub(crate) const HOUR_WEIGHTS: [f64; 24] = [
    0.10, 0.08, 0.07, 0.07, 0.08, 0.12, 0.22, 0.40, 0.80, 1.00, 1.00, 0.95, 0.85, 0.95, 1.00, 1.00, 0.95, 0.85, 0.70,
    0.45, 0.32, 0.25, 0.18, 0.13,
];

/// Relative write rate by weekday, Monday first.
pub(crate) const WEEKDAY_WEIGHTS: [f64; 7] = [1.0, 1.05, 1.0, 0.95, 0.8, 0.22, 0.18];

/// Kinds of change a `MODIFY` makes, with weights.
#[derive(Clone, Copy)]
pub(crate) enum Change {
    SyncRun,
    SyncError,
    Interval,
    Enabled,
    AddMapping,
    RemoveMapping,
    EditMapping,
    Rename,
    Labels,
    Schedule,
    Options,
}

pub(crate) const CHANGES: &[(Change, u32)] = &[
    (Change::SyncRun, 32),
    (Change::SyncError, 11),
    (Change::Interval, 10),
    (Change::Enabled, 7),
    (Change::AddMapping, 9),
    (Change::RemoveMapping, 5),
    (Change::EditMapping, 8),
    (Change::Rename, 4),
    (Change::Labels, 4),
    (Change::Schedule, 3),
    (Change::Options, 3),
];
