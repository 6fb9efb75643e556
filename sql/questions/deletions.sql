-- name: deletions
-- kind: question
-- question: How many items are deleted per day by users, and how many expire through TTL?
-- version: 2
-- reads: unique_changes
-- param: from date 1970-01-01 first day (dt) to include
-- param: to date 9999-12-31 last day (dt) to include
-- param: entity text * the entity to ask about (a name from the spec's [[entities]]); * for every item
-- chart: items
SELECT dt AS day,
       CASE WHEN ttl_delete THEN 'ttl expiry' ELSE 'user delete' END AS deleted_by,
       count(*) AS items
FROM unique_changes
WHERE event_name = 'REMOVE' AND dt BETWEEN {{from}} AND {{to}} AND ({{entity}} = '*' OR entity = {{entity}})
GROUP BY dt, CASE WHEN ttl_delete THEN 'ttl expiry' ELSE 'user delete' END
ORDER BY day, deleted_by
