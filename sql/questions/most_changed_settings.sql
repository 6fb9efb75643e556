-- name: most_changed_settings
-- kind: question
-- question: Which settings do MODIFY records change most often (a list counts as one setting)?
-- version: 3
-- reads: history_attributes
-- param: top int 15 how many settings to show
-- param: entity text * the entity to ask about (a name from the spec's [[entities]]); * for every item
-- chart: modifications
SELECT setting, count(*) AS modifications
FROM (
    SELECT DISTINCT item_key, sequence_number, split_part(path, '[', 1) AS setting
    FROM history_attributes
    WHERE event_name = 'MODIFY' AND changed AND ({{entity}} = '*' OR entity = {{entity}})
) changed_settings
GROUP BY setting
ORDER BY modifications DESC, setting
LIMIT {{top}}
