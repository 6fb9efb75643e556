-- name: current_attributes
-- kind: view
-- question: Every leaf value of every item as it is now (duplicates from retried batches collapsed).
-- version: 4
-- reads: live_attributes, current_items
SELECT DISTINCT a.tenant, a.item_key, a.pk, a.sk, a.path, a.type, a.value, a.sequence_number, a.entity
FROM live_attributes a
JOIN current_items c
  ON a.item_key = c.item_key AND a.event_name = c.event_name AND a.event_time = c.event_time
 AND coalesce(a.sequence_number, '') = coalesce(c.sequence_number, '')
