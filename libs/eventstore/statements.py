"""The SQL of an append: one statement per stream, chosen by the expected version and by one event or several.

Each takes the stream's advisory lock before it writes, decides the version the events go on from, and inserts
them (migration 0006 explains why this is one statement and what the unique indexes decide). Parameters:
``$1`` stream, ``$2`` expected (``expected_to_sql``), then one event's id, type, schema version, data and metadata,
or the same five as arrays. Every statement begins with the comment ``/* es.append */``, so an operator finds the
store's appends in ``pg_stat_activity`` and ``pg_stat_statements`` under ``es.append`` (all but the one at a
version the store knows, ``heads.py``, also name ``es.append_version``, their slow path).
"""

from __future__ import annotations

import functools

_COLUMNS = "stream_name, stream_position, event_id, event_type, schema_version, data, metadata"
_RETURNING = "RETURNING e.global_position, e.stream_position"
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))"

# The version the events go on from, per expected version:
#: exact n >= 0, and the store has seen position n committed (``heads.py``): nothing to read, n + 1 is the unique
#: index's to refuse
_AT_KNOWN = "$2::bigint"
#: exact n >= 0: position n is there (a fresh look under the lock if this statement's snapshot misses it)
_AT_EXACT = """CASE WHEN EXISTS (SELECT FROM es.events x
                  WHERE x.stream_name = $1::text AND x.stream_position = $2::bigint)
     THEN $2::bigint ELSE es.append_version($1::text, $2::bigint) END"""
#: no stream: -1 without a read (the position index refuses a stream that has events); the name is checked
_AT_NEW = "CASE WHEN position('-' IN $1::text) > 1 THEN -1::bigint ELSE es.append_version($1::text, $2::bigint) END"
#: any, stream exists: the stream's version, read under the lock
_AT_CURRENT = "es.append_version($1::text, $2::bigint)"
#: a new stream joins the registry in the same statement (any and stream exists: es.append_version does it)
_REGISTER = "INSERT INTO es.streams (stream_name) SELECT $1::text FROM l ON CONFLICT DO NOTHING"

_ONE = "$3::uuid, $4::text, $5::smallint, $6::jsonb, coalesce($7::jsonb, '{}'::jsonb)"
_UNNEST = ("unnest($3::uuid[], $4::text[], $5::smallint[], $6::jsonb[], $7::jsonb[]) "
           "WITH ORDINALITY AS u(id, typ, ver, dat, meta, ord)")
_MANY = "u.id, u.typ, u.ver, u.dat, coalesce(u.meta, '{}'::jsonb)"


#: a NameReleased in the append: es.check_releases (migration 0006) vets it under the lock, then gives the version
_CHECKED_ONE = "es.check_releases($1::text, {}, ARRAY[$4::text], ARRAY[$6::jsonb ->> 'owner'], ARRAY[$3::uuid])"
_CHECKED_MANY = ("es.check_releases($1::text, {}, $4::text[], ARRAY(SELECT d ->> 'owner' FROM unnest($6::jsonb[]) d), "
                 "$3::uuid[])")
_VERSION = {"known": _AT_KNOWN, "exact": _AT_EXACT, "new": _AT_NEW, "current": _AT_CURRENT}


def _one(version: str, register: bool) -> str:
    """One event: no arrays to build, send and unnest. The row is formed after the lock's row, so the
    transaction gets its id (``tx_id``'s default) only once the lock is held."""
    ctes = f"WITH l AS MATERIALIZED ({_LOCK}),\n     reg AS ({_REGISTER})\n" if register else ""
    source = "l" if register else f"({_LOCK}) l"
    return f"""{ctes}INSERT INTO es.events AS e ({_COLUMNS})
SELECT $1::text, ({version}) + 1, {_ONE} FROM {source}
{_RETURNING}"""


def _many(version: str, register: bool) -> str:
    """Several events, in order: the version is decided once (a materialized CTE), before the first row."""
    reg = f",\n     reg AS ({_REGISTER})" if register else ""
    return f"""WITH l AS MATERIALIZED ({_LOCK}),
     v AS MATERIALIZED (SELECT {version} AS v FROM l){reg}
INSERT INTO es.events AS e ({_COLUMNS})
SELECT $1::text, v.v + u.ord, {_MANY} FROM v, {_UNNEST}
 ORDER BY u.ord
{_RETURNING}"""


@functools.cache
def _build(kind: str, several: bool, releases: bool) -> str:
    version = _VERSION[kind]
    if releases:
        version = (_CHECKED_MANY if several else _CHECKED_ONE).format(version)
    return "/* es.append */ " + (_many if several else _one)(version, kind == "new")


def statement(expected: int | None, several: bool, releases: bool = False, known: bool = False) -> str:
    """The append's SQL for an expected version as ``expected_to_sql`` gives it; ``releases``: some event is a
    ``NameReleased``; ``known``: position ``expected`` (>= 0) is known to be stored, so it is not looked for."""
    if expected is not None and expected >= 0:
        kind = "known" if known else "exact"
    else:
        kind = "new" if expected == -1 else "current"
    return _build(kind, several, releases)
