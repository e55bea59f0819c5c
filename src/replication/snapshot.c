/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  Table snapshots: the catch-up of a node whose raft log was compacted
 *	  (by the leader) past entries it had not applied to its tables.  Run by
 *	  the apply worker (apply.c) when its next entry is no longer in the log
 *	  and its ledger lacks TXN entries the log's snapshot covers.
 *
 *	  Over libpq to the current leader (its conninfo from the address book,
 *	  dbname = phantom.database): read the watermark W = the leader's
 *	  tables_applied BEFORE taking a snapshot there (every TXN entry <= W is
 *	  then visible in it), open a REPEATABLE READ transaction, lock the
 *	  leader's phantom tables in ACCESS SHARE mode (no DDL during the copy),
 *	  read their definitions (phantom_internal.table_ddl), then in ONE local
 *	  transaction: drop the local phantom tables the leader does not have or
 *	  whose definition differs, create the missing ones, truncate the rest,
 *	  stream every table (COPY TO STDOUT on the leader, COPY FROM through a
 *	  data callback here, so the table AM's bulk insert is used), replace
 *	  the ledger by the leader's, advance owned sequences; commit.  The
 *	  apply worker then continues from W + 1 (entries already in the copy
 *	  are skipped by the ledger).  A crash or an error rolls everything
 *	  back; the apply worker starts over with a fresh watermark.
 *
 *	  Every wait on the leader's socket is interruptible and bounded
 *	  (SNAP_IO_TIMEOUT_MS without a byte is an ERROR).
 *
 * src/replication/snapshot.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq-fe.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "phantom/phantom.h"
#include "phantom/replication/replication.h"

#define SNAP_IO_TIMEOUT_MS	60000

/*
 * The phantom tables of this database with their definitions, one row per
 * statement, grouped by table in a stable order (run on the leader and
 * locally; search_path is pg_catalog on both sides).
 */
#define LIST_SQL \
	"SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), " \
	"       (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ',' ORDER BY a.attnum) " \
	"          FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 " \
	"           AND NOT a.attisdropped AND a.attgenerated = ''), " \
	"       d.is_fk, d.stmt " \
	"  FROM pg_catalog.pg_class c " \
	"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"  JOIN pg_catalog.pg_am am ON am.oid = c.relam " \
	" CROSS JOIN LATERAL phantom_internal.table_ddl(c.oid) d " \
	" WHERE am.amname = 'phantom' AND c.relkind = 'r' AND c.relpersistence = 'p' " \
	"   AND NOT c.relispartition " \
	" ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\", d.ord"

#define NAMES_SQL \
	"SELECT (SELECT tables_applied FROM phantom.raft_status()), " \
	"       (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(n.nspname) || '.' || " \
	"                                     pg_catalog.quote_ident(c.relname), ', ' " \
	"                                     ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\") " \
	"          FROM pg_catalog.pg_class c " \
	"          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"          JOIN pg_catalog.pg_am am ON am.oid = c.relam " \
	"         WHERE am.amname = 'phantom' AND c.relkind = 'r' AND c.relpersistence = 'p' " \
	"           AND NOT c.relispartition)"

#define SEQ_SQL \
	"SELECT s.oid::pg_catalog.regclass::text, " \
	"       CASE WHEN s.relkind = 'S' THEN pg_catalog.pg_sequence_last_value(s.oid) END " \
	"  FROM pg_catalog.pg_depend d " \
	"  JOIN pg_catalog.pg_class s ON s.oid = d.objid " \
	"  JOIN pg_catalog.pg_class c ON c.oid = d.refobjid " \
	"  JOIN pg_catalog.pg_am am ON am.oid = c.relam AND am.amname = 'phantom' " \
	" WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass " \
	"   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass " \
	"   AND d.deptype IN ('a', 'i') AND s.relkind = 'S' AND c.relkind = 'r' " \
	"   AND c.relpersistence = 'p'"

#define SESSION_SQL \
	"SET search_path = pg_catalog; SET DateStyle = ISO; SET IntervalStyle = postgres; " \
	"SET extra_float_digits = 3; SET bytea_output = hex; SET lock_timeout = '10s'; " \
	"SET statement_timeout = 0"

/* One phantom table: its name, copied columns and definition. */
typedef struct SnapTable
{
	char	   *qname;			/* schema.name, quoted */
	char	   *cols;			/* copied columns, quoted, ',' separated, or
								 * NULL */
	List	   *ddl;			/* statements without foreign keys (char *) */
	List	   *fks;			/* foreign keys */
	StringInfoData def;			/* every statement: the definition compared */
	bool		keep;			/* local copy kept (truncated, not rebuilt) */
} SnapTable;

static PGconn *sn_conn = NULL;

/* COPY data callback state: the current row from libpq */
static char *cb_buf = NULL;
static int	cb_len = 0;
static int	cb_off = 0;
static bool cb_eof = false;

/* set_progress publishes the state shown by phantom.raft_status(). */
static void
set_progress(const char *fmt,...)
pg_attribute_printf(1, 2);

static void
set_progress(const char *fmt,...)
{
	char		buf[sizeof(ph_repl_shared->table_snapshot)];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	LWLockAcquire(ph_repl_shared->lock, LW_EXCLUSIVE);
	strlcpy(ph_repl_shared->table_snapshot, buf, sizeof(ph_repl_shared->table_snapshot));
	LWLockRelease(ph_repl_shared->lock);
}

/* ------------------------------------------------------------------------
 * The leader's connection (libpq, every wait interruptible and bounded)
 * ------------------------------------------------------------------------
 */

static void
sn_error(const char *what, const char *detail)
{
	char	   *msg = pchomp(PQerrorMessage(sn_conn));

	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("phantom table snapshot: %s: %s", what, msg),
			 detail ? errdetail("%s", detail) : 0));
}

/* sn_wait waits until the leader's socket is ready for events. */
static void
sn_wait(int events)
{
	int			rc;

	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | WL_TIMEOUT | events,
						   PQsocket(sn_conn), SNAP_IO_TIMEOUT_MS, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (rc & WL_TIMEOUT)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("phantom table snapshot: no answer from the leader for %d s",
						SNAP_IO_TIMEOUT_MS / 1000)));
}

static void
sn_connect(const char *conninfo)
{
	const char *keys[] = {"dbname", "dbname", "application_name",
	"client_encoding", "connect_timeout", NULL};
	const char *vals[] = {conninfo, phantom_database, "phantom table snapshot",
	GetDatabaseEncodingName(), "10", NULL};
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	sn_conn = PQconnectStartParams(keys, vals, 1);
	if (sn_conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("phantom table snapshot: could not allocate a connection")));
	while (st != PGRES_POLLING_OK)
	{
		if (st == PGRES_POLLING_FAILED || PQstatus(sn_conn) == CONNECTION_BAD)
			sn_error("could not connect to the leader", NULL);
		sn_wait(st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE);
		st = PQconnectPoll(sn_conn);
	}
}

/*
 * sn_collect collects the results of the query sent last (sql, for
 * messages) and returns the last one, which must have status expect; a
 * COPY OUT result is returned at once (the caller streams it).  The
 * caller PQclears.  sn_exec sends sql first.
 */
static PGresult *
sn_collect(const char *sql, ExecStatusType expect)
{
	PGresult   *last = NULL;

	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(sn_conn))
		{
			sn_wait(WL_SOCKET_READABLE);
			if (!PQconsumeInput(sn_conn))
				sn_error("lost the connection to the leader", sql);
		}
		res = PQgetResult(sn_conn);
		if (res == NULL)
			break;
		if (PQresultStatus(res) == PGRES_COPY_OUT)
		{
			PQclear(last);
			return res;
		}
		if (last && PQresultStatus(last) != PGRES_COMMAND_OK &&
			PQresultStatus(last) != PGRES_TUPLES_OK)
		{
			PQclear(res);		/* keep the first failure */
			continue;
		}
		PQclear(last);
		last = res;
	}
	if (last == NULL || PQresultStatus(last) != expect)
	{
		char	   *msg = pchomp(last ? PQresultErrorMessage(last) : PQerrorMessage(sn_conn));

		PQclear(last);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("phantom table snapshot: a query on the leader failed: %s", msg),
				 errdetail("Query: %s", sql)));
	}
	return last;
}

static PGresult *
sn_exec(const char *sql, ExecStatusType expect)
{
	if (!PQsendQuery(sn_conn, sql))
		sn_error("could not send a query to the leader", sql);
	return sn_collect(sql, expect);
}

/*
 * copy_source_cb feeds COPY FROM with the rows of the leader's COPY TO
 * STDOUT; returns fewer than minread bytes only at the end of the data.
 */
static int
copy_source_cb(void *outbuf, int minread, int maxread)
{
	int			done = 0;

	while (done < minread)
	{
		int			r;

		if (cb_off < cb_len)
		{
			int			n = Min(maxread - done, cb_len - cb_off);

			memcpy((char *) outbuf + done, cb_buf + cb_off, n);
			done += n;
			cb_off += n;
			continue;
		}
		if (cb_buf)
		{
			PQfreemem(cb_buf);
			cb_buf = NULL;
		}
		cb_len = cb_off = 0;
		if (cb_eof)
			break;
		r = PQgetCopyData(sn_conn, &cb_buf, 1);
		if (r > 0)
			cb_len = r;
		else if (r == 0)
		{
			sn_wait(WL_SOCKET_READABLE);
			if (!PQconsumeInput(sn_conn))
				sn_error("lost the connection to the leader during COPY", NULL);
		}
		else if (r == -1)
			cb_eof = true;
		else
			sn_error("COPY from the leader failed", NULL);
	}
	return done;
}

/* copy_finish collects the leader's result of a COPY TO STDOUT. */
static void
copy_finish(const char *sql)
{
	PGresult   *res;

	if (!cb_eof)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("phantom table snapshot: COPY ended before the leader's data did"),
				 errdetail("Query: %s", sql)));
	res = sn_collect(sql, PGRES_COMMAND_OK);
	PQclear(res);
}

/* ------------------------------------------------------------------------
 * Table lists
 * ------------------------------------------------------------------------
 */

/* add_row adds one row of LIST_SQL to *tables (rows come grouped). */
static void
add_row(List **tables, const char *qname, const char *cols, bool is_fk,
		const char *stmt)
{
	SnapTable  *t = *tables ? llast(*tables) : NULL;

	if (t == NULL || strcmp(t->qname, qname) != 0)
	{
		t = palloc0(sizeof(SnapTable));
		t->qname = pstrdup(qname);
		t->cols = cols ? pstrdup(cols) : NULL;
		initStringInfo(&t->def);
		*tables = lappend(*tables, t);
	}
	if (is_fk)
		t->fks = lappend(t->fks, pstrdup(stmt));
	else
		t->ddl = lappend(t->ddl, pstrdup(stmt));
	appendStringInfo(&t->def, "%s;\n", stmt);
}

static SnapTable *
find_table(List *tables, const char *qname)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		SnapTable  *t = lfirst(lc);

		if (strcmp(t->qname, qname) == 0)
			return t;
	}
	return NULL;
}

/* leader_tables reads LIST_SQL's result on the leader into cxt. */
static List *
leader_tables(MemoryContext cxt)
{
	PGresult   *res = sn_exec(LIST_SQL, PGRES_TUPLES_OK);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	List	   *tables = NIL;

	for (int i = 0; i < PQntuples(res); i++)
		add_row(&tables, PQgetvalue(res, i, 0),
				PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1),
				strcmp(PQgetvalue(res, i, 2), "t") == 0, PQgetvalue(res, i, 3));
	MemoryContextSwitchTo(old);
	PQclear(res);
	return tables;
}

/* local_tables runs LIST_SQL here (SPI connected). */
static List *
local_tables(void)
{
	List	   *tables = NIL;
	int			rc = SPI_execute(LIST_SQL, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "phantom table snapshot: could not list the local tables: %s",
			 SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		add_row(&tables, SPI_getvalue(tup, desc, 1), SPI_getvalue(tup, desc, 2),
				DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)),
				SPI_getvalue(tup, desc, 4));
	}
	return tables;
}

/* ------------------------------------------------------------------------
 * Local side
 * ------------------------------------------------------------------------
 */

static void
local_exec(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		ereport(ERROR,
				(errmsg("phantom table snapshot: a local statement failed: %s",
						SPI_result_code_string(rc)),
				 errdetail("Statement: %s", sql)));
	CommandCounterIncrement();
}

/*
 * copy_table streams the leader's rows of qname (columns cols, or all)
 * into the local table of that name; returns the rows copied.
 */
static uint64
copy_table(const char *qname, const char *cols)
{
	char	   *sql = psprintf("COPY %s%s%s%s TO STDOUT", qname, cols ? " (" : "",
							   cols ? cols : "", cols ? ")" : "");
	PGresult   *res;
	Relation	rel;
	List	   *attnames = NIL;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	CopyFromState cstate;
	List	   *opts;
	uint64		n;

	if (cols)
	{
		List	   *names;
		ListCell   *lc;

		if (!SplitIdentifierString(pstrdup(cols), ',', &names))
			elog(ERROR, "phantom table snapshot: bad column list \"%s\"", cols);
		foreach(lc, names)
			attnames = lappend(attnames, makeString(pstrdup(lfirst(lc))));
	}

	res = sn_exec(sql, PGRES_COPY_OUT);
	PQclear(res);
	cb_buf = NULL;
	cb_len = cb_off = 0;
	cb_eof = false;

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_openrv(makeRangeVarFromNameList(stringToQualifiedNameList(qname)),
					   RowExclusiveLock);
	pstate = make_parsestate(NULL);
	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock,
										   NULL, false, false);
	nsitem->p_rte->requiredPerms = ACL_INSERT;
	opts = list_make1(makeDefElem("encoding",
								  (Node *) makeString(pstrdup(GetDatabaseEncodingName())),
								  -1));
	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, copy_source_cb,
						   attnames, opts);
	n = CopyFrom(cstate);
	EndCopyFrom(cstate);
	free_parsestate(pstate);
	table_close(rel, NoLock);
	PopActiveSnapshot();
	copy_finish(sql);
	return n;
}

/* set_sequences advances the local owned sequences to the leader's values. */
static void
set_sequences(PGresult *seqs)
{
	for (int i = 0; i < PQntuples(seqs); i++)
	{
		Datum		args[2];
		Oid			types[2] = {TEXTOID, INT8OID};
		int			rc;

		if (PQgetisnull(seqs, i, 1))
			continue;			/* never used */
		args[0] = CStringGetTextDatum(PQgetvalue(seqs, i, 0));
		args[1] = Int64GetDatum(pg_strtoint64(PQgetvalue(seqs, i, 1)));
		rc = SPI_execute_with_args("SELECT pg_catalog.setval(r, $2) "
								   "FROM pg_catalog.to_regclass($1) r "
								   "WHERE r IS NOT NULL AND $2 > coalesce(pg_catalog.pg_sequence_last_value(r), $2 - 1)",
								   2, types, args, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "phantom table snapshot: could not set sequence %s: %s",
				 PQgetvalue(seqs, i, 0), SPI_result_code_string(rc));
	}
}

static void
set_local_guc(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/* debug_delay: phantom.debug_table_snapshot_delay, interruptible. */
static void
debug_delay(void)
{
	TimestampTz end;

	if (phantom_debug_table_snapshot_delay <= 0)
		return;
	end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
									  phantom_debug_table_snapshot_delay);
	while (GetCurrentTimestamp() < end)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ------------------------------------------------------------------------
 * Entry points (apply worker)
 * ------------------------------------------------------------------------
 */

/*
 * ph_repl_table_snapshot_needed: the ledger has fewer rows up to
 * snap_index than the snapshot covers TXN entries (the ledger only has
 * rows of committed TXN entries, so equal counts mean equal sets).
 */
bool
ph_repl_table_snapshot_needed(uint64 snap_index, uint64 txn_count)
{
	Datum		arg = Int64GetDatum((int64) snap_index);
	Oid			t = INT8OID;
	int64		have;
	bool		isnull;
	int			rc;

	if (txn_count == 0)
		return false;
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT count(*) FROM phantom.applied WHERE index <= $1",
							   1, &t, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "phantom apply: could not read phantom.applied: %s",
			 SPI_result_code_string(rc));
	have = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return (uint64) have < txn_count;
}

/*
 * do_snapshot: the procedure of the file header; false if it cannot start
 * yet (the leader's tables lag this node's log, or its table set changed
 * between the watermark and the lock).
 */
static bool
do_snapshot(const char *leader, const char *conninfo, uint64 first_index,
			uint64 *watermark, MemoryContext cxt)
{
	PGresult   *res;
	uint64		w;
	char	   *names;
	List	   *tables;
	List	   *local;
	PGresult   *seqs;
	StringInfoData sql;
	ListCell   *lc;
	uint64		rows = 0;
	int			k = 0;
	int			n_created = 0;
	TimestampTz start = GetCurrentTimestamp();

	set_progress("connecting to %s", leader);
	sn_connect(conninfo);
	PQclear(sn_exec(SESSION_SQL, PGRES_COMMAND_OK));

	/* 1. watermark, before the snapshot */
	res = sn_exec(NAMES_SQL, PGRES_TUPLES_OK);
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("phantom table snapshot: the leader did not report its tables_applied")));
	w = (uint64) pg_strtoint64(PQgetvalue(res, 0, 0));
	names = PQgetisnull(res, 0, 1) ? NULL : MemoryContextStrdup(cxt, PQgetvalue(res, 0, 1));
	PQclear(res);
	if (w + 1 < first_index)
	{
		set_progress("waiting: the tables of %s are at index " UINT64_FORMAT ", this node's log starts at " UINT64_FORMAT,
					 leader, w, first_index);
		return false;
	}

	/* 2. snapshot and lock on the leader, its table list */
	PQclear(sn_exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK));
	if (names)
	{
		char	   *lock = psprintf("LOCK TABLE %s IN ACCESS SHARE MODE", names);

		PQclear(sn_exec(lock, PGRES_COMMAND_OK));
	}
	tables = leader_tables(cxt);
	initStringInfo(&sql);
	foreach(lc, tables)
		appendStringInfo(&sql, "%s%s", sql.len ? ", " : "",
						 ((SnapTable *) lfirst(lc))->qname);
	if (strcmp(sql.data, names ? names : "") != 0)
	{
		/* a table was created or dropped between the watermark and the lock */
		set_progress("retrying: the tables of %s changed", leader);
		return false;
	}
	seqs = sn_exec(SEQ_SQL, PGRES_TUPLES_OK);

	ereport(LOG,
			(errmsg("phantom table snapshot: starting from %s at index " UINT64_FORMAT ": %d tables",
					leader, w, list_length(tables))));

	/* 3. one local transaction */
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	set_local_guc("search_path", "pg_catalog");
	set_local_guc("DateStyle", "ISO");
	set_local_guc("IntervalStyle", "postgres");
	/* the apply worker commits asynchronously; this commit bounds log
	 * compaction at once (tables_durable), so flush it */
	set_local_guc("synchronous_commit", "on");

	/* drop what the leader lacks or defines differently */
	local = local_tables();
	initStringInfo(&sql);	/* in the transaction's context */
	foreach(lc, local)
	{
		SnapTable  *lt = lfirst(lc);
		SnapTable  *t = find_table(tables, lt->qname);

		if (t && strcmp(t->def.data, lt->def.data) == 0)
			t->keep = true;
		else
			appendStringInfo(&sql, "%s%s", sql.len ? ", " : "DROP TABLE ", lt->qname);
	}
	if (sql.len)
	{
		set_progress("dropping tables that differ from %s", leader);
		local_exec(sql.data);
	}

	/* create what is missing: tables first, then their foreign keys */
	foreach(lc, tables)
	{
		SnapTable  *t = lfirst(lc);
		ListCell   *sc;

		if (t->keep)
			continue;
		foreach(sc, t->ddl)
			local_exec(lfirst(sc));
		n_created++;
	}
	foreach(lc, tables)
	{
		SnapTable  *t = lfirst(lc);
		ListCell   *sc;

		if (t->keep)
			continue;
		foreach(sc, t->fks)
			local_exec(lfirst(sc));
	}

	/* empty the kept tables and the ledger */
	resetStringInfo(&sql);
	appendStringInfoString(&sql, "TRUNCATE phantom.applied");
	foreach(lc, tables)
	{
		SnapTable  *t = lfirst(lc);

		if (t->keep)
			appendStringInfo(&sql, ", %s", t->qname);
	}
	local_exec(sql.data);

	/* the rows */
	foreach(lc, tables)
	{
		SnapTable  *t = lfirst(lc);

		k++;
		set_progress("copying table %d/%d %s from %s at index " UINT64_FORMAT ", " UINT64_FORMAT " rows so far",
					 k, list_length(tables), t->qname, leader, w, rows);
		rows += copy_table(t->qname, t->cols);
	}
	(void) copy_table("phantom.applied", "index,term,origin,xid,applied_at");
	set_sequences(seqs);
	PQclear(seqs);

	set_progress("committing: %d tables, " UINT64_FORMAT " rows from %s at index " UINT64_FORMAT,
				 list_length(tables), rows, leader, w);
	debug_delay();
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);

	PQclear(sn_exec("COMMIT", PGRES_COMMAND_OK));

	set_progress("done: %d tables, " UINT64_FORMAT " rows from %s at index " UINT64_FORMAT,
				 list_length(tables), rows, leader, w);
	ereport(LOG,
			(errmsg("phantom table snapshot from %s at index " UINT64_FORMAT ": %d tables, " UINT64_FORMAT " rows",
					leader, w, list_length(tables), rows),
			 errdetail("%d tables created or rebuilt, %ld ms.", n_created,
					   (long) ((GetCurrentTimestamp() - start) / 1000))));
	*watermark = w;
	return true;
}

bool
ph_repl_table_snapshot(uint64 first_index, uint64 *watermark)
{
	char		leader[PH_REPL_NAME_LEN] = "";
	char		conninfo[PH_REPL_CONNINFO_LEN] = "";
	MemoryContext cxt;
	MemoryContext old;
	bool		ok = false;

	LWLockAcquire(ph_repl_shared->lock, LW_SHARED);
	if (ph_repl_shared->leader_id != PH_RAFT_NONE &&
		ph_repl_shared->leader_id != ph_repl_shared->my_id)
		for (int i = 0; i < ph_repl_shared->n_members; i++)
			if (ph_repl_shared->members[i].id == ph_repl_shared->leader_id)
			{
				strlcpy(leader, ph_repl_shared->members[i].name, sizeof(leader));
				strlcpy(conninfo, ph_repl_shared->members[i].conninfo, sizeof(conninfo));
			}
	LWLockRelease(ph_repl_shared->lock);
	if (leader[0] == '\0')
	{
		set_progress("waiting for a leader to copy the tables from");
		return false;
	}

	cxt = AllocSetContextCreate(TopMemoryContext, "phantom table snapshot",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		ok = do_snapshot(leader, conninfo, first_index, watermark, cxt);
	}
	PG_FINALLY();
	{
		if (cb_buf)
			PQfreemem(cb_buf);
		cb_buf = NULL;
		if (sn_conn)
			PQfinish(sn_conn);
		sn_conn = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return ok;
}
