-- name: current_items
-- kind: view
-- question: Every item that exists now, with the row its state comes from: its latest stream record later than the latest snapshot's time minus its margin, else its row in that snapshot (docs/snapshots.md); a REMOVE is a tombstone, and an item in neither is gone.
-- version: 3
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
    WHERE (c.event_name = 'SNAPSHOT' AND c.event_time = (SELECT snapshot_time FROM latest_snapshot))
       OR (c.event_name <> 'SNAPSHOT' AND ((SELECT stream_wins_after FROM latest_snapshot) IS NULL
                                       OR c.event_time > (SELECT stream_wins_after FROM latest_snapshot)))
) ranked
WHERE recency = 1 AND event_name <> 'REMOVE'
