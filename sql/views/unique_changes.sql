-- name: unique_changes
-- kind: view
-- question: Every stream record exactly once (rows that a retried batch wrote twice are collapsed); rows of snapshots and incremental exports are not writes and are left out.
-- version: 6
-- reads: history_changes
SELECT event_name, sequence_number, event_time, tenant, item_key, pk, sk, event_id,
       stream_view_type, size_bytes, ttl_delete, principal, changed_attributes, entity, dt
FROM (
    SELECT c.*,
           row_number() OVER (PARTITION BY c.dt, c.item_key, c.sequence_number ORDER BY c.dt) AS copy_number
    FROM history_changes c
    WHERE c.event_name IN ('INSERT', 'MODIFY', 'REMOVE')
) numbered
WHERE copy_number = 1
