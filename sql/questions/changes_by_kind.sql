-- name: changes_by_kind
-- kind: question
-- question: How many inserts, modifies and removes does the table see per day?
-- version: 2
-- reads: unique_changes
-- param: from date 1970-01-01 first day (dt) to include
-- param: to date 9999-12-31 last day (dt) to include
-- param: entity text * the entity to ask about (a name from the spec's [[entities]]); * for every item
-- chart: records
SELECT dt AS day, event_name, count(*) AS records
FROM unique_changes
WHERE dt BETWEEN {{from}} AND {{to}} AND ({{entity}} = '*' OR entity = {{entity}})
GROUP BY dt, event_name
ORDER BY day, event_name
