-- name: writes_by_weekday
-- kind: question
-- question: On which weekdays is the table written (1 = Monday … 7 = Sunday)?
-- version: 2
-- reads: unique_changes
-- param: from date 1970-01-01 first day (dt) to include
-- param: to date 9999-12-31 last day (dt) to include
-- param: entity text * the entity to ask about (a name from the spec's [[entities]]); * for every item
-- chart: writes
SELECT day_of_week(event_time) AS weekday, count(*) AS writes
FROM unique_changes
WHERE dt BETWEEN {{from}} AND {{to}} AND ({{entity}} = '*' OR entity = {{entity}})
GROUP BY day_of_week(event_time)
ORDER BY weekday
