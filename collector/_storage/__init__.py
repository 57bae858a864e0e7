"""The store and its evidence: the catalog and the files it describes, and what proves them intact.

- `_store`           `Store`: a catalog and its files on the embedded backends (SQLite, a folder) or
                     the scale-out ones (PostgreSQL, S3), its lock, its worker thread, store failures;
- `_catalog/`        the catalog: every read and write of its tables, behind typed methods (see its
                     docstring); nothing outside it runs SQL;
- `_files`, `_objects`, `_s3_requests`   safe names and atomic writes; where files go (a folder or a
                     bucket: put-if-absent, adopt, parts, retention); the few S3 requests obstore
                     does not make;
- `_audio`, `_containers`, `_mp3`, `_proof`   sniffing and verifying audio; Ogg Opus, WAV and MP3
                     proved by their own checks; the evidence level those checks give;
- `_checkpoints`, `_verify`, `_migrate`   checkpoints of the evidence chain; `collector verify`;
                     `collector migrate-store`.

May import: `archive_check`, `_base`, `_http`, `_sources`.
"""
