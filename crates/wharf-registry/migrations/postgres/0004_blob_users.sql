-- The web pages ask which images use a layer (in every repository): by blob digest alone.
CREATE INDEX manifest_references_by_blob ON manifest_references (digest);
