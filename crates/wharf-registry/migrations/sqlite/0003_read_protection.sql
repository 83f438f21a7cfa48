-- A blob link a client was told exists (a HEAD or GET that answered 200) is not collected
-- before this time (seconds since the epoch): the serving registry's grace period from
-- that answer, whatever grace a separately started `wharf registry gc` uses.
ALTER TABLE repository_blobs ADD COLUMN protected_until BIGINT NOT NULL DEFAULT 0;
