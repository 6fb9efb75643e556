-- name: current_items
-- kind: view
-- question: Every item that exists now, with the row its state comes from (item_versions without the deleted items: a REMOVE or INCREMENTAL_REMOVE is a tombstone, and an item with no row is gone).
-- version: 6
-- reads: item_versions
SELECT event_name, sequence_number, event_time, tenant, item_key, pk, sk, entity, dt
FROM item_versions
WHERE event_name NOT IN ('REMOVE', 'INCREMENTAL_REMOVE')
