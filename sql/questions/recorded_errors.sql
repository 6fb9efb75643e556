-- name: recorded_errors
-- kind: question
-- question: Which errors do current items record, in how many items and for how many customers?
-- version: 1
-- reads: current_attributes
-- param: error_path text lastError.code attribute path that holds the error code
-- chart: items
-- metric: RecordedErrors value=items dimensions=error_code schedule=rate(1 hour)
SELECT value AS error_code, count(*) AS items, count(DISTINCT tenant) AS customers
FROM current_attributes
WHERE path = {{error_path}}
GROUP BY value
ORDER BY items DESC, error_code
