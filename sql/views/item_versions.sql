-- name: item_versions
-- kind: view
-- question: Every item's row that decides its state now, deleted items included (their REMOVE or INCREMENTAL_REMOVE): its latest stream record later than the chain's end minus its margin, else its latest row of the incremental exports chained to the latest full snapshot, else its row in that snapshot (docs/snapshots.md); an item in none has no row.
-- version: 2
-- reads: live_changes, latest_snapshot
SELECT event_name, sequence_number, event_time, tenant, item_key, pk, sk, event_id,
       stream_view_type, size_bytes, ttl_delete, principal, changed_attributes, entity, dt
FROM (
    SELECT c.*,
           row_number() OVER (
               PARTITION BY c.item_key
               ORDER BY CASE WHEN c.event_name = 'SNAPSHOT' THEN 0
                             WHEN c.event_name IN ('INCREMENTAL', 'INCREMENTAL_REMOVE') THEN 1
                             ELSE 2 END DESC,
                        length(c.sequence_number) DESC, c.sequence_number DESC
           ) AS recency
    FROM live_changes c
    WHERE (c.event_name = 'SNAPSHOT' AND c.event_time = (SELECT snapshot_time FROM latest_snapshot))
       OR (c.event_name IN ('INCREMENTAL', 'INCREMENTAL_REMOVE')
           AND c.event_time >= (SELECT snapshot_time FROM latest_snapshot)
           AND c.event_time < (SELECT chain_end FROM latest_snapshot))
       OR (c.event_name IN ('INSERT', 'MODIFY', 'REMOVE')
           AND ((SELECT stream_wins_after FROM latest_snapshot) IS NULL
                OR c.event_time > (SELECT stream_wins_after FROM latest_snapshot)))
) ranked
WHERE recency = 1
