-- name: current_attributes
-- kind: view
-- question: Every leaf value of every item as it is now: one row per item, path and value (copies from retried batches or a compaction's overlap collapsed).
-- version: 5
-- reads: live_attributes, current_items
SELECT min(a.tenant) AS tenant, a.item_key, min(a.pk) AS pk, min(a.sk) AS sk, a.path, a.type, a.value,
       min(a.sequence_number) AS sequence_number, a.entity
FROM live_attributes a
JOIN current_items c
  ON a.item_key = c.item_key AND a.event_name = c.event_name AND a.event_time = c.event_time
 AND coalesce(a.sequence_number, '') = coalesce(c.sequence_number, '')
GROUP BY a.item_key, a.path, a.type, a.value, a.entity
