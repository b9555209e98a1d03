-- Languages now come from GitHub linguist (go-enry), lower-cased; the five
-- names the old hand-made table spelt differently are renamed in the
-- versions already stored, so that summaries by language do not split.
-- Paths of names that are not UTF-8 are escaped (\xHH) from now on.
UPDATE ingest.file_version
   SET language = CASE language WHEN 'cpp' THEN 'c++' WHEN 'csharp' THEN 'c#' WHEN 'gomod' THEN 'go module'
                                WHEN 'protobuf' THEN 'protocol buffer' WHEN 'terraform' THEN 'hcl' END
 WHERE language IN ('cpp', 'csharp', 'gomod', 'protobuf', 'terraform');
COMMENT ON COLUMN ingest.run.pruned IS 'Directories the walk did not enter ({"path": "reason"}): .git, vendored directories (linguist''s list), directories ignored by a .gitignore or .git/info/exclude, unreadable ones.';
COMMENT ON COLUMN ingest.run.skipped IS 'Files walked but not stored (not a regular file, too large, unreadable, ignored, vendored, empty, binary, generated, no language detected).';
COMMENT ON COLUMN ingest.file.path IS 'Slash-separated path relative to the codebase root. A byte of a name that is not UTF-8 is written \xHH and a backslash \\, so every name has one path.';
COMMENT ON COLUMN ingest.file_version.language IS 'Language as GitHub linguist names it (go-enry), lower-cased: go, python, c++, plpgsql, markdown, vue, ...';
