-- name: unique_changes
-- kind: view
-- question: Every stream record exactly once (rows that a retried batch wrote twice are collapsed); rows of snapshots and incremental exports are not writes and are left out.
-- version: 7
-- reads: history_changes
SELECT c.event_name, c.sequence_number, min(c.event_time) AS event_time, min(c.tenant) AS tenant, c.item_key,
       min(c.pk) AS pk, min(c.sk) AS sk, min(c.event_id) AS event_id, min(c.stream_view_type) AS stream_view_type,
       min(c.size_bytes) AS size_bytes, min(c.ttl_delete) AS ttl_delete, min(c.principal) AS principal,
       min(c.changed_attributes) AS changed_attributes, min(c.entity) AS entity, c.dt
FROM history_changes c
WHERE c.event_name IN ('INSERT', 'MODIFY', 'REMOVE')
GROUP BY c.dt, c.item_key, c.sequence_number, c.event_name
