-- What each manifest references in its repository: config and layer blobs, and the child
-- manifests of an index. Garbage collection and blob unlinking check these rows in the same
-- statement that deletes, so a manifest pushed while GC runs keeps what it names.
CREATE TABLE manifest_references (
    repository TEXT NOT NULL,
    manifest TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (repository, manifest, digest)
);
CREATE INDEX manifest_references_by_digest ON manifest_references (repository, digest);
