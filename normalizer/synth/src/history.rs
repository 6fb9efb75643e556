//! The generator: a seeded history of inserts, modifies, user deletes and TTL expiries over
//! customers and days, written as Lambda stream records in stream order.

use std::collections::HashSet;

use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord, StreamViewType, UserIdentity};
use chrono::{DateTime, Datelike, SecondsFormat, Timelike};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_dynamo::Item;

use crate::catalogue::{
    Change, AWKWARD_NAMES, CHANGES, CHECKSUM_LEN, CRONS, ERROR_CODES, FIELDS, HOUR_WEIGHTS, INTERVALS, LABELS,
    MAPPING_COUNT_WEIGHTS, PROJECTS, TARGETS, TIMEZONES, TRANSFORMS, WEEKDAY_WEIGHTS,
};
use crate::item::{item_size, LastError, Mapping, RetryOptions, SyncConfig, Transform};
use crate::lambda_json::write_record;
use crate::options::{Checked, FIRST_SEQUENCE_NUMBER, MAX_MODIFIES_PER_ITEM, ZIPF_EXPONENT};

pub(crate) enum Ending {
    Keep,
    UserRemove,
    TtlRemove,
}

/// What is decided about an item before the history is played.
pub(crate) struct Plan {
    pub(crate) customer: u32,
    pub(crate) sync_id: String,
    pub(crate) modifies: u16,
    pub(crate) ending: Ending,
    pub(crate) ttl: Option<i64>,
}

/// An item between its `INSERT` and its `REMOVE`.
pub(crate) struct Live {
    pub(crate) sync: SyncConfig,
    /// Where the record with the item's latest `NewImage` is: (event, record).
    pub(crate) latest: (usize, usize),
    /// DynamoDB's size of that image.
    pub(crate) latest_size: usize,
}

/// One planned write: item `item`'s `step`-th record at time `t`.
#[derive(Clone, Copy)]
pub(crate) struct Op {
    pub(crate) t: i64,
    pub(crate) item: u32,
    pub(crate) step: u16,
}

pub(crate) struct Synth {
    pub(crate) rng: StdRng,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) stream_arn: String,
    pub(crate) region: String,
    pub(crate) sequence: u128,
    /// Cumulative write-rate weight of each hour of the window.
    pub(crate) hour_cumulative: Vec<f64>,
    pub(crate) long_name: String,
    pub(crate) sync_ids: HashSet<String>,
}

pub(crate) fn weighted<T: Copy>(rng: &mut StdRng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total.max(1));
    for &(value, weight) in table {
        if pick < weight {
            return value;
        }
        pick -= weight;
    }
    table[table.len() - 1].0
}

pub(crate) fn weighted_index(rng: &mut StdRng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut pick = rng.random_range(0..total.max(1));
    for (i, &weight) in weights.iter().enumerate() {
        if pick < weight {
            return i;
        }
        pick -= weight;
    }
    weights.len() - 1
}

pub(crate) fn pick<T: Copy>(rng: &mut StdRng, values: &[T]) -> T {
    values[rng.random_range(0..values.len())]
}

pub(crate) fn iso_time(t: i64, millis: u32) -> String {
    DateTime::from_timestamp(t, millis * 1_000_000)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl Synth {
    pub(crate) fn new(seed: u64, checked: Checked) -> Self {
        let Checked { start, end, stream_arn, region } = checked;
        let hours = (end - start) / 3600;
        let mut hour_cumulative = Vec::with_capacity(hours as usize);
        let mut total = 0.0;
        for h in 0..hours {
            let weight = DateTime::from_timestamp(start + h * 3600, 0).map_or(1.0, |d| {
                HOUR_WEIGHTS[d.hour() as usize] * WEEKDAY_WEIGHTS[d.weekday().num_days_from_monday() as usize]
            });
            total += weight;
            hour_cumulative.push(total);
        }
        let unit = "Very long sync name with ümlauts, 漢字, emoji 🚀 and a \"quote\"; ";
        let long_name = unit.repeat(5000 / unit.len() + 1);
        Self {
            rng: StdRng::seed_from_u64(seed),
            start,
            end,
            stream_arn,
            region,
            sequence: FIRST_SEQUENCE_NUMBER,
            hour_cumulative,
            long_name,
            sync_ids: HashSet::new(),
        }
    }

    /// A time in the window, following the daily and weekly shape.
    pub(crate) fn shaped_time(&mut self) -> i64 {
        let total = self.hour_cumulative.last().copied().unwrap_or(0.0);
        let u = self.rng.random::<f64>() * total;
        let hour = self.hour_cumulative.partition_point(|&c| c <= u).min(self.hour_cumulative.len().saturating_sub(1));
        let t = self.start + hour as i64 * 3600 + self.rng.random_range(0..3600);
        t.min(self.end - 1)
    }

    pub(crate) fn new_sync_id(&mut self) -> String {
        loop {
            let id = format!("{:08x}", self.rng.random::<u32>());
            if self.sync_ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// Plans every item and plays the writes in time order.
    pub(crate) fn history(&mut self, items: usize, customers: usize, per_event: usize) -> Vec<Event> {
        // Customers: Zipf over popularity ranks, ranks shuffled onto numbers.
        let mut numbers: Vec<u32> = (1..=customers as u32).collect();
        numbers.shuffle(&mut self.rng);
        let zipf = Zipf::new(customers as f64, ZIPF_EXPONENT).ok();
        let ranks: Vec<usize> = (0..items)
            .map(|_| {
                let rank = match &zipf {
                    Some(z) => z.sample(&mut self.rng) as usize,
                    None => self.rng.random_range(1..=customers),
                };
                rank.clamp(1, customers) - 1
            })
            .collect();
        let mut owned = vec![0u32; customers];
        for &r in &ranks {
            owned[r] += 1;
        }
        let average_owned = items as f64 / customers as f64;

        let mut plans = Vec::with_capacity(items);
        let mut ops = Vec::with_capacity(items * 5);
        let mut times = Vec::new();
        for (item, &rank) in ranks.iter().enumerate() {
            let item = item as u32;
            // Customers with more items also edit each of them more (relative
            // to the average customer, so records per item stay about the same
            // at any scale).
            let mean = 1.4 + 1.2 * (f64::from(owned[rank]) / average_owned).ln_1p();
            let p = 1.0 / (1.0 + mean);
            let u: f64 = self.rng.random();
            let modifies = ((1.0 - u).ln() / (1.0 - p).ln()).floor();
            let modifies = if modifies.is_finite() { (modifies as u64).min(MAX_MODIFIES_PER_ITEM) as u16 } else { 0 };
            let ending = match self.rng.random_range(0..100) {
                0..10 => Ending::UserRemove,
                10..15 => Ending::TtlRemove,
                _ => Ending::Keep,
            };

            times.clear();
            times.extend((0..=modifies).map(|_| self.shaped_time()));
            times.sort_unstable();
            // A third of the edits come in bursts minutes after the previous one.
            for j in 1..times.len() {
                let previous = times[j - 1];
                times[j] = if self.rng.random_bool(0.35) {
                    let u: f64 = self.rng.random();
                    let gap = (-(1.0 - u).ln() * 180.0) as i64 + 1;
                    (previous + gap).min(self.end - 1)
                } else {
                    times[j].max(previous)
                };
            }
            let last = times[times.len() - 1];
            let mut ttl = None;
            let mut removal = None;
            match ending {
                Ending::Keep | Ending::UserRemove => {
                    if self.rng.random_bool(0.2) {
                        ttl = Some(
                            times[0] + self.rng.random_range(30..=180) * 86_400 + self.rng.random_range(0..86_400),
                        );
                    }
                    if matches!(ending, Ending::UserRemove) {
                        let mut t = None;
                        for _ in 0..6 {
                            let candidate = self.shaped_time();
                            if candidate >= last {
                                t = Some(candidate);
                                break;
                            }
                        }
                        let t = t.unwrap_or_else(|| (last + self.rng.random_range(60..7200)).min(self.end - 1));
                        removal = Some(t);
                    }
                }
                Ending::TtlRemove => {
                    let span = self.end - 1 - last;
                    let expiry = last + (self.rng.random::<f64>() * 0.85 * span as f64) as i64;
                    let delay = self.rng.random_range(0..=(self.end - 1 - expiry).min(7200));
                    ttl = Some(expiry);
                    removal = Some(expiry + delay);
                }
            }
            for (step, &t) in times.iter().enumerate() {
                ops.push(Op { t, item, step: step as u16 });
            }
            if let Some(t) = removal {
                ops.push(Op { t, item, step: modifies + 1 });
            }
            let sync_id = self.new_sync_id();
            plans.push(Plan { customer: numbers[rank], sync_id, modifies, ending, ttl });
        }
        ops.sort_unstable_by_key(|op| (op.t, op.item, op.step));

        // Each live item's state: the next MODIFY or REMOVE copies the
        // latest image from its record, so no extra copy is kept.
        let mut states: Vec<Option<Live>> = Vec::with_capacity(items);
        states.resize_with(items, || None);
        let total = ops.len();
        let mut events: Vec<Event> = Vec::with_capacity(total.div_ceil(per_event));
        let mut emitted = 0usize;
        for op in ops {
            let i = op.item as usize;
            let plan = &plans[i];
            // Where the record will go.
            let at = match events.last() {
                Some(e) if e.records.len() < per_event => (events.len() - 1, e.records.len()),
                _ => (events.len(), 0),
            };
            let record = if op.step == 0 {
                let sync = self.new_sync(plan.customer, &plan.sync_id, op.t, plan.ttl);
                let new = sync.image();
                let new_size = item_size(&new);
                let record =
                    self.record(Draft::new("INSERT", op.t, sync.keys(), (new, new_size), (Item::default(), 0), false));
                states[i] = Some(Live { sync, latest: at, latest_size: new_size });
                record
            } else if op.step <= plan.modifies {
                let Some(live) = states[i].as_mut() else {
                    continue;
                };
                self.modify(&mut live.sync, op.t);
                let new = live.sync.image();
                let new_size = item_size(&new);
                let (e, r) = live.latest;
                let old = events[e].records[r].change.new_image.clone();
                let old = (old, live.latest_size);
                live.latest = at;
                live.latest_size = new_size;
                let keys = live.sync.keys();
                self.record(Draft::new("MODIFY", op.t, keys, (new, new_size), old, false))
            } else {
                let Some(live) = states[i].take() else {
                    continue;
                };
                let (e, r) = live.latest;
                let old = events[e].records[r].change.new_image.clone();
                let by_ttl = matches!(plan.ending, Ending::TtlRemove);
                self.record(Draft::new(
                    "REMOVE",
                    op.t,
                    live.sync.keys(),
                    (Item::default(), 0),
                    (old, live.latest_size),
                    by_ttl,
                ))
            };
            if at.1 == 0 {
                let mut event = Event::default();
                event.records = Vec::with_capacity(per_event.min(total - emitted));
                events.push(event);
            }
            if let Some(event) = events.last_mut() {
                event.records.push(record);
            }
            emitted += 1;
        }
        events
    }

    /// Builds one stream record, drawing its event ID and sequence number.
    pub(crate) fn record(&mut self, draft: Draft) -> EventRecord {
        let event_id = format!("{:032x}", self.rng.random::<u128>());
        self.sequence += self.rng.random_range(1..=1000);
        self.assemble(event_id, self.sequence, draft)
    }

    /// Builds one stream record with the given event ID and sequence number.
    pub(crate) fn assemble(&self, event_id: String, sequence: u128, draft: Draft) -> EventRecord {
        let mut change = StreamRecord::default();
        change.approximate_creation_date_time = DateTime::from_timestamp(draft.t, 0).unwrap_or_default();
        change.size_bytes = i64::try_from(draft.size_bytes).unwrap_or(i64::MAX);
        change.keys = draft.keys;
        change.new_image = draft.new_image;
        change.old_image = draft.old_image;
        change.sequence_number = Some(sequence.to_string());
        change.stream_view_type = Some(StreamViewType::NewAndOldImages);

        let mut record = EventRecord::default();
        record.aws_region = self.region.clone();
        record.change = change;
        record.event_id = event_id;
        record.event_name = draft.event_name.to_owned();
        record.event_source = Some("aws:dynamodb".to_owned());
        record.event_version = Some("1.1".to_owned());
        record.event_source_arn = Some(self.stream_arn.clone());
        if draft.by_ttl {
            let mut identity = UserIdentity::default();
            identity.type_ = "Service".to_owned();
            identity.principal_id = "dynamodb.amazonaws.com".to_owned();
            record.user_identity = Some(identity);
        }
        record
    }

    pub(crate) fn random_name(&mut self) -> String {
        let roll = self.rng.random_range(0..1000);
        if roll < 15 {
            return self.long_name.clone();
        }
        if roll < 260 {
            return pick(&mut self.rng, AWKWARD_NAMES).to_owned();
        }
        let project = pick(&mut self.rng, PROJECTS);
        let target = pick(&mut self.rng, TARGETS);
        match self.rng.random_range(0..5) {
            0 => format!("{project} → {target}"),
            1 => format!("{project} to {target}"),
            2 => format!("{project} / {target} sync"),
            3 => format!("{target} mirror of {project}"),
            _ => format!("{project} bugs to {target}"),
        }
    }

    pub(crate) fn random_mapping(&mut self, field: usize) -> Mapping {
        let spec = &FIELDS[field];
        let mapping = if self.rng.random_bool(0.85) { spec.mapping } else { pick(&mut self.rng, spec.alternates) };
        let direction = weighted_index(&mut self.rng, &spec.directions);
        let transform = self.random_transform(field);
        Mapping { field, mapping, direction, transform }
    }

    pub(crate) fn random_transform(&mut self, field: usize) -> Transform {
        match self.rng.random_range(0..100) {
            0..30 => match FIELDS[field].transform {
                Some(t) if self.rng.random_bool(0.8) => Transform::Value(t),
                _ => Transform::Value(pick(&mut self.rng, TRANSFORMS)),
            },
            30..36 => Transform::Null,
            _ => Transform::Absent,
        }
    }

    /// A popularity-weighted field not mapped yet, if any is left.
    pub(crate) fn unmapped_field(&mut self, mappings: &[Mapping]) -> Option<usize> {
        let weights: Vec<u32> = FIELDS
            .iter()
            .enumerate()
            .map(|(i, f)| if mappings.iter().any(|m| m.field == i) { 0 } else { f.weight })
            .collect();
        if weights.iter().all(|&w| w == 0) {
            return None;
        }
        Some(weighted_index(&mut self.rng, &weights))
    }

    pub(crate) fn random_labels(&mut self) -> Vec<&'static str> {
        let count = self.rng.random_range(1..=4);
        let mut labels: Vec<&'static str> = Vec::with_capacity(count);
        while labels.len() < count {
            let label = weighted(&mut self.rng, LABELS);
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        labels
    }

    pub(crate) fn random_digits(&mut self, count: usize, out: &mut String) {
        for _ in 0..count {
            out.push(char::from(b'0' + self.rng.random_range(0..10u8)));
        }
    }

    /// A number in DynamoDB's canonical form.
    pub(crate) fn random_number(&mut self) -> String {
        const LITERALS: &[&str] = &[
            "12345678901234567890123456789012345678",
            "-0.000000000000000000000000000000000001",
            "99999999999999999999999999999999999999",
            "-99999999999999999999999999999999999999",
            "0.00000000000000000000000000000000000001",
            "0.1",
        ];
        let negative = self.rng.random_bool(0.3);
        let sign = if negative { "-" } else { "" };
        match self.rng.random_range(0..100) {
            0..40 => self.rng.random_range(-100..=1000).to_string(),
            40..70 => {
                let mut v = format!("{sign}{}.", self.rng.random_range(0..50));
                let frac = self.rng.random_range(0..6);
                self.random_digits(frac, &mut v);
                v.push(char::from(b'1' + self.rng.random_range(0..9u8)));
                v
            }
            70..82 => {
                let mut v = format!("{sign}{}", self.rng.random_range(1..10));
                self.random_digits(37, &mut v);
                v
            }
            82..92 => {
                let mut v = format!("{sign}{}.", self.rng.random_range(1..10));
                self.random_digits(36, &mut v);
                v.push(char::from(b'1' + self.rng.random_range(0..9u8)));
                v
            }
            _ => pick(&mut self.rng, LITERALS).to_owned(),
        }
    }

    pub(crate) fn random_weights(&mut self) -> Vec<String> {
        let count = self.rng.random_range(1..=4);
        let mut weights: Vec<String> = Vec::with_capacity(count);
        while weights.len() < count {
            let w = self.random_number();
            if !weights.contains(&w) {
                weights.push(w);
            }
        }
        weights
    }

    pub(crate) fn random_checksum(&mut self) -> [u8; CHECKSUM_LEN] {
        let mut checksum = [0u8; CHECKSUM_LEN];
        self.rng.fill(&mut checksum[..]);
        if self.rng.random_bool(0.6) {
            for _ in 0..self.rng.random_range(1..=3) {
                checksum[self.rng.random_range(0..CHECKSUM_LEN)] = 0;
            }
        }
        checksum
    }

    pub(crate) fn random_attachments(&mut self) -> Vec<Vec<u8>> {
        let count = self.rng.random_range(1..=3);
        let mut blobs: Vec<Vec<u8>> = Vec::with_capacity(count);
        while blobs.len() < count {
            let mut blob = vec![0u8; self.rng.random_range(4..=48)];
            self.rng.fill(&mut blob[..]);
            if !blobs.contains(&blob) {
                blobs.push(blob);
            }
        }
        blobs
    }

    pub(crate) fn random_options(&mut self) -> RetryOptions {
        let base_seconds = pick(&mut self.rng, &[1, 2, 5, 10]);
        RetryOptions {
            max_attempts: self.rng.random_range(1..=10),
            strategy: pick(&mut self.rng, &["exponential", "exponential", "linear", "fixed"]),
            base_seconds,
            max_seconds: base_seconds * pick(&mut self.rng, &[30, 60, 120, 300]),
            webhooks: self.rng.random_bool(0.4),
        }
    }

    pub(crate) fn random_error(&mut self, sync: &SyncConfig, t: i64) -> LastError {
        let code = weighted(&mut self.rng, ERROR_CODES);
        let at_t = (t - self.rng.random_range(0..120)).max(self.start);
        let at = iso_time(at_t, self.rng.random_range(0..1000));
        let project = pick(&mut self.rng, PROJECTS);
        let long_form = self.rng.random_bool(0.5);
        let message = match code {
            "RATE_LIMITED" => {
                let wait = self.rng.random_range(5..=120);
                if long_form {
                    format!("429 Too Many Requests\nRetry-After: {wait}")
                } else {
                    format!("Jira API rate limit exceeded (HTTP 429); retry after {wait}s")
                }
            }
            "AUTH_EXPIRED" => {
                if long_form {
                    format!("401 Unauthorized\nThe access token expired at {at}")
                } else {
                    "OAuth token expired; reconnect the Jira site".to_owned()
                }
            }
            "TIMEOUT" => {
                format!("GET /rest/api/3/search timed out after {} ms", self.rng.random_range(10_000..=60_000))
            }
            "FIELD_NOT_FOUND" => {
                let field = if sync.mappings.is_empty() {
                    FIELDS[self.rng.random_range(0..FIELDS.len())].id
                } else {
                    FIELDS[sync.mappings[self.rng.random_range(0..sync.mappings.len())].field].id
                };
                format!("Field '{field}' does not exist or is not on the edit screen of project {project}")
            }
            _ => format!(
                "User lacks the 'Browse projects' permission in {project}\nAsk a Jira administrator to grant access"
            ),
        };
        LastError { code, message, at }
    }

    pub(crate) fn new_sync(&mut self, customer: u32, sync_id: &str, t: i64, ttl: Option<i64>) -> SyncConfig {
        let name = self.random_name();
        let mut mappings = Vec::new();
        if !self.rng.random_bool(0.04) {
            let count = weighted_index(&mut self.rng, &MAPPING_COUNT_WEIGHTS) + 1;
            for _ in 0..count {
                if let Some(field) = self.unmapped_field(&mappings) {
                    let mapping = self.random_mapping(field);
                    mappings.push(mapping);
                }
            }
        }
        let synced = match self.rng.random_range(0..100) {
            0..2 => {
                let low = 10u128.pow(37);
                self.rng.random_range(low..10 * low - 1_000_000)
            }
            2..60 => 0,
            _ => self.rng.random_range(1..5000),
        };
        let labels = self.random_labels();
        let weights = self.random_weights();
        let checksum = self.random_checksum();
        let attachments = if self.rng.random_bool(0.25) { self.random_attachments() } else { Vec::new() };
        let options = if self.rng.random_bool(0.12) { Some(self.random_options()) } else { None };
        SyncConfig {
            pk: format!("CLIENT#c{customer:04}"),
            sk: format!("SYNC#{sync_id}"),
            client_key: format!("client-{customer}"),
            sync_id: sync_id.to_owned(),
            name,
            enabled: self.rng.random_bool(0.92),
            interval: weighted(&mut self.rng, INTERVALS),
            timezone: weighted(&mut self.rng, TIMEZONES),
            cron: if self.rng.random_bool(0.15) { Some(pick(&mut self.rng, CRONS)) } else { None },
            mappings,
            labels,
            weights,
            checksum,
            attachments,
            synced,
            failures: 0,
            last_error: None,
            version: 1,
            updated_at: iso_time(t, self.rng.random_range(0..1000)),
            ttl,
            notes_null: self.rng.random_bool(0.08),
            options,
        }
    }

    /// Applies one realistic change to `sync` at time `t`.
    pub(crate) fn modify(&mut self, sync: &mut SyncConfig, t: i64) {
        let change = loop {
            let change = weighted(&mut self.rng, CHANGES);
            let applicable = match change {
                Change::AddMapping => sync.mappings.len() < 12,
                Change::RemoveMapping | Change::EditMapping => !sync.mappings.is_empty(),
                _ => true,
            };
            if applicable {
                break change;
            }
        };
        let mut config_changed = true;
        match change {
            Change::SyncRun => {
                config_changed = false;
                let per_run = if sync.interval <= 15 { 60 } else { 400 };
                sync.synced = sync.synced.saturating_add(self.rng.random_range(1..=per_run));
                if self.rng.random_bool(0.1) {
                    sync.failures += self.rng.random_range(1..=3);
                }
                if sync.last_error.is_some() && self.rng.random_bool(0.45) {
                    sync.last_error = None;
                }
            }
            Change::SyncError => {
                config_changed = false;
                sync.failures += self.rng.random_range(1..=3);
                if self.rng.random_bool(0.3) {
                    sync.synced = sync.synced.saturating_add(self.rng.random_range(1..=20));
                }
                sync.last_error = Some(self.random_error(sync, t));
            }
            Change::Interval => {
                let old = sync.interval;
                while sync.interval == old {
                    sync.interval = weighted(&mut self.rng, INTERVALS);
                }
            }
            Change::Enabled => {
                sync.enabled = !sync.enabled;
                if sync.enabled && self.rng.random_bool(0.5) {
                    sync.last_error = None;
                }
            }
            Change::AddMapping => {
                if let Some(field) = self.unmapped_field(&sync.mappings) {
                    let mapping = self.random_mapping(field);
                    sync.mappings.push(mapping);
                }
            }
            Change::RemoveMapping => {
                let i = self.rng.random_range(0..sync.mappings.len());
                sync.mappings.remove(i);
            }
            Change::EditMapping => {
                let i = self.rng.random_range(0..sync.mappings.len());
                let field = sync.mappings[i].field;
                match self.rng.random_range(0..10) {
                    0..5 => {
                        let old = sync.mappings[i].direction;
                        let spec = &FIELDS[field];
                        while sync.mappings[i].direction == old {
                            sync.mappings[i].direction = weighted_index(&mut self.rng, &spec.directions);
                        }
                    }
                    5..8 => {
                        let old = sync.mappings[i].transform;
                        let mut tries = 0;
                        while sync.mappings[i].transform == old && tries < 8 {
                            sync.mappings[i].transform = self.random_transform(field);
                            tries += 1;
                        }
                    }
                    _ => {
                        let spec = &FIELDS[field];
                        sync.mappings[i].mapping = if sync.mappings[i].mapping == spec.mapping {
                            pick(&mut self.rng, spec.alternates)
                        } else {
                            spec.mapping
                        };
                    }
                }
            }
            Change::Rename => sync.name = self.random_name(),
            Change::Labels => {
                let roll = self.rng.random_range(0..3);
                if roll == 0 && sync.labels.len() < 4 {
                    let label = weighted(&mut self.rng, LABELS);
                    if !sync.labels.contains(&label) {
                        sync.labels.push(label);
                    }
                } else if roll == 1 && sync.labels.len() > 1 {
                    let i = self.rng.random_range(0..sync.labels.len());
                    sync.labels.remove(i);
                } else {
                    sync.labels = self.random_labels();
                }
            }
            Change::Schedule => {
                if self.rng.random_bool(0.5) {
                    sync.timezone = weighted(&mut self.rng, TIMEZONES);
                } else {
                    sync.cron = match sync.cron {
                        Some(_) => None,
                        None => Some(pick(&mut self.rng, CRONS)),
                    };
                }
            }
            Change::Options => match &mut sync.options {
                None => sync.options = Some(self.random_options()),
                Some(o) => match self.rng.random_range(0..4) {
                    0 | 1 => {
                        o.max_seconds = o.base_seconds * pick(&mut self.rng, &[15, 60, 600, 3600]);
                    }
                    2 => sync.options = None,
                    _ => sync.notes_null = !sync.notes_null,
                },
            },
        }
        if config_changed {
            sync.checksum = self.random_checksum();
        }
        sync.version += 1;
        sync.updated_at = iso_time(t, self.rng.random_range(0..1000));
    }

    /// The JSON of one more `INSERT` at time `t` whose `name` is padded so
    /// the JSON is `gap` bytes long, or as close below as can be found; `None`
    /// if even an unpadded one is longer than `gap`.
    pub(crate) fn padding_record(&mut self, t: i64, gap: usize) -> Option<String> {
        const FILLER: &str = "Benchmark filler to reach the payload size. ";
        let sync_id = self.new_sync_id();
        let mut sync = self.new_sync(1, &sync_id, t, None);
        let event_id = format!("{:032x}", self.rng.random::<u128>());
        self.sequence += self.rng.random_range(1..=1000);
        let mut best: Option<String> = None;
        let mut pad = 0usize;
        let mut json = String::new();
        for _ in 0..8 {
            sync.name = FILLER.chars().cycle().take(pad).collect();
            let image = sync.image();
            let size = item_size(&image);
            let draft = Draft::new("INSERT", t, sync.keys(), (image, size), (Item::default(), 0), false);
            let record = self.assemble(event_id.clone(), self.sequence, draft);
            json.clear();
            write_record(&mut json, &record);
            if json.len() <= gap && best.as_ref().is_none_or(|b| b.len() < json.len()) {
                best = Some(json.clone());
            }
            if json.len() == gap {
                break;
            }
            if json.len() < gap {
                pad += gap - json.len();
            } else if pad == 0 {
                break;
            } else {
                pad = pad.saturating_sub(json.len() - gap);
            }
        }
        best
    }
}

/// A stream record before it gets its event ID and sequence number.
pub(crate) struct Draft {
    pub(crate) event_name: &'static str,
    pub(crate) t: i64,
    pub(crate) keys: Item,
    pub(crate) new_image: Item,
    pub(crate) old_image: Item,
    /// DynamoDB's size of keys and images: the record's `SizeBytes`.
    pub(crate) size_bytes: usize,
    /// Deleted by TTL expiry rather than by a user.
    pub(crate) by_ttl: bool,
}

impl Draft {
    /// A draft of `event_name` at `t`; images come with their item sizes.
    pub(crate) fn new(
        event_name: &'static str,
        t: i64,
        keys: Item,
        new_image: (Item, usize),
        old_image: (Item, usize),
        by_ttl: bool,
    ) -> Self {
        Self {
            event_name,
            t,
            size_bytes: item_size(&keys) + new_image.1 + old_image.1,
            keys,
            new_image: new_image.0,
            old_image: old_image.0,
            by_ttl,
        }
    }
}
