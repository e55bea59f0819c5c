/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The commit path of table changes on the leader (DESIGN.md §2.2):
 *	  capture of row changes and DDL of phantom tables, one TXN raft entry
 *	  per committing transaction, the phantom.applied ledger row, and the
 *	  refusal of writes on followers.
 *
 *	  The table AM's write callbacks (src/tableam/modify.c) call
 *	  ph_repl_write_begin before they touch a page (it refuses the write on
 *	  a follower, at the first write of the transaction) and
 *	  ph_repl_capture_* after a successful change.  A change is encoded at
 *	  once into a per-transaction buffer (relation by schema + name, columns
 *	  by name, values in binary send/recv format for built-in types and text
 *	  for user-defined ones), so the entry survives different OIDs per node.
 *	  Subtransactions: the buffer remembers where each subtransaction's
 *	  changes begin; an aborted subtransaction's suffix is cut off.
 *	  DDL on phantom tables (ProcessUtility hook) travels in the same buffer
 *	  as a statement (search_path + text), in order with the row changes.
 *
 *	  At XACT_EVENT_PRE_COMMIT a transaction with changes proposes the
 *	  buffer as one TXN entry, waits until a majority has committed it
 *	  (ph_repl_propose_wait_term), inserts (index, term, origin, xid) into
 *	  phantom.applied in the same transaction, and lets the commit proceed.
 *
 *	  On a server that is not a raft node ph_repl_active is false and every
 *	  entry point returns after one test; no callback is even registered.
 *
 * src/replication/capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "phantom/phantom.h"
#include "phantom/replication/replication.h"

#define ERRCODE_PHANTOM_NOT_LEADER		MAKE_SQLSTATE('P','H','0','1','0')

bool		ph_repl_active = false;
int			phantom_commit_timeout = 10000;

/* per-transaction state */
typedef struct TxnMark
{
	int			offset;			/* buffer length where the run begins */
	uint32		nops;			/* ops before it */
	SubTransactionId subid;
} TxnMark;

static LocalTransactionId checked_lxid = InvalidLocalTransactionId;
static bool capture_on = false;
static StringInfo txn_buf = NULL;	/* in TopTransactionContext */
static uint32 txn_nops = 0;
static TxnMark *marks = NULL;
static int	nmarks = 0,
			maxmarks = 0;
static int	ddl_depth = 0;
static HTAB *relinfo_cache = NULL;	/* in TopTransactionContext */
static MemoryContext enc_cxt = NULL;	/* per-op scratch, child of it */

static Oid	repl_db = InvalidOid;
static SPIPlanPtr ledger_plan = NULL;
static ProcessUtility_hook_type prev_utility = NULL;

static void wait_unknown_before(uint64 index);
static bool in_repl_db(void);

/* How one relation's columns are encoded (cached per transaction). */
typedef struct RelEnc
{
	Oid			relid;			/* hash key */
	char	   *nspname;
	char	   *relname;
	int			natts;
	FmgrInfo   *fn;				/* send or output function per column */
	bool	   *binary;
	bool	   *skip;			/* dropped or generated */
	char	  **names;			/* column names */
	Bitmapset  *key;			/* identity key columns (attnum -
								 * FirstLowInvalidHeapAttributeNumber) */
	bool		full;			/* REPLICA IDENTITY FULL */
	bool		has_key;
} RelEnc;

/* ------------------------------------------------------------------------
 * Status checks
 * ------------------------------------------------------------------------
 */

/*
 * check_cluster_write runs at the first write of a transaction (row or
 * DDL): nothing to do when this node is in no cluster; on a follower the
 * PH010 error naming the leader; on a new leader wait until the apply
 * worker has applied what earlier leaders committed (a write on stale
 * tables would diverge).
 */
static void
check_cluster_write(void)
{
	PhReplShared *sh = ph_repl_shared;
	TimestampTz start = GetCurrentTimestamp();

	/*
	 * checked_lxid is set only on success: after a refusal caught by a
	 * savepoint the next write of the transaction is checked again.
	 */
	capture_on = false;
	for (;;)
	{
		int			n_voters,
					role;
		uint64		tstart,
					tapplied;

		LWLockAcquire(sh->lock, LW_SHARED);
		n_voters = sh->worker_pid != 0 && sh->log_ok ? sh->n_voters : -1;
		role = sh->role;
		tstart = sh->term_start_index;
		tapplied = sh->tables_applied;
		LWLockRelease(sh->lock);

		if (n_voters == 0)
		{
			checked_lxid = MyProc->lxid;
			return;				/* a raft node, but in no cluster: local */
		}
		if (n_voters < 0 &&
			!TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 5000))
		{
			/* the raft worker may be starting (server start, log retry) */
			ConditionVariableTimedSleep(&sh->status_cv, 50, PG_WAIT_EXTENSION);
			continue;
		}
		if (n_voters < 0)
			ereport(ERROR,
					(errcode(ERRCODE_PHANTOM_NOT_LEADER),
					 errmsg("cannot write phantom tables: the phantom raft worker is not running or its log is not available"),
					 errhint("phantom.raft_status() and the server log tell why.")));
		if (!in_repl_db())
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot write phantom tables in database \"%s\" while this server is in a phantom cluster",
							get_database_name(MyDatabaseId)),
					 errdetail("Only the tables of database \"%s\" (phantom.database) are replicated.",
							   phantom_database)));
		if (role != PH_RAFT_LEADER)
		{
			PhReplShared *st = palloc(sizeof(PhReplShared));
			const PhReplMember *l = NULL;

			LWLockAcquire(sh->lock, LW_SHARED);
			memcpy(st, sh, sizeof(PhReplShared));
			LWLockRelease(sh->lock);
			for (int i = 0; i < st->n_members; i++)
				if (st->members[i].id == st->leader_id)
					l = &st->members[i];
			if (l)
				ereport(ERROR,
						(errcode(ERRCODE_PHANTOM_NOT_LEADER),
						 errmsg("cannot write phantom tables on a follower"),
						 errdetail("Only the leader of the phantom cluster accepts writes."),
						 errhint("Write on the leader, node \"%s\" (%s).", l->name, l->conninfo)));
			ereport(ERROR,
					(errcode(ERRCODE_PHANTOM_NOT_LEADER),
					 errmsg("cannot write phantom tables on a follower"),
					 errdetail("Only the leader of the phantom cluster accepts writes."),
					 errhint("No leader is known right now; retry in a few seconds.")));
		}
		if (tapplied >= tstart)
			break;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 10000))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("this new leader is still applying changes committed by the previous leader"),
					 errdetail("Applied up to raft index " UINT64_FORMAT ", needs " UINT64_FORMAT ".",
							   tapplied, tstart),
					 errhint("Retry in a moment; the phantom apply worker must be running (see the server log).")));
		ConditionVariableTimedSleep(&sh->status_cv, 50, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	capture_on = true;
	checked_lxid = MyProc->lxid;
}

/*
 * ph_repl_write_begin: called by every write callback of the table AM
 * before it touches a page.  Returns whether the change must be captured.
 */
bool
ph_repl_write_begin(Relation rel)
{
	if (likely(!ph_repl_active))
		return false;
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		return false;
	if (ddl_depth > 0)
		return false;			/* rewrites inside a replicated statement */
	if (MyProc->lxid != checked_lxid)
		check_cluster_write();
	return capture_on;
}

/* ------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------
 */

static void
put_str(StringInfo b, const char *s)
{
	int			l = strlen(s);

	pq_sendint32(b, l);
	pq_sendbytes(b, s, l);
}

/* txn_buffer returns the transaction's buffer, creating it. */
static StringInfo
txn_buffer(void)
{
	if (txn_buf == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		txn_buf = makeStringInfo();
		maxmarks = 8;
		marks = palloc(sizeof(TxnMark) * maxmarks);
		nmarks = 0;
		txn_nops = 0;
		MemoryContextSwitchTo(old);
	}
	return txn_buf;
}

/*
 * enc_begin switches to a scratch context for encoding one op (detoasted
 * values, send results); enc_end resets it.  The buffer itself lives in
 * TopTransactionContext (repalloc keeps a chunk's context).
 */
static MemoryContext
enc_begin(void)
{
	if (enc_cxt == NULL)
		enc_cxt = AllocSetContextCreate(TopTransactionContext,
										"phantom capture",
										ALLOCSET_DEFAULT_SIZES);
	return MemoryContextSwitchTo(enc_cxt);
}

static void
enc_end(MemoryContext old)
{
	MemoryContextSwitchTo(old);
	MemoryContextReset(enc_cxt);
}

/* op_begin marks where an op starts (for subtransaction rollback). */
static StringInfo
op_begin(void)
{
	StringInfo	b = txn_buffer();
	SubTransactionId sub = GetCurrentSubTransactionId();

	if (nmarks == 0 || marks[nmarks - 1].subid != sub)
	{
		if (nmarks == maxmarks)
		{
			maxmarks *= 2;
			marks = repalloc(marks, sizeof(TxnMark) * maxmarks);
		}
		marks[nmarks].offset = b->len;
		marks[nmarks].nops = txn_nops;
		marks[nmarks].subid = sub;
		nmarks++;
	}
	return b;
}

/* relenc returns (building once per transaction) how rel is encoded. */
static RelEnc *
relenc(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	RelEnc	   *e;
	bool		found;
	MemoryContext old;
	TupleDesc	desc = RelationGetDescr(rel);

	if (relinfo_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RelEnc);
		ctl.hcxt = TopTransactionContext;
		relinfo_cache = hash_create("phantom capture relations", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(relinfo_cache, &relid, HASH_ENTER, &found);
	if (found && e->natts == desc->natts)
		return e;

	old = MemoryContextSwitchTo(TopTransactionContext);
	e->relid = relid;
	e->nspname = get_namespace_name(RelationGetNamespace(rel));
	e->relname = pstrdup(RelationGetRelationName(rel));
	e->natts = desc->natts;
	e->fn = palloc0(sizeof(FmgrInfo) * desc->natts);
	e->binary = palloc0(sizeof(bool) * desc->natts);
	e->skip = palloc0(sizeof(bool) * desc->natts);
	e->names = palloc0(sizeof(char *) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			base,
					elem,
					fnoid;
		bool		isvarlena;

		if (att->attisdropped || att->attgenerated)
		{
			e->skip[i] = true;
			continue;
		}
		e->names[i] = pstrdup(NameStr(att->attname));
		base = getBaseType(att->atttypid);
		elem = get_element_type(base);

		/*
		 * Binary for built-in types (exact, independent of DateStyle and
		 * friends); text for user-defined ones, whose OIDs differ per node
		 * and would break array_recv / record_recv.
		 */
		e->binary[i] = base < FirstNormalObjectId &&
			(!OidIsValid(elem) || elem < FirstNormalObjectId) &&
			base != RECORDOID && get_typtype(base) != TYPTYPE_COMPOSITE;
		if (e->binary[i])
		{
			HeapTuple	tp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(att->atttypid));

			if (!HeapTupleIsValid(tp) ||
				!OidIsValid(((Form_pg_type) GETSTRUCT(tp))->typsend))
				e->binary[i] = false;
			if (HeapTupleIsValid(tp))
				ReleaseSysCache(tp);
		}
		if (e->binary[i])
			getTypeBinaryOutputInfo(att->atttypid, &fnoid, &isvarlena);
		else
			getTypeOutputInfo(att->atttypid, &fnoid, &isvarlena);
		fmgr_info(fnoid, &e->fn[i]);
	}
	e->full = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
	e->has_key = e->full;
	e->key = NULL;
	if (!e->full && OidIsValid(RelationGetReplicaIndex(rel)))
	{
		e->key = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
		e->has_key = true;
	}
	MemoryContextSwitchTo(old);
	return e;
}

/*
 * put_row appends the columns of a row: all (key_only false) or the
 * identity key (key_only true; all columns for REPLICA IDENTITY FULL).
 */
static void
put_row(StringInfo b, RelEnc *e, Datum *values, bool *nulls, bool key_only)
{
	int			countpos = b->len;
	uint16		n = 0;

	pq_sendint16(b, 0);			/* patched below */
	for (int i = 0; i < e->natts; i++)
	{
		if (e->skip[i])
			continue;
		if (key_only && !e->full &&
			!bms_is_member(i + 1 - FirstLowInvalidHeapAttributeNumber, e->key))
			continue;
		put_str(b, e->names[i]);
		n++;
		if (nulls[i])
		{
			pq_sendbyte(b, PH_TXN_VAL_NULL);
			continue;
		}
		if (e->binary[i])
		{
			bytea	   *v = SendFunctionCall(&e->fn[i], values[i]);

			pq_sendbyte(b, PH_TXN_VAL_BINARY);
			pq_sendint32(b, VARSIZE(v) - VARHDRSZ);
			pq_sendbytes(b, VARDATA(v), VARSIZE(v) - VARHDRSZ);
			pfree(v);
		}
		else
		{
			char	   *s = OutputFunctionCall(&e->fn[i], values[i]);

			pq_sendbyte(b, PH_TXN_VAL_TEXT);
			put_str(b, s);
			pfree(s);
		}
	}
	{
		uint16		ne = pg_hton16(n);

		memcpy(b->data + countpos, &ne, 2);
	}
}

static void
put_rel(StringInfo b, char op, RelEnc *e)
{
	pq_sendbyte(b, op);
	put_str(b, e->nspname);
	put_str(b, e->relname);
}

static void
require_identity(Relation rel, RelEnc *e, const char *what)
{
	if (!e->has_key)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s table \"%s\" in a phantom cluster because it has no replica identity",
						what, RelationGetRelationName(rel)),
				 errdetail("Replicated updates and deletes find the row by its primary key or replica identity."),
				 errhint("Add a primary key, or use ALTER TABLE ... REPLICA IDENTITY FULL or USING INDEX.")));
}

/* ------------------------------------------------------------------------
 * Capture entry points (table AM)
 * ------------------------------------------------------------------------
 */

void
ph_repl_capture_insert(Relation rel, TupleTableSlot *slot)
{
	RelEnc	   *e = relenc(rel);
	StringInfo	b = op_begin();
	MemoryContext old = enc_begin();

	slot_getallattrs(slot);
	put_rel(b, PH_TXN_OP_INSERT, e);
	put_row(b, e, slot->tts_values, slot->tts_isnull, false);
	txn_nops++;
	enc_end(old);
}

/*
 * begin_keyed_op starts an UPDATE or DELETE op: the relation and the old
 * row's key (replica identity).  Returns the caller's memory context, to
 * give back to enc_end.
 */
static MemoryContext
begin_keyed_op(Relation rel, RelEnc *e, HeapTuple oldtup, char op,
			   const char *what, StringInfo *b)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old;
	Datum	   *ov;
	bool	   *on;

	require_identity(rel, e, what);
	*b = op_begin();
	old = enc_begin();
	ov = palloc(sizeof(Datum) * desc->natts);
	on = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(oldtup, desc, ov, on);
	put_rel(*b, op, e);
	put_row(*b, e, ov, on, true);
	return old;
}

void
ph_repl_capture_update(Relation rel, HeapTuple oldtup, TupleTableSlot *newslot)
{
	RelEnc	   *e = relenc(rel);
	StringInfo	b;
	MemoryContext old = begin_keyed_op(rel, e, oldtup, PH_TXN_OP_UPDATE,
									   "update", &b);

	slot_getallattrs(newslot);
	put_row(b, e, newslot->tts_values, newslot->tts_isnull, false);
	txn_nops++;
	enc_end(old);
}

void
ph_repl_capture_delete(Relation rel, HeapTuple oldtup)
{
	RelEnc	   *e = relenc(rel);
	StringInfo	b;
	MemoryContext old = begin_keyed_op(rel, e, oldtup, PH_TXN_OP_DELETE,
									   "delete from", &b);

	txn_nops++;
	enc_end(old);
}

/* ------------------------------------------------------------------------
 * Commit path
 * ------------------------------------------------------------------------
 */

static void
reset_txn(void)
{
	txn_buf = NULL;
	txn_nops = 0;
	marks = NULL;
	nmarks = maxmarks = 0;
	relinfo_cache = NULL;
	enc_cxt = NULL;
	ddl_depth = 0;
	checked_lxid = InvalidLocalTransactionId;
	capture_on = false;
}

/*
 * commit_changes proposes the transaction's changes as one TXN entry,
 * waits until a majority committed it and records it in the ledger, in
 * this transaction.
 */
static void
commit_changes(void)
{
	StringInfoData p;
	uint64		index,
				term = 0;
	TransactionId xid = GetTopTransactionId();
	Datum		args[4];
	int			rc;
	Oid			save_userid;
	int			save_sec;

	initStringInfo(&p);
	pq_sendint32(&p, PH_TXN_MAGIC);
	pq_sendint16(&p, PH_TXN_VERSION);
	pq_sendint64(&p, ph_repl_node_id(phantom_node_name));
	pq_sendint64(&p, ph_repl_shared->boot_id);
	pq_sendint32(&p, xid);
	pq_sendint32(&p, txn_nops);
	pq_sendint32(&p, txn_buf->len);
	appendBinaryStringInfo(&p, txn_buf->data, txn_buf->len);

	/*
	 * The ledger row must be durable before the raft log may be compacted
	 * past the entry: with synchronous_commit = off a crash could lose the
	 * local commit after the apply worker had skipped the entry (its ledger
	 * row was visible) and compaction had dropped it.  So this commit is
	 * flushed whatever the session's setting; the client waits for the
	 * raft majority anyway.
	 */
	ForceSyncCommit();

	ph_repl_inflight_index = 0;
	index = ph_repl_propose_wait_term(PH_REPL_PAYLOAD_TXN, p.data, p.len,
									  phantom_commit_timeout, &term);
	wait_unknown_before(index);
	if (phantom_debug_pause_after_raft_commit > 0)
		(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 phantom_debug_pause_after_raft_commit, PG_WAIT_EXTENSION);

	/* the ledger is the extension's, not the writing user's */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ledger_plan == NULL)
	{
		Oid			types[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
		SPIPlanPtr	plan = SPI_prepare("INSERT INTO phantom.applied (index, term, origin, xid) VALUES ($1, $2, $3, $4)",
									   4, types);

		if (plan == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
					 errmsg("could not record raft entry " UINT64_FORMAT " in phantom.applied: %s",
							index, SPI_result_code_string(SPI_result)),
					 errdetail("The change is committed in the phantom cluster; the apply worker applies it to this node's tables."),
					 errhint("Check that table phantom.applied exists and is writable (CREATE EXTENSION phantom).")));
		SPI_keepplan(plan);
		ledger_plan = plan;
	}
	args[0] = Int64GetDatum((int64) index);
	args[1] = Int64GetDatum((int64) term);
	args[2] = Int64GetDatum((int64) ph_repl_node_id(phantom_node_name));
	args[3] = Int64GetDatum((int64) xid);
	rc = SPI_execute_plan(ledger_plan, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		ereport(ERROR,
				(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
				 errmsg("could not record raft entry " UINT64_FORMAT " in phantom.applied: %s",
						index, SPI_result_code_string(rc)),
				 errdetail("The change is committed in the phantom cluster; the apply worker applies it to this node's tables."),
				 errhint("Check that table phantom.applied exists and is writable (CREATE EXTENSION phantom).")));
	SPI_finish();
	PopActiveSnapshot();
	SetUserIdAndSecContext(save_userid, save_sec);
	pfree(p.data);
}

/*
 * wait_unknown_before: an earlier entry of this node whose transaction
 * aborted after proposing it (timeout, cancel, error after the raft
 * commit) may still be committed, and then the apply worker applies it
 * here later.  A transaction whose entry comes after it must not commit
 * locally before that, or this node would apply the two in the wrong
 * order.  Waits until the apply worker has passed it; gives up with 40003
 * (the entry is committed in raft and will be applied in order).
 */
static void
wait_unknown_before(uint64 index)
{
	PhReplShared *sh = ph_repl_shared;
	TimestampTz start = GetCurrentTimestamp();
	int			limit = Min(phantom_commit_timeout, 2000);

	for (;;)
	{
		uint64		um,
					ta;

		LWLockAcquire(sh->lock, LW_SHARED);
		um = sh->unknown_max;
		ta = sh->tables_applied;
		LWLockRelease(sh->lock);
		if (um == 0 || ta >= Min(um, index - 1))
			break;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), limit))
		{
			ConditionVariableCancelSleep();
			ereport(ERROR,
					(errcode(ERRCODE_T_R_STATEMENT_COMPLETION_UNKNOWN),
					 errmsg("raft entry " UINT64_FORMAT " is committed, but this node could not commit it locally yet", index),
					 errdetail("An earlier transaction's entry (" UINT64_FORMAT ") has not been applied here yet; this transaction's changes will be applied by the apply worker after it.",
							   um)));
		}
		ConditionVariableTimedSleep(&sh->status_cv, 20, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/* note_unknown: our proposed entry's transaction aborts (see above). */
static void
note_unknown(uint64 index)
{
	PhReplShared *sh = ph_repl_shared;

	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	if (index > sh->unknown_max)
		sh->unknown_max = index;
	LWLockRelease(sh->lock);
}

static void
xact_cb(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (txn_nops > 0 && !ph_repl_applying)
				commit_changes();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (txn_nops > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that changed phantom tables in a phantom cluster"),
						 errdetail("Two-phase commit of replicated phantom tables is not supported yet.")));
			break;
		case XACT_EVENT_ABORT:
			if (ph_repl_inflight_index != 0 && txn_nops > 0)
				note_unknown(ph_repl_inflight_index);
			ph_repl_inflight_index = 0;
			reset_txn();
			break;
		case XACT_EVENT_COMMIT:
			ph_repl_inflight_index = 0;
			reset_txn();
			break;
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			reset_txn();
			break;
		default:
			break;
	}
}

/* An aborted subtransaction's changes are cut off the buffer. */
static void
subxact_cb(SubXactEvent event, SubTransactionId mySubid,
		   SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB || txn_buf == NULL)
		return;
	for (int i = 0; i < nmarks; i++)
		if (marks[i].subid >= mySubid)
		{
			txn_buf->len = marks[i].offset;
			txn_buf->data[txn_buf->len] = '\0';
			txn_nops = marks[i].nops;
			nmarks = i;
			break;
		}
}

/* ------------------------------------------------------------------------
 * DDL
 * ------------------------------------------------------------------------
 */

static bool
relid_is_phantom(Oid relid)
{
	HeapTuple	tp;
	bool		res = false;
	Oid			am = get_table_am_oid("phantom", true);

	if (!OidIsValid(relid) || !OidIsValid(am))
		return false;
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(tp))
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tp);

		if (c->relkind == RELKIND_INDEX)
		{
			ReleaseSysCache(tp);
			return relid_is_phantom(IndexGetRelation(relid, true));
		}
		res = c->relam == am && c->relpersistence == RELPERSISTENCE_PERMANENT;
		ReleaseSysCache(tp);
	}
	return res;
}

static bool
rv_is_phantom(RangeVar *rv)
{
	if (rv == NULL)
		return false;
	return relid_is_phantom(RangeVarGetRelid(rv, NoLock, true));
}

static bool
am_is_phantom(const char *am, char persistence)
{
	if (persistence != RELPERSISTENCE_PERMANENT)
		return false;
	if (am == NULL)
		am = default_table_access_method;
	return am && strcmp(am, "phantom") == 0;
}

/*
 * in_repl_db: is this session in phantom.database?  Schema objects of
 * other databases are local.
 */
static bool
in_repl_db(void)
{
	if (!OidIsValid(repl_db))
		repl_db = get_database_oid(phantom_database, true);
	return MyDatabaseId == repl_db;
}

/*
 * objtype_replicated: database-level objects that phantom tables may
 * depend on (column types, defaults, checks, triggers) and that a new
 * leader must have: their DDL in phantom.database is replicated.
 * Cluster-wide objects (roles, databases, tablespaces) and objects with
 * node-local state (extensions, publications, subscriptions, foreign
 * servers, event triggers, large objects, materialized views) are not.
 */
static bool
objtype_replicated(ObjectType t)
{
	switch (t)
	{
		case OBJECT_SCHEMA:
		case OBJECT_TYPE:
		case OBJECT_DOMAIN:
		case OBJECT_DOMCONSTRAINT:
		case OBJECT_ATTRIBUTE:
		case OBJECT_FUNCTION:
		case OBJECT_PROCEDURE:
		case OBJECT_ROUTINE:
		case OBJECT_AGGREGATE:
		case OBJECT_OPERATOR:
		case OBJECT_OPCLASS:
		case OBJECT_OPFAMILY:
		case OBJECT_CAST:
		case OBJECT_COLLATION:
		case OBJECT_CONVERSION:
		case OBJECT_TSCONFIGURATION:
		case OBJECT_TSDICTIONARY:
		case OBJECT_TSPARSER:
		case OBJECT_TSTEMPLATE:
		case OBJECT_TRANSFORM:
			return true;
		default:
			return false;
	}
}

/* objects named by their relation's name list plus their own name */
static bool
objtype_of_relation(ObjectType t)
{
	return t == OBJECT_TRIGGER || t == OBJECT_POLICY || t == OBJECT_RULE ||
		t == OBJECT_TABCONSTRAINT || t == OBJECT_COLUMN;
}

/* a permanent view or sequence (temporary ones are local) */
static bool
rv_is_permanent(RangeVar *rv)
{
	Oid			relid;

	if (rv == NULL || rv->relpersistence == RELPERSISTENCE_TEMP)
		return false;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		return rv->schemaname == NULL || strcmp(rv->schemaname, "pg_temp") != 0;
	return get_rel_persistence(relid) == RELPERSISTENCE_PERMANENT;
}

/*
 * object_kind: the ddl_kind of a statement about one named object of type
 * t (DROP, COMMENT, ALTER ... RENAME / OWNER / SET SCHEMA, GRANT).
 */
static int
object_kind(ObjectType t, Node *object)
{
	List	   *names;

	switch (t)
	{
		case OBJECT_TABLE:
		case OBJECT_INDEX:
			return IsA(object, List) &&
				rv_is_phantom(makeRangeVarFromNameList((List *) object)) ? 1 : 0;
		case OBJECT_VIEW:
		case OBJECT_SEQUENCE:
			return in_repl_db() && IsA(object, List) &&
				rv_is_permanent(makeRangeVarFromNameList((List *) object)) ? 1 : 0;
		default:
			break;
	}
	if (objtype_of_relation(t))
	{
		if (!IsA(object, List) || list_length((List *) object) < 2)
			return 0;
		names = list_truncate(list_copy((List *) object),
							  list_length((List *) object) - 1);
		return rv_is_phantom(makeRangeVarFromNameList(names)) ? 1 : 0;
	}
	return objtype_replicated(t) && in_repl_db() ? 1 : 0;
}

/* ddl_kind: 0 = not about phantom tables, 1 = replicate, -1 = refuse. */
static int
ddl_kind(Node *n)
{
	ListCell   *lc;

	if (creating_extension)
		return 0;				/* an extension's script: every node runs it */
	switch (nodeTag(n))
	{
		case T_CreateStmt:
			{
				CreateStmt *s = (CreateStmt *) n;

				return am_is_phantom(s->accessMethod, s->relation->relpersistence) ? 1 : 0;
			}
		case T_CreateTableAsStmt:
			{
				CreateTableAsStmt *s = (CreateTableAsStmt *) n;

				if (s->objtype == OBJECT_TABLE &&
					am_is_phantom(s->into->accessMethod, s->into->rel->relpersistence))
					return -1;
				return 0;
			}
		case T_IndexStmt:
			return rv_is_phantom(((IndexStmt *) n)->relation) ? 1 : 0;
		case T_AlterTableStmt:
			return rv_is_phantom(((AlterTableStmt *) n)->relation) ? 1 : 0;
		case T_RenameStmt:
			{
				RenameStmt *s = (RenameStmt *) n;

				if (s->relation)
				{
					if (s->renameType == OBJECT_VIEW || s->renameType == OBJECT_SEQUENCE)
						return in_repl_db() && rv_is_permanent(s->relation) ? 1 : 0;
					return rv_is_phantom(s->relation) ? 1 : 0;
				}
				return s->object ? object_kind(s->renameType, s->object) : 0;
			}
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) n)->relations)
				if (rv_is_phantom(lfirst(lc)))
				return 1;
			return 0;
		case T_DropStmt:
			{
				DropStmt   *s = (DropStmt *) n;

				foreach(lc, s->objects)
					if (object_kind(s->removeType, lfirst(lc)) > 0)
					return 1;
				return 0;
			}

			/* objects of phantom tables */
		case T_CreateTrigStmt:
			return rv_is_phantom(((CreateTrigStmt *) n)->relation) ? 1 : 0;
		case T_CreatePolicyStmt:
			return rv_is_phantom(((CreatePolicyStmt *) n)->table) ? 1 : 0;
		case T_AlterPolicyStmt:
			return rv_is_phantom(((AlterPolicyStmt *) n)->table) ? 1 : 0;
		case T_RuleStmt:
			return rv_is_phantom(((RuleStmt *) n)->relation) ? 1 : 0;
		case T_CreateStatsStmt:
			foreach(lc, ((CreateStatsStmt *) n)->relations)
				if (IsA(lfirst(lc), RangeVar) && rv_is_phantom(lfirst(lc)))
				return 1;
			return 0;
		case T_CommentStmt:
			return object_kind(((CommentStmt *) n)->objtype,
							   ((CommentStmt *) n)->object);
		case T_GrantStmt:
			{
				GrantStmt  *s = (GrantStmt *) n;
				int			phantom = 0,
							other = 0;

				if (s->targtype != ACL_TARGET_OBJECT)
					return 0;	/* ALL TABLES IN SCHEMA: each node's own */
				if (s->objtype == OBJECT_TABLE)
				{
					foreach(lc, s->objects)
					{
						RangeVar   *rv = lfirst(lc);
						Oid			relid = RangeVarGetRelid(rv, NoLock, true);
						char		relkind = OidIsValid(relid) ? get_rel_relkind(relid) : 0;

						if (relid_is_phantom(relid) ||
							((relkind == RELKIND_VIEW || relkind == RELKIND_SEQUENCE) &&
							 in_repl_db() && rv_is_permanent(rv)))
							phantom++;
						else
							other++;
					}
					if (phantom > 0 && other > 0)
						return -2;
					return phantom > 0 ? 1 : 0;
				}
				return objtype_replicated(s->objtype) && in_repl_db() ? 1 : 0;
			}
		case T_AlterOwnerStmt:
			{
				AlterOwnerStmt *s = (AlterOwnerStmt *) n;

				return s->relation ? (rv_is_phantom(s->relation) ? 1 : 0) :
					object_kind(s->objectType, s->object);
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *s = (AlterObjectSchemaStmt *) n;

				if (s->relation)
				{
					if (s->objectType == OBJECT_VIEW || s->objectType == OBJECT_SEQUENCE)
						return in_repl_db() && rv_is_permanent(s->relation) ? 1 : 0;
					return rv_is_phantom(s->relation) ? 1 : 0;
				}
				return object_kind(s->objectType, s->object);
			}

			/* database-level objects phantom tables may use */
		case T_CreateSchemaStmt:
		case T_DefineStmt:
		case T_CompositeTypeStmt:
		case T_CreateEnumStmt:
		case T_CreateRangeStmt:
		case T_AlterEnumStmt:
		case T_CreateDomainStmt:
		case T_AlterDomainStmt:
		case T_CreateFunctionStmt:
		case T_AlterFunctionStmt:
		case T_CreateCastStmt:
		case T_CreateOpClassStmt:
		case T_CreateOpFamilyStmt:
		case T_AlterOpFamilyStmt:
		case T_CreateConversionStmt:
		case T_CreateTransformStmt:
		case T_AlterTSDictionaryStmt:
		case T_AlterTSConfigurationStmt:
		case T_AlterTypeStmt:
		case T_AlterOperatorStmt:
		case T_AlterCollationStmt:
			return in_repl_db() ? 1 : 0;
		case T_CreateSeqStmt:
			return in_repl_db() && rv_is_permanent(((CreateSeqStmt *) n)->sequence) ? 1 : 0;
		case T_AlterSeqStmt:
			return in_repl_db() && rv_is_permanent(((AlterSeqStmt *) n)->sequence) ? 1 : 0;
		case T_ViewStmt:
			return in_repl_db() && rv_is_permanent(((ViewStmt *) n)->view) ? 1 : 0;
		default:
			return 0;
	}
}

static void
repl_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			 ProcessUtilityContext context, ParamListInfo params,
			 QueryEnvironment *queryEnv, DestReceiver *dest,
			 QueryCompletion *qc)
{
	Node	   *n = pstmt->utilityStmt;
	int			kind = 0;

	if (ph_repl_active && ddl_depth == 0)
		kind = ddl_kind(n);
	if (kind != 0)
	{
		if (MyProc->lxid != checked_lxid)
			check_cluster_write();
		if (!capture_on)
			kind = 0;			/* not in a cluster */
	}
	if (kind == -2)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot GRANT or REVOKE on phantom tables and other tables in one statement in a phantom cluster"),
				 errdetail("Privileges on phantom tables are replicated to every node; those on other tables stay on this node."),
				 errhint("Split the statement: one for the phantom tables, one for the others.")));
	if (kind < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("CREATE TABLE AS / SELECT INTO a phantom table is not supported in a phantom cluster"),
				 errhint("Use CREATE TABLE ... USING phantom, then INSERT ... SELECT.")));
	if (kind > 0 &&
		((IsA(n, IndexStmt) && ((IndexStmt *) n)->concurrent) ||
		 (IsA(n, DropStmt) && ((DropStmt *) n)->concurrent)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("CONCURRENTLY is not supported on phantom tables in a phantom cluster"),
				 errhint("Run the statement without CONCURRENTLY.")));
	if (kind == 0)
	{
		if (prev_utility)
			prev_utility(pstmt, queryString, readOnlyTree, context, params,
						 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		return;
	}

	/* a statement block needs the xid; the entry is proposed at commit */
	ddl_depth++;
	PG_TRY();
	{
		if (prev_utility)
			prev_utility(pstmt, queryString, readOnlyTree, context, params,
						 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		ddl_depth--;
	}
	PG_END_TRY();

	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		StringInfo	b = op_begin();
		int			loc = pstmt->stmt_location > 0 ? pstmt->stmt_location : 0;
		int			len = pstmt->stmt_len > 0 ? pstmt->stmt_len : (int) strlen(queryString + loc);
		char	   *text = pnstrdup(queryString + loc, len);

		(void) GetTopTransactionId();
		pq_sendbyte(b, PH_TXN_OP_DDL);
		put_str(b, GetConfigOption("search_path", false, false));
		put_str(b, text);
		txn_nops++;
		relinfo_cache = NULL;	/* descriptors may have changed */
		MemoryContextSwitchTo(old);
	}
}

/* ph_repl_capture_init: called from _PG_init on a raft node only. */
void
ph_repl_capture_init(void)
{
	ph_repl_active = true;
	RegisterXactCallback(xact_cb, NULL);
	RegisterSubXactCallback(subxact_cb, NULL);
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = repl_utility;
}
