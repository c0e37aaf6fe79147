"""Plans: generators that yield the statements of one operation and shape their results.

Pure: no I/O. A plan yields :class:`~vecs_core._protocol.Execute` and
:class:`~vecs_core._protocol.CopyIn` steps, receives each step's result from a driver, and returns
the operation's result. ``catalog`` (collections, versions), ``records`` (upsert, fetch, find,
count, delete), ``search`` (vector search), ``text`` (full-text, keyword and hybrid search) and
``indexes`` (vector index builds) hold them; ``tests/fake_db.py`` drives them without a database.
"""
