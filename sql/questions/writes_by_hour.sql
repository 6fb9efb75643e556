-- name: writes_by_hour
-- kind: question
-- question: At which hours of the day (UTC) is the table written?
-- version: 2
-- reads: unique_changes
-- param: from date 1970-01-01 first day (dt) to include
-- param: to date 9999-12-31 last day (dt) to include
-- param: entity text * the entity to ask about (a name from the spec's [[entities]]); * for every item
-- chart: writes
SELECT EXTRACT(HOUR FROM event_time) AS hour_utc, count(*) AS writes
FROM unique_changes
WHERE dt BETWEEN {{from}} AND {{to}} AND ({{entity}} = '*' OR entity = {{entity}})
GROUP BY EXTRACT(HOUR FROM event_time)
ORDER BY hour_utc
