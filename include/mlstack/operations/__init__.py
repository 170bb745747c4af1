"""Operating the stack: backups and restores.

``target`` (where backups are kept: a folder or an S3 prefix, retention), ``pg`` (PostgreSQL's
dump/restore tools, reached the way the caller says), ``buckets`` (which objects to copy and
copying them), ``manifest`` (sizes and SHA-256 of every file, verification), ``versions``
(the lock and images that made a backup), ``backup`` (making one), ``restore`` (putting one
back onto an empty stack) and ``stack_check`` (does everything the records name exist).
"""
