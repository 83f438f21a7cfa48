-- What each manifest references in its repository (as migrations/sqlite/0002_references.sql).
CREATE TABLE manifest_references (
    repository TEXT COLLATE "C" NOT NULL,
    manifest TEXT COLLATE "C" NOT NULL,
    digest TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repository, manifest, digest)
);
CREATE INDEX manifest_references_by_digest ON manifest_references (repository, digest);
