-- name: current_items
-- kind: view
-- question: The latest change of every item that still exists (highest sequence number per item key; a REMOVE is a tombstone).
-- version: 1
-- reads: changes
SELECT event_name, sequence_number, event_time, tenant, item_key, pk, sk, dt
FROM (
    SELECT c.*,
           row_number() OVER (
               PARTITION BY c.item_key
               ORDER BY length(c.sequence_number) DESC, c.sequence_number DESC
           ) AS recency
    FROM changes c
) ranked
WHERE recency = 1 AND event_name <> 'REMOVE'
