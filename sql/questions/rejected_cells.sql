-- name: rejected_cells
-- kind: question
-- question: Which declared columns get values that do not fit their type (written as NULL), in how many cells and items, and on which days?
-- version: 1
-- reads: _rejects
-- chart: cells
SELECT table_name, column_name, path, count(*) AS cells, count(DISTINCT item_key) AS items,
       min(dt) AS first_day, max(dt) AS last_day
FROM (
    SELECT DISTINCT table_name, column_name, path, element_index, item_key, sequence_number, dt
    FROM _rejects
) cells
GROUP BY table_name, column_name, path
ORDER BY cells DESC, table_name, column_name, path
