-- name: latest_snapshot
-- kind: view
-- question: The latest whole full snapshot (every data file has its snapshots row), the end of the chain of whole incremental exports after it (its time when none chains), and the time after which stream records win; always one row, NULLs when the lake has no full snapshot (docs/snapshots.md).
-- version: 2
-- reads: snapshots
WITH whole AS (
    SELECT snapshot_id, snapshot_time, stream_wins_after, window_start
    FROM snapshots
    GROUP BY snapshot_id, snapshot_time, stream_wins_after, window_start
    HAVING count(DISTINCT data_file) = max(data_files)
),
full_snapshot AS (
    SELECT max(snapshot_time) AS snapshot_time FROM whole WHERE window_start IS NULL
),
-- The incremental windows [window_start, window_end) that end after the full snapshot, each
-- with the furthest end of those that start before it.
windows AS (
    SELECT window_start, snapshot_time AS window_end,
           max(snapshot_time) OVER (
               ORDER BY window_start, snapshot_time ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS reached_before
    FROM whole
    WHERE window_start IS NOT NULL AND snapshot_time > (SELECT snapshot_time FROM full_snapshot)
),
-- The first window that starts after everything before it ends: the chain stops short of it.
first_gap AS (
    SELECT min(window_start) AS window_start
    FROM windows
    WHERE window_start > coalesce(reached_before, (SELECT snapshot_time FROM full_snapshot))
),
chain AS (
    SELECT coalesce(max(window_end), (SELECT snapshot_time FROM full_snapshot)) AS chain_end
    FROM windows
    WHERE (SELECT window_start FROM first_gap) IS NULL OR window_start < (SELECT window_start FROM first_gap)
)
-- f and c are one row each and whole is small: cross joins, no join to plan beside the history's.
SELECT max(f.snapshot_time) AS snapshot_time,
       max(c.chain_end) AS chain_end,
       max(CASE WHEN w.snapshot_time = c.chain_end THEN w.stream_wins_after END) AS stream_wins_after
FROM full_snapshot f
CROSS JOIN chain c
CROSS JOIN whole w
