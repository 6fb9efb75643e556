-- name: least_popular_field_mappings
-- kind: question
-- question: Which field mappings (field id × mapping) do the fewest current sync configurations use?
-- version: 1
-- reads: current_field_mappings
-- param: top int 10 how many mappings to show
-- chart: configurations
SELECT field_id, mapping, count(*) AS configurations
FROM current_field_mappings
GROUP BY field_id, mapping
ORDER BY configurations ASC, field_id, mapping
LIMIT {{top}}
