-- As migrations/sqlite/0003_read_protection.sql.
ALTER TABLE repository_blobs ADD COLUMN protected_until BIGINT NOT NULL DEFAULT 0;
