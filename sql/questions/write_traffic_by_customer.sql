-- name: write_traffic_by_customer
-- kind: question
-- question: Which customers (tenant) produce the most write traffic, per day?
-- version: 2
-- reads: unique_changes
-- param: from date 1970-01-01 first day (dt) to include
-- param: to date 9999-12-31 last day (dt) to include
-- param: top int 3 customers to show per day
-- param: entity text * the entity to ask about (a name from the spec's [[entities]]); * for every item
-- chart: writes
SELECT day, customer, writes, bytes
FROM (
    SELECT day, customer, writes, bytes,
           row_number() OVER (PARTITION BY day ORDER BY writes DESC, customer) AS rank_in_day
    FROM (
        SELECT dt AS day, coalesce(tenant, '(none)') AS customer, count(*) AS writes, sum(size_bytes) AS bytes
        FROM unique_changes
        WHERE dt BETWEEN {{from}} AND {{to}} AND ({{entity}} = '*' OR entity = {{entity}})
        GROUP BY dt, coalesce(tenant, '(none)')
    ) per_customer
) ranked
WHERE rank_in_day <= {{top}}
ORDER BY day, writes DESC, customer
