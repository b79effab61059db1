-- What listing (src/query.rs, src/filter_sql.rs) needs beyond the keys of `resources` and
-- `members`; the migration that creates those tables includes this file after them.

-- A tenant's users or groups in creation order: the first page, cursor pages (`seq > $after`)
-- and every filter that is not an indexed equality read the rows through this index, never
-- the whole table.
CREATE INDEX IF NOT EXISTS resources_list ON resources (tenant, kind, seq);

-- Rust's `str::to_lowercase`, the fold of every attribute that ignores case, given the tables
-- src/filter_sql.rs makes from Rust's own lowercasing and binds to each statement: `f` every
-- character lowercased to one other character and `t` their lowercase, `final_sigma` a regular
-- expression matching the Σ that lowercase to ς, `changing` one matching any character beyond
-- ASCII that lowercases to something else. Never `lower()` alone, whose answer depends on the
-- collation: `lower(... COLLATE "C")` folds ASCII only, which is all a string needs when
-- nothing else in it changes.
CREATE OR REPLACE FUNCTION scim_fold(x text, f text, t text, final_sigma text, changing text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN octet_length(x) = char_length(x) OR x !~ changing THEN lower(x COLLATE "C")
        ELSE translate(replace(CASE WHEN strpos(x, 'Σ') > 0 THEN regexp_replace(x, final_sigma, 'ς', 'g') ELSE x END,
            'İ', 'i̇'), f, t) END
$$;
