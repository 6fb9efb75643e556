-- name: latest_snapshot
-- kind: view
-- question: The latest whole snapshot (every data file has its snapshots row) and the time after which stream records win over it; always one row, NULLs when the lake has no snapshot (docs/snapshots.md).
-- version: 1
-- reads: snapshots
WITH whole AS (
    SELECT snapshot_id, snapshot_time, stream_wins_after
    FROM snapshots
    GROUP BY snapshot_id, snapshot_time, stream_wins_after
    HAVING count(DISTINCT data_file) = max(data_files)
)
SELECT max(snapshot_time) AS snapshot_time, max(stream_wins_after) AS stream_wins_after
FROM whole
WHERE snapshot_time = (SELECT max(snapshot_time) FROM whole)
