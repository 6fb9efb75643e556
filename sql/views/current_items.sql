-- name: current_items
-- kind: view
-- question: Every item that exists now, with the row its state comes from: its latest stream record later than the latest snapshot's time minus its margin, else its row in that snapshot (docs/snapshots.md); a REMOVE is a tombstone, and an item in neither is gone.
-- version: 2
-- reads: changes, latest_snapshot
SELECT event_name, sequence_number, event_time, tenant, item_key, pk, sk, dt
FROM (
    SELECT c.*,
           row_number() OVER (
               PARTITION BY c.item_key
               ORDER BY CASE WHEN c.event_name = 'SNAPSHOT' THEN 0 ELSE 1 END DESC,
                        length(c.sequence_number) DESC, c.sequence_number DESC
           ) AS recency
    FROM changes c
    CROSS JOIN latest_snapshot s
    WHERE (c.event_name = 'SNAPSHOT' AND c.event_time = s.snapshot_time)
       OR (c.event_name <> 'SNAPSHOT' AND (s.stream_wins_after IS NULL OR c.event_time > s.stream_wins_after))
) ranked
WHERE recency = 1 AND event_name <> 'REMOVE'
