/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  The apply worker: applies, in log order, every committed TXN raft
 *	  entry that is not in the phantom.applied ledger of this node
 *	  (followers; a leader whose backend failed between the raft commit
 *	  and its local commit), each in its own transaction that also inserts
 *	  the ledger row, so an entry is applied exactly once across crashes.
 *
 *	  One background worker per raft node, connected to phantom.database,
 *	  running with session_replication_role = replica (like PostgreSQL's
 *	  logical replication apply worker: ordinary triggers and foreign-key
 *	  checks do not fire).  It reads committed entries from the raft worker
 *	  (request PH_REPL_OP_READ: the worker copies them from its in-memory
 *	  log into a DSM segment the apply worker created) and applies row
 *	  changes with the executor's replication helpers (execReplication.c:
 *	  ExecSimpleRelationInsert/Update/Delete, RelationFindReplTupleByIndex /
 *	  RelationFindReplTupleSeq).  DDL entries are executed with SPI under
 *	  the captured search_path.
 *
 *	  Entries of this node's own backends: if the origin transaction is
 *	  still running (it is between the raft commit and its local commit),
 *	  the worker waits for it to end, then looks at the ledger again.
 *
 *	  Progress: tables_applied in shared memory = every entry up to it is
 *	  handled.  The worker commits asynchronously (synchronous_commit =
 *	  off: one WAL flush per entry would cap a follower at one entry per
 *	  fsync, and the raft log already holds every entry durably), so it
 *	  also publishes tables_durable, up to which those commits are
 *	  flushed; the raft worker does not compact its log beyond that, so a
 *	  crash that loses unflushed commits re-applies them from the log.  After a
 *	  restart the worker starts at the first entry of the log and skips,
 *	  by the ledger, what is applied already (the ledger is the truth, the
 *	  commit index the upper bound).  If the log no longer holds the next
 *	  entry and the ledger lacks TXN entries the log's snapshot covers (it
 *	  was installed from the leader), the worker copies the tables from the
 *	  leader (snapshot.c) and continues after the copy's watermark.
 *
 * src/replication/apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "libpq/pqformat.h"
#include "nodes/makefuncs.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "phantom/phantom.h"
#include "phantom/replication/replication.h"

bool		ph_repl_applying = false;

#define READ_BUF_SIZE	(4 * 1024 * 1024)

static uint64 my_node_id;
static XLogRecPtr last_commit_lsn = InvalidXLogRecPtr;	/* our newest commit */
static uint64 cand_index = 0;	/* tables_durable candidate ... */
static XLogRecPtr cand_lsn = InvalidXLogRecPtr; /* ... once this is flushed */

/* ------------------------------------------------------------------------
 * Decoding helpers
 * ------------------------------------------------------------------------
 */

static char *
get_str(StringInfo m)
{
	int			l = pq_getmsgint(m, 4);
	char	   *s;

	if (l < 0 || l > m->len - m->cursor)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("phantom apply: malformed TXN entry")));
	s = palloc(l + 1);
	memcpy(s, pq_getmsgbytes(m, l), l);
	s[l] = '\0';
	return s;
}

/*
 * get_row fills slot (cleared, all NULL first) with the encoded columns,
 * resolved by name in rel's descriptor.
 */
static void
get_row(StringInfo m, Relation rel, TupleTableSlot *slot)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			n = pq_getmsgint(m, 2);

	ExecClearTuple(slot);
	for (int i = 0; i < desc->natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	for (int c = 0; c < n; c++)
	{
		char	   *name = get_str(m);
		char		kind = pq_getmsgbyte(m);
		int			attno = -1;
		Form_pg_attribute att;
		Oid			fn,
					ioparam;

		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			{
				attno = i;
				break;
			}
		}
		if (attno < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("phantom apply: column \"%s\" of table \"%s\" does not exist on this node",
							name, RelationGetRelationName(rel))));
		att = TupleDescAttr(desc, attno);
		if (kind == PH_TXN_VAL_NULL)
			continue;
		if (kind == PH_TXN_VAL_BINARY)
		{
			int			l = pq_getmsgint(m, 4);
			StringInfoData v;

			if (l < 0 || l > m->len - m->cursor)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("phantom apply: malformed TXN entry")));
			initStringInfo(&v);
			appendBinaryStringInfo(&v, pq_getmsgbytes(m, l), l);
			getTypeBinaryInputInfo(att->atttypid, &fn, &ioparam);
			slot->tts_values[attno] = OidReceiveFunctionCall(fn, &v, ioparam,
															 att->atttypmod);
		}
		else if (kind == PH_TXN_VAL_TEXT)
		{
			char	   *s = get_str(m);

			getTypeInputInfo(att->atttypid, &fn, &ioparam);
			slot->tts_values[attno] = OidInputFunctionCall(fn, s, ioparam,
														   att->atttypmod);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("phantom apply: malformed TXN entry (value kind %d)", kind)));
		slot->tts_isnull[attno] = false;
	}
	ExecStoreVirtualTuple(slot);
}

/* ------------------------------------------------------------------------
 * Row operations
 * ------------------------------------------------------------------------
 */

/* find_local locates the row whose key is in keyslot; locks it. */
static bool
find_local(Relation rel, TupleTableSlot *keyslot, TupleTableSlot *localslot)
{
	Oid			idx = RelationGetReplicaIndex(rel);

	if (OidIsValid(idx))
		return RelationFindReplTupleByIndex(rel, idx, LockTupleExclusive,
											keyslot, localslot);
	if (rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
		return RelationFindReplTupleSeq(rel, LockTupleExclusive, keyslot,
										localslot);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("phantom apply: table \"%s\" has no replica identity on this node",
					RelationGetRelationName(rel))));
	return false;
}

/*
 * default_sequence: the sequence a column default draws from, when the
 * default is nextval('some_seq') (possibly under a cast); else InvalidOid.
 */
static Oid
default_sequence(Node *expr)
{
	FuncExpr   *f;
	Const	   *c;

	while (expr && IsA(expr, CoerceViaIO))
		expr = (Node *) ((CoerceViaIO *) expr)->arg;
	while (expr && IsA(expr, FuncExpr) &&
		   ((FuncExpr *) expr)->funcformat != COERCE_EXPLICIT_CALL &&
		   list_length(((FuncExpr *) expr)->args) == 1)
		expr = linitial(((FuncExpr *) expr)->args);	/* int8 -> int4 casts */
	if (expr == NULL || !IsA(expr, FuncExpr))
		return InvalidOid;
	f = (FuncExpr *) expr;
	if (f->funcid != F_NEXTVAL || list_length(f->args) != 1 ||
		!IsA(linitial(f->args), Const))
		return InvalidOid;
	c = linitial(f->args);
	if (c->constisnull || c->consttype != REGCLASSOID)
		return InvalidOid;
	return DatumGetObjectId(c->constvalue);
}

/*
 * advance_sequences keeps the sequences that feed rel's columns -- owned
 * ones (serial, identity) and those a column default calls nextval() on
 * -- at least at the values the leader drew, so that a follower that
 * becomes leader does not hand out the same numbers again.  Sequences are
 * not transactional: advancing one too far is harmless.
 */
static void
advance_sequences(Relation rel, TupleTableSlot *slot)
{
	List	   *seqs = getOwnedSequences(RelationGetRelid(rel));
	List	   *cols = NIL;
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	ListCell   *lc,
			   *lc2;

	foreach(lc, seqs)
	{
		Oid			tab;
		int32		col;

		if (sequenceIsOwned(lfirst_oid(lc), DEPENDENCY_AUTO, &tab, &col) ||
			sequenceIsOwned(lfirst_oid(lc), DEPENDENCY_INTERNAL, &tab, &col))
			cols = lappend_int(cols, col);
		else
			cols = lappend_int(cols, 0);
	}
	for (int i = 0; constr && i < constr->num_defval; i++)
	{
		Oid			seq = default_sequence(stringToNode(constr->defval[i].adbin));

		if (OidIsValid(seq) && !list_member_oid(seqs, seq))
		{
			seqs = lappend_oid(seqs, seq);
			cols = lappend_int(cols, constr->defval[i].adnum);
		}
	}

	forboth(lc, seqs, lc2, cols)
	{
		Oid			seq = lfirst_oid(lc);
		int32		col = lfirst_int(lc2);
		Oid			typ;
		int64		v;
		Datum		args[2];
		Oid			types[2] = {REGCLASSOID, INT8OID};
		int			rc;

		if (col < 1 || col > slot->tts_tupleDescriptor->natts ||
			slot->tts_isnull[col - 1])
			continue;
		typ = TupleDescAttr(slot->tts_tupleDescriptor, col - 1)->atttypid;
		if (typ == INT8OID)
			v = DatumGetInt64(slot->tts_values[col - 1]);
		else if (typ == INT4OID)
			v = DatumGetInt32(slot->tts_values[col - 1]);
		else if (typ == INT2OID)
			v = DatumGetInt16(slot->tts_values[col - 1]);
		else
			continue;
		args[0] = ObjectIdGetDatum(seq);
		args[1] = Int64GetDatum(v);
		rc = SPI_execute_with_args("SELECT pg_catalog.setval($1, $2) FROM pg_catalog.pg_sequence s "
								   "WHERE s.seqrelid = $1 AND s.seqincrement > 0 "
								   "AND $2 BETWEEN s.seqmin AND s.seqmax "
								   "AND $2 > coalesce(pg_catalog.pg_sequence_last_value($1), $2 - 1)",
								   2, types, args, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("phantom apply: could not advance sequence \"%s\": %s",
							get_rel_name(seq), SPI_result_code_string(rc))));
	}
	list_free(seqs);
	list_free(cols);
}

static void
apply_row_op(char op, StringInfo m, uint64 index)
{
	char	   *nsp = get_str(m);
	char	   *relname = get_str(m);
	Relation	rel;
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	TupleTableSlot *slot,
			   *keyslot,
			   *localslot;
	EPQState	epq;

	rel = table_openrv(makeRangeVar(nsp, relname, -1), RowExclusiveLock);

	estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	estate->es_output_cid = GetCurrentCommandId(true);
	AfterTriggerBeginQuery();
	ExecOpenIndices(rri, false);

	slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), &TTSOpsVirtual);
	switch (op)
	{
		case PH_TXN_OP_INSERT:
			get_row(m, rel, slot);
			ExecSimpleRelationInsert(rri, estate, slot);
			advance_sequences(rel, slot);
			break;
		case PH_TXN_OP_UPDATE:
		case PH_TXN_OP_DELETE:
			keyslot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), &TTSOpsVirtual);
			localslot = table_slot_create(rel, &estate->es_tupleTable);
			get_row(m, rel, keyslot);
			if (op == PH_TXN_OP_UPDATE)
				get_row(m, rel, slot);
			EvalPlanQualInit(&epq, estate, NULL, NIL, -1);
			if (find_local(rel, keyslot, localslot))
			{
				if (op == PH_TXN_OP_UPDATE)
				{
					ExecSimpleRelationUpdate(rri, estate, &epq, localslot, slot);
					advance_sequences(rel, slot);
				}
				else
					ExecSimpleRelationDelete(rri, estate, &epq, localslot);
			}
			else
				ereport(WARNING,
						(errmsg("phantom apply: raft entry " UINT64_FORMAT ": the row to %s in \"%s.%s\" is missing on this node",
								index, op == PH_TXN_OP_UPDATE ? "update" : "delete",
								nsp, relname),
						 errdetail("This node's copy of the table differs from the leader's.")));
			EvalPlanQualEnd(&epq);
			break;
	}

	ExecCloseIndices(rri);
	AfterTriggerEndQuery(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
}

/*
 * schema_divergence: errors that say this node's schema differs from the
 * leader's (an object missing or already there: created or dropped here
 * outside the cluster, or before this node joined).
 */
static bool
schema_divergence(int sqlerrcode)
{
	switch (sqlerrcode)
	{
		case ERRCODE_UNDEFINED_OBJECT:
		case ERRCODE_UNDEFINED_TABLE:
		case ERRCODE_UNDEFINED_FUNCTION:
		case ERRCODE_UNDEFINED_SCHEMA:
		case ERRCODE_UNDEFINED_COLUMN:
		case ERRCODE_DUPLICATE_OBJECT:
		case ERRCODE_DUPLICATE_TABLE:
		case ERRCODE_DUPLICATE_FUNCTION:
		case ERRCODE_DUPLICATE_SCHEMA:
		case ERRCODE_DUPLICATE_COLUMN:
			return true;
		default:
			return false;
	}
}

/*
 * apply_ddl runs a replicated statement under the leader's search_path,
 * in a subtransaction: when it fails because this node's schema already
 * differs (schema_divergence), the failure is a WARNING and the entry's
 * other operations go on -- retrying could never succeed, and stopping
 * would hold back every later entry.  Any other failure is an ERROR (the
 * apply worker retries the entry).
 */
static void
apply_ddl(StringInfo m, uint64 index)
{
	char	   *path = get_str(m);
	char	   *stmt = get_str(m);
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		int			rc;

		(void) set_config_option("search_path", path, PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
		rc = SPI_execute(stmt, false, 0);
		if (rc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("phantom apply: replicated statement failed: %s",
							SPI_result_code_string(rc)),
					 errdetail("Statement: %s", stmt)));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		if (!schema_divergence(ed->sqlerrcode))
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ereport(WARNING,
				(errcode(ed->sqlerrcode),
				 errmsg("phantom apply: replicated statement of raft entry " UINT64_FORMAT " skipped: %s",
						index, ed->message),
				 errdetail("Statement: %s", stmt),
				 errhint("This node's schema differs from the leader's; compare them and fix this node by hand.")));
		FreeErrorData(ed);
	}
	PG_END_TRY();
}

/* ------------------------------------------------------------------------
 * One entry
 * ------------------------------------------------------------------------
 */

static bool
ledger_has(uint64 index)
{
	Datum		arg = Int64GetDatum((int64) index);
	Oid			t = INT8OID;
	int			rc;

	rc = SPI_execute_with_args("SELECT 1 FROM phantom.applied WHERE index = $1",
							   1, &t, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "phantom apply: could not read phantom.applied: %s",
			 SPI_result_code_string(rc));
	return SPI_processed > 0;
}

/*
 * apply_txn applies one committed TXN entry in its own transaction, unless
 * the ledger already has it.
 */
static void
apply_txn(uint64 index, uint64 term, const uint8 *data, uint32 len)
{
	StringInfoData m;
	uint64		origin,
				boot;
	TransactionId xid;
	uint32		nops;
	Datum		args[4];
	Oid			types[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	int			rc;

	m.data = (char *) data;
	m.len = len;
	m.maxlen = len;
	m.cursor = 0;
	if (len < PH_TXN_HEADER_LEN || pq_getmsgint(&m, 4) != PH_TXN_MAGIC)
	{
		ereport(WARNING,
				(errmsg("phantom apply: raft entry " UINT64_FORMAT " is not a valid TXN entry; skipped", index)));
		return;
	}
	if (pq_getmsgint(&m, 2) != PH_TXN_VERSION)
	{
		ereport(WARNING,
				(errmsg("phantom apply: raft entry " UINT64_FORMAT " has an unknown TXN format version; skipped", index)));
		return;
	}
	origin = (uint64) pq_getmsgint64(&m);
	boot = (uint64) pq_getmsgint64(&m);
	xid = (TransactionId) pq_getmsgint(&m, 4);
	nops = pq_getmsgint(&m, 4);
	(void) pq_getmsgint(&m, 4);

	StartTransactionCommand();

	/*
	 * Our own backend between raft commit and local commit: wait for it.
	 * Only in the same life of this server: the xid of a transaction that
	 * a crash ended may never have reached the WAL, and is then above
	 * latestCompletedXid, which TransactionIdIsInProgress reports as
	 * running until some later transaction completes -- the wait would
	 * never end on a follower, where nothing else writes.
	 */
	if (origin == my_node_id && boot == ph_repl_shared->boot_id &&
		TransactionIdIsValid(xid) && TransactionIdIsInProgress(xid))
		XactLockTableWait(xid, NULL, NULL, XLTW_None);

	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ledger_has(index))
	{
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		return;
	}

	for (uint32 i = 0; i < nops; i++)
	{
		char		op = pq_getmsgbyte(&m);

		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (op == PH_TXN_OP_DDL)
			apply_ddl(&m, index);
		else if (op == PH_TXN_OP_INSERT || op == PH_TXN_OP_UPDATE ||
				 op == PH_TXN_OP_DELETE)
			apply_row_op(op, &m, index);
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("phantom apply: raft entry " UINT64_FORMAT " has an unknown operation %d",
							index, op)));
		PopActiveSnapshot();
	}

	CommandCounterIncrement();
	args[0] = Int64GetDatum((int64) index);
	args[1] = Int64GetDatum((int64) term);
	args[2] = Int64GetDatum((int64) origin);
	args[3] = Int64GetDatum((int64) xid);
	rc = SPI_execute_with_args("INSERT INTO phantom.applied (index, term, origin, xid) VALUES ($1, $2, $3, $4)",
							   4, types, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "phantom apply: could not record raft entry " UINT64_FORMAT ": %s",
			 index, SPI_result_code_string(rc));
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	last_commit_lsn = Max(last_commit_lsn, XactLastCommitEnd);
	pgstat_report_stat(false);
}

/* ------------------------------------------------------------------------
 * Main loop
 * ------------------------------------------------------------------------
 */

/*
 * set_tables_applied publishes the position, and tables_durable: entries
 * up to it are applied by commits that are flushed.  Asynchronous commits
 * are flushed by the WAL writer within wal_writer_delay; under constant
 * load the newest commit is never flushed yet, so a candidate (position,
 * its commit's LSN) is remembered and published once flushed.  flush
 * (when idle) flushes the WAL up to the last commit instead.
 */
static void
set_tables_applied_flush(uint64 v, bool flush)
{
	XLogRecPtr	flushed;
	uint64		durable = 0;

	if (flush && !XLogRecPtrIsInvalid(last_commit_lsn))
		XLogFlush(last_commit_lsn);
	flushed = GetFlushRecPtr(NULL);
	if (!XLogRecPtrIsInvalid(cand_lsn) && cand_lsn <= flushed)
	{
		durable = cand_index;
		cand_lsn = InvalidXLogRecPtr;
	}
	if (last_commit_lsn <= flushed)
		durable = v;
	else if (XLogRecPtrIsInvalid(cand_lsn))
	{
		cand_index = v;
		cand_lsn = last_commit_lsn;
	}
	LWLockAcquire(ph_repl_shared->lock, LW_EXCLUSIVE);
	ph_repl_shared->tables_applied = v;
	if (durable > ph_repl_shared->tables_durable)
		ph_repl_shared->tables_durable = Min(durable, v);
	LWLockRelease(ph_repl_shared->lock);
	ConditionVariableBroadcast(&ph_repl_shared->status_cv);
}

static void
set_tables_applied(uint64 v)
{
	set_tables_applied_flush(v, false);
}

static bool
ledger_exists(void)
{
	bool		ok;

	StartTransactionCommand();
	ok = OidIsValid(get_relname_relid("applied", get_namespace_oid("phantom", true)));
	CommitTransactionCommand();
	return ok;
}

/*
 * ledger_ready: does phantom.applied exist?  If not, warns once (until it
 * appears), sleeps a second and returns false: the caller tries again.
 */
static bool
ledger_ready(bool *warned)
{
	if (ledger_exists())
	{
		*warned = false;
		return true;
	}
	if (!*warned)
		ereport(WARNING,
				(errmsg("phantom apply: table phantom.applied does not exist in database \"%s\"; waiting",
						phantom_database),
				 errhint("Run CREATE EXTENSION phantom in database \"%s\" (phantom.database) on every node.",
						 phantom_database)));
	*warned = true;
	pg_usleep(1000000);
	return false;
}

static void
apply_exit(int code, Datum arg)
{
	LWLockAcquire(ph_repl_shared->lock, LW_EXCLUSIVE);
	ph_repl_shared->apply_pid = 0;
	LWLockRelease(ph_repl_shared->lock);
}

void
phantom_apply_worker_main(Datum arg)
{
	uint64		next;
	Size		bufsize = READ_BUF_SIZE;
	bool		warned_no_ledger = false;
	bool		catching_up = false;
	dsm_segment *seg = NULL;		/* read buffer, kept across reads */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	ph_repl_applying = true;
	ph_repl_active = false;
	my_node_id = ph_repl_node_id(phantom_node_name);

	BackgroundWorkerInitializeConnection(phantom_database, NULL, 0);
	SetConfigOption("session_replication_role", "replica", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("phantom.commit_timeout", "10000", PGC_SUSET, PGC_S_OVERRIDE);
	/* see "Progress" above: tables_durable bounds the log compaction */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	before_shmem_exit(apply_exit, (Datum) 0);
	LWLockAcquire(ph_repl_shared->lock, LW_EXCLUSIVE);
	ph_repl_shared->apply_pid = MyProcPid;
	next = ph_repl_shared->tables_applied + 1;	/* survives our restarts */
	LWLockRelease(ph_repl_shared->lock);
	/* a previous apply worker's commits may not be flushed yet either */
	last_commit_lsn = GetXLogInsertRecPtr();

	for (;;)
	{
		uint64		commit,
					first;
		bool		ok;
		PhReplRequest req;
		uint64		count = 0,
					need = 0;
		char		detail[256];
		int			rc;
		const uint8 *p;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(ph_repl_shared->lock, LW_SHARED);
		ok = ph_repl_shared->worker_pid != 0 && ph_repl_shared->log_ok;
		commit = ph_repl_shared->commit_index;
		first = ph_repl_shared->first_index;
		LWLockRelease(ph_repl_shared->lock);

		if (!ok || commit < next)
		{
			/* idle: make what we applied durable (bounds compaction) */
			if (!XLogRecPtrIsInvalid(cand_lsn) || last_commit_lsn > GetFlushRecPtr(NULL))
				set_tables_applied_flush(next - 1, true);
			/* re-check after preparing: no broadcast is missed */
			ConditionVariablePrepareToSleep(&ph_repl_shared->status_cv);
			LWLockAcquire(ph_repl_shared->lock, LW_SHARED);
			commit = ph_repl_shared->commit_index;
			LWLockRelease(ph_repl_shared->lock);
			if (commit < next)
				(void) ConditionVariableTimedSleep(&ph_repl_shared->status_cv,
												   200, PG_WAIT_EXTENSION);
			ConditionVariableCancelSleep();
			continue;
		}
		if (next < first)
		{
			uint64		snap_index,
						snap_count;
			bool		known;
			uint64		w;

			LWLockAcquire(ph_repl_shared->lock, LW_SHARED);
			snap_index = ph_repl_shared->snap_index;
			snap_count = ph_repl_shared->snap_txn_count;
			known = ph_repl_shared->snap_count_known;
			first = ph_repl_shared->first_index;
			LWLockRelease(ph_repl_shared->lock);
			if (!ledger_ready(&warned_no_ledger))
				continue;
			if (known && snap_index >= next &&
				ph_repl_table_snapshot_needed(snap_index, snap_count))
			{
				/* table changes this node lacks were compacted: copy */
				if (!catching_up)
					ereport(LOG,
							(errmsg("phantom apply: raft entries " UINT64_FORMAT " to " UINT64_FORMAT " are no longer in the log and hold table changes this node has not applied; catching up by a table snapshot from the leader",
									next, snap_index)));
				catching_up = true;
				if (!ph_repl_table_snapshot(first, &w))
				{
					(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									 1000, PG_WAIT_EXTENSION);
					ResetLatch(MyLatch);
					continue;
				}
				catching_up = false;
				next = w + 1;
				set_tables_applied(w);
				continue;
			}
			if (!known && next > 1)
				ereport(WARNING,
						(errmsg("phantom apply: raft entries " UINT64_FORMAT " to " UINT64_FORMAT " are no longer in the log; applying from " UINT64_FORMAT,
								next, first - 1, first),
						 errdetail("The log's snapshot does not say how many table changes it covers (older format); table changes in them, if any, are missing here."),
						 errhint("If phantom tables changed in those entries, rebuild this node with a copy of the tables.")));
			next = first;
			set_tables_applied(next - 1);
			continue;
		}

		if (seg == NULL || dsm_segment_map_length(seg) < bufsize)
		{
			if (seg)
				dsm_detach(seg);
			seg = dsm_create(bufsize, 0);	/* no resource owner: ours
											 * until we detach */
		}
		memset(&req, 0, sizeof(req));
		req.op = PH_REPL_OP_READ;
		req.node = next;
		req.payload_dsm = (uint32) dsm_segment_handle(seg);
		req.payload_len = (uint32) bufsize;
		detail[0] = '\0';
		rc = ph_repl_submit(&req, &count, &need, detail);
		if (rc != PH_RAFT_OK)
		{
			if (strcmp(detail, "compacted") != 0)
				ereport(DEBUG1,
						(errmsg("phantom apply: could not read raft entries: %s", detail)));
			pg_usleep(100000);
			continue;
		}
		if (count == 0)
		{
			if (need > bufsize)
				bufsize = need;
			else
				pg_usleep(50000);
			continue;
		}

		p = dsm_segment_address(seg);
		for (uint64 i = 0; i < count; i++)
		{
			uint64		index,
						term;
			uint8		type;
			uint32		len;

			memcpy(&index, p, 8);
			memcpy(&term, p + 8, 8);
			type = p[16];
			memcpy(&len, p + 17, 4);
			if (type == PH_RAFT_ENTRY_NORMAL && len > 0 &&
				p[21] == PH_REPL_PAYLOAD_TXN)
			{
				if (!ledger_ready(&warned_no_ledger))
					break;
				apply_txn(index, term, p + 22, len - 1);
			}
			next = index + 1;
			set_tables_applied(index);
			p += 21 + len;
		}
	}
}
