-- board_number_events() (010) finds the events to number through the partial index board_events_unnumbered_idx
-- (number IS NULL). Numbering an event leaves its entry in that index, pointing at the dead version, until VACUUM,
-- and the planner, whose estimates without ANALYZE are far below what the index holds, read it with a bitmap scan,
-- which visits the heap page of every such entry at every call and never marks one dead: the numbering read every
-- page of every event numbered since the last VACUUM (autovacuum off on the benchmark machine; PGlite has none).
-- Measured (100 events numbered per call, one session): 1,103 blocks per call at 10,000 events kept, 2,397 at
-- 50,000, growing. A plain index scan marks each dead entry once (kill_prior_tuple) and skips it afterwards: 788 and
-- 796 blocks, about 8 per event numbered (its new version and index entries). What a call reads is then what it
-- numbers: a backlog (events committed while no board watched, numbered every 10 s or at the next start) still costs
-- its 8 blocks per event, once. Only this function's statements are planned so; its only good plan walks that index.
ALTER FUNCTION board_number_events() SET enable_bitmapscan = off;
ALTER FUNCTION board_number_events() SET enable_seqscan = off;
