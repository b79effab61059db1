-- What listing (src/query.rs, src/filter_sql.rs) needs beyond the keys of `resources` and
-- `members`; the migration that creates those tables includes this file after them.

-- A tenant's users or groups in creation order: the first page, cursor pages (`seq > $after`)
-- and every filter that is not an indexed equality read the rows through this index, never
-- the whole table.
CREATE INDEX IF NOT EXISTS resources_list ON resources (tenant, kind, seq);
