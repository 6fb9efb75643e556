-- name: popular_settings
-- kind: question
-- question: Which settings (attribute path × value, outside lists) do the most current items share? Works for any table.
-- version: 2
-- reads: current_attributes
-- param: top int 20 how many settings to show
-- param: entity text * the entity to ask about (a name from the spec's [[entities]]); * for every item
-- chart: items
SELECT path AS setting, value, count(*) AS items
FROM current_attributes
WHERE strpos(path, '[') = 0 AND type IN ('S', 'N', 'BOOL') AND ({{entity}} = '*' OR entity = {{entity}})
GROUP BY path, value
HAVING count(*) > 1
ORDER BY items DESC, setting, value
LIMIT {{top}}
