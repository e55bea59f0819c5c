/*-------------------------------------------------------------------------
 *
 * sql.c
 *	  SQL API of the replication group (schema phantom): cluster_create,
 *	  node_add, node_remove, leader_transfer, raft_status and the set
 *	  behind the view phantom.nodes.
 *
 *	  Backends never touch the Raft core: they read the status the raft
 *	  worker publishes in shared memory and hand it operations through
 *	  their own request slot (ph_repl_slots[pgprocno]), then wait on the
 *	  slot's condition variable until the worker answered; a proposal's
 *	  answer comes once its entry is committed (or lost), with no second
 *	  request.  Multi-step operations (node_add:
 *	  address book entry, add learner, wait until caught up, promote) are
 *	  driven from here, so the worker stays non-blocking.
 *
 *	  Locking: ph_repl_shared->lock in shared mode to copy the status,
 *	  queue_lock exclusive to fill / empty the request slot; never held
 *	  while sleeping.  A backend interrupted while its request is pending
 *	  marks it abandoned (the worker frees it).
 *
 * src/replication/sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/dsm.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "phantom/phantom.h"
#include "phantom/replication/replication.h"

#define ERRCODE_PHANTOM_NOT_LEADER		MAKE_SQLSTATE('P','H','0','1','0')
#define ERRCODE_PHANTOM_NOT_CONFIGURED	MAKE_SQLSTATE('P','H','0','1','1')
#define ERRCODE_PHANTOM_NO_WORKER		MAKE_SQLSTATE('P','H','0','1','2')

#define SHORT_WAIT_MS	10000

PG_FUNCTION_INFO_V1(phantom_cluster_create);
PG_FUNCTION_INFO_V1(phantom_node_add);
PG_FUNCTION_INFO_V1(phantom_node_remove);
PG_FUNCTION_INFO_V1(phantom_leader_transfer);
PG_FUNCTION_INFO_V1(phantom_raft_status);
PG_FUNCTION_INFO_V1(phantom_raft_nodes);
PG_FUNCTION_INFO_V1(phantom_raft_propose);

/* check_admin: superuser or member of phantom_admin. */
static void
check_admin(void)
{
	Oid			admin = get_role_oid("phantom_admin", true);

	if (superuser())
		return;
	if (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to manage the phantom cluster"),
			 errhint("Only superusers and members of the role phantom_admin may do this.")));
}

/* status_copy copies the worker's published status into palloc'd memory. */
static PhReplShared *
status_copy(void)
{
	PhReplShared *st = palloc(sizeof(PhReplShared));

	LWLockAcquire(ph_repl_shared->lock, LW_SHARED);
	memcpy(st, ph_repl_shared, sizeof(PhReplShared));
	LWLockRelease(ph_repl_shared->lock);
	return st;
}

/* check_running: configured, worker alive and its raft log usable. */
static PhReplShared *
check_running(void)
{
	PhReplShared *st;

	if (!ph_repl_configured())
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NOT_CONFIGURED),
				 errmsg("this server is not configured as a phantom raft node"),
				 errhint("Set phantom.node_name, phantom.raft_listen and phantom.cluster_secret in postgresql.conf and restart the server.")));
	st = status_copy();
	if (st->worker_pid == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NO_WORKER),
				 errmsg("the phantom raft worker is not running"),
				 errhint("Check the server log; phantom.cluster_secret must be set.  The worker is restarted automatically after a crash.")));
	if (!st->log_ok)
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NO_WORKER),
				 errmsg("the phantom raft log is not available"),
				 errdetail("%s", st->log_error)));
	return st;
}

static const PhReplMember *
member_by_id(const PhReplShared *st, uint64 id)
{
	int			i;

	for (i = 0; i < st->n_members; i++)
		if (st->members[i].id == id)
			return &st->members[i];
	return NULL;
}

static const PhReplMember *
member_by_name(const PhReplShared *st, const char *name)
{
	int			i;

	for (i = 0; i < st->n_members; i++)
		if (strcmp(st->members[i].name, name) == 0)
			return &st->members[i];
	return NULL;
}

/* not_leader_error raises "not leader", naming the leader if known. */
void
ph_repl_not_leader_error(const PhReplShared *st)
{
	const PhReplMember *l = member_by_id(st, st->leader_id);

	if (l)
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NOT_LEADER),
				 errmsg("this node is not the leader of the phantom cluster"),
				 errhint("Run this on the leader, node \"%s\" (%s).", l->name, l->conninfo)));
	ereport(ERROR,
			(errcode(ERRCODE_PHANTOM_NOT_LEADER),
			 errmsg("this node is not the leader of the phantom cluster"),
			 errhint(st->n_voters > 0 ? "No leader is known right now; retry in a few seconds." :
					 "This node is not part of a cluster: run phantom.cluster_create() to start one, or phantom.node_add() on the leader of an existing one.")));
}

#define not_leader_error(st) ph_repl_not_leader_error(st)

static void
require_leader(const PhReplShared *st)
{
	if (st->role != PH_RAFT_LEADER)
		not_leader_error(st);
}

static void
check_name(const char *name)
{
	if (!ph_repl_valid_name(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid node name \"%s\"", name),
				 errhint("A node name has 1 to %d letters, digits, '_', '-' or '.'.",
						 PH_REPL_NAME_LEN - 1)));
}

static const PhReplMember *
require_member(const PhReplShared *st, const char *name)
{
	const PhReplMember *m;

	check_name(name);
	m = member_by_name(st, name);
	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" is not a member of the phantom cluster", name),
				 errhint("SELECT name FROM phantom.nodes lists the members.")));
	return m;
}

/* my_slot: this process's request slot (slot = pgprocno). */
static PhReplSlot *
my_slot(void)
{
	if (ph_repl_slots == NULL || MyProc == NULL ||
		MyProc->pgprocno < 0 || MyProc->pgprocno >= ph_repl_n_slots)
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NO_WORKER),
				 errmsg("this process cannot send requests to the phantom raft worker")));
	return &ph_repl_slots[MyProc->pgprocno];
}

/* wake_worker sets the raft worker's latch (it drains the queue). */
static void
wake_worker(void)
{
	Latch	   *wl;

	LWLockAcquire(ph_repl_shared->lock, LW_SHARED);
	wl = ph_repl_shared->worker_latch;
	LWLockRelease(ph_repl_shared->lock);
	if (wl)
		SetLatch(wl);
}

static bool
worker_running(void)
{
	bool		r;

	LWLockAcquire(ph_repl_shared->lock, LW_SHARED);
	r = ph_repl_shared->worker_pid != 0;
	LWLockRelease(ph_repl_shared->lock);
	return r;
}

/*
 * enqueue puts *in (and an inline payload) into this process's slot and
 * wakes the worker; returns the request's sequence number.  A slot still
 * in use (left by a process that died with a request pending, with our
 * pgprocno) is given up first and waited for (the worker frees it).
 */
static uint64
enqueue(PhReplSlot *slot, PhReplRequest *in, const void *payload,
		uint32 payload_len)
{
	PhReplShared *sh = ph_repl_shared;
	TimestampTz start = GetCurrentTimestamp();
	uint64		myseq = 0;

	if (!worker_running())
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NO_WORKER),
				 errmsg("the phantom raft worker is not running")));
	ConditionVariablePrepareToSleep(&slot->cv);
	for (;;)
	{
		bool		claimed = false,
					retry = false;

		LWLockAcquire(sh->queue_lock, LW_EXCLUSIVE);
		switch (slot->req.state)
		{
			case PH_REPL_REQ_FREE:
				myseq = slot->req.seq + 1;
				slot->req = *in;
				slot->req.seq = myseq;
				slot->req.state = PH_REPL_REQ_PENDING;
				if (payload_len > 0)
					memcpy(slot->payload, payload, payload_len);
				sh->n_pending++;
				claimed = true;
				break;
			case PH_REPL_REQ_DONE:
				slot->req.state = PH_REPL_REQ_FREE;
				retry = true;
				break;
			case PH_REPL_REQ_ABANDONED:
				break;
			default:
				slot->req.state = PH_REPL_REQ_ABANDONED;
				sh->n_pending++;
				break;
		}
		LWLockRelease(sh->queue_lock);
		if (claimed)
			break;
		if (retry)
			continue;
		wake_worker();
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), SHORT_WAIT_MS))
		{
			ConditionVariableCancelSleep();
			ereport(ERROR,
					(errcode(ERRCODE_PHANTOM_NO_WORKER),
					 errmsg("the phantom raft worker did not release this backend's request slot")));
		}
		(void) ConditionVariableTimedSleep(&slot->cv, 100, PG_WAIT_EXTENSION);
		CHECK_FOR_INTERRUPTS();
	}
	ConditionVariableCancelSleep();
	wake_worker();
	return myseq;
}

/*
 * give_up: the requester stops waiting (error, cancel, timeout).  A
 * request the worker still has is marked abandoned (the worker frees the
 * slot), an answer is dropped.  Returns the index of the entry if the
 * request is a proposal already in the log (its outcome is unknown).
 */
static uint64
give_up(PhReplSlot *slot, uint64 myseq)
{
	PhReplShared *sh = ph_repl_shared;
	uint64		index = 0;
	bool		wake = false;

	LWLockAcquire(sh->queue_lock, LW_EXCLUSIVE);
	if (slot->req.seq == myseq)
	{
		switch (slot->req.state)
		{
			case PH_REPL_REQ_PROPOSED:
				index = slot->req.index;
				/* fall through */
			case PH_REPL_REQ_PENDING:
			case PH_REPL_REQ_TAKEN:
				slot->req.state = PH_REPL_REQ_ABANDONED;
				sh->n_pending++;
				wake = true;
				break;
			case PH_REPL_REQ_DONE:
				if (slot->req.op == PH_REPL_OP_PROPOSE && slot->req.rc == PH_RAFT_OK)
					index = slot->req.index;
				slot->req.state = PH_REPL_REQ_FREE;
				break;
			default:
				break;
		}
	}
	LWLockRelease(sh->queue_lock);
	if (wake)
		wake_worker();
	return index;
}

/*
 * await_answer waits until the worker answered request myseq (DONE) and copies
 * the answer to *out, freeing the slot.  For a proposal it first waits
 * (at most 2 * SHORT_WAIT_MS) until the entry is in the log (PROPOSED;
 * then ph_repl_inflight_index is set), then at most commit_timeout_ms
 * until it is decided; returns false if that timed out (the slot is
 * given up).  Errors and cancels give the slot up too.
 */
static bool
await_answer(PhReplSlot *slot, uint64 myseq, int commit_timeout_ms, PhReplRequest *out)
{
	PhReplShared *sh = ph_repl_shared;
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz proposed_at = 0;
	bool		done = false;
	bool		timed_out = false;

	PG_TRY();
	{
		ConditionVariablePrepareToSleep(&slot->cv);
		for (;;)
		{
			PhReplReqState state;
			long		sleep_ms = 100;

			LWLockAcquire(sh->queue_lock, LW_EXCLUSIVE);
			state = slot->req.seq == myseq ? slot->req.state : PH_REPL_REQ_FREE;
			if (state == PH_REPL_REQ_DONE)
			{
				*out = slot->req;
				slot->req.state = PH_REPL_REQ_FREE;
				done = true;
			}
			else if (state == PH_REPL_REQ_PROPOSED && proposed_at == 0)
			{
				ph_repl_inflight_index = slot->req.index;
				proposed_at = GetCurrentTimestamp();
			}
			LWLockRelease(sh->queue_lock);
			if (done)
				break;
			if (state == PH_REPL_REQ_FREE)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("lost the phantom raft request")));
			if (proposed_at != 0)
			{
				long		waited = (long) ((GetCurrentTimestamp() - proposed_at) / 1000);

				if (waited >= commit_timeout_ms)
				{
					timed_out = true;
					break;
				}
				sleep_ms = Min(sleep_ms, commit_timeout_ms - waited);
			}
			else if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 2 * SHORT_WAIT_MS))
				ereport(ERROR,
						(errcode(ERRCODE_PHANTOM_NO_WORKER),
						 errmsg("the phantom raft worker did not answer")));
			if (!worker_running())
				ereport(ERROR,
						(errcode(ERRCODE_PHANTOM_NO_WORKER),
						 errmsg("the phantom raft worker exited")));
			(void) ConditionVariableTimedSleep(&slot->cv, sleep_ms, PG_WAIT_EXTENSION);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		uint64		idx = give_up(slot, myseq);

		if (idx != 0)
			ph_repl_inflight_index = idx;
		ConditionVariableCancelSleep();
		PG_RE_THROW();
	}
	PG_END_TRY();
	ConditionVariableCancelSleep();
	if (timed_out)
	{
		uint64		idx = give_up(slot, myseq);

		if (idx != 0)
			ph_repl_inflight_index = idx;
		return false;
	}
	if (out->op == PH_REPL_OP_PROPOSE && out->rc == PH_RAFT_OK)
		ph_repl_inflight_index = out->index;
	return true;
}

/*
 * submit hands one operation (not PROPOSE) to the worker and waits for
 * its answer (not for the entry to be committed).  Returns the worker's
 * rc; *index and *term tell where a proposed entry landed.
 */
static int
submit(PhReplRequest *in, uint64 *index, uint64 *term, char *errmsg_out)
{
	PhReplSlot *slot = my_slot();
	PhReplRequest out;
	uint64		myseq;

	Assert(in->op != PH_REPL_OP_PROPOSE);
	myseq = enqueue(slot, in, NULL, 0);
	(void) await_answer(slot, myseq, 0, &out);
	*index = out.index;
	*term = out.term;
	strlcpy(errmsg_out, out.errmsg, 256);
	return out.rc;
}

/*
 * run_op submits an operation, retrying while a fresh leader is not ready
 * yet, and turns failures into errors.
 */
static void
run_op(PhReplOp op, int conf_op, uint64 node, const char *name,
	   const char *conninfo, const char *addr, uint64 *index, uint64 *term)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		PhReplRequest req;
		char		detail[256];
		int			rc;
		PhReplShared *st;

		memset(&req, 0, sizeof(req));
		req.op = op;
		req.conf_op = conf_op;
		req.node = node;
		strlcpy(req.name, name ? name : "", sizeof(req.name));
		strlcpy(req.conninfo, conninfo ? conninfo : "", sizeof(req.conninfo));
		strlcpy(req.addr, addr ? addr : "", sizeof(req.addr));
		detail[0] = '\0';
		rc = submit(&req, index, term, detail);
		switch (rc)
		{
			case PH_RAFT_OK:
				return;
			case PH_RAFT_ERR_NOT_READY:
			case PH_RAFT_ERR_BUSY:
				if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), SHORT_WAIT_MS))
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("the phantom cluster is not ready: %s", ph_raft_strerror(rc)),
							 errhint("Retry in a few seconds.")));
				pg_usleep(50000);
				CHECK_FOR_INTERRUPTS();
				continue;
			case PH_RAFT_ERR_NOT_LEADER:
				st = status_copy();
				not_leader_error(st);
				break;
			case PH_RAFT_ERR_CONF_PENDING:
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("another membership change of the phantom cluster is in progress"),
						 errhint("Retry once it is committed (a few seconds).")));
				break;
			case PH_RAFT_ERR_TRANSFERRING:
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("a leadership transfer is in progress"),
						 errhint("Retry in a few seconds.")));
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("phantom cluster operation failed: %s",
								detail[0] ? detail : ph_raft_strerror(rc))));
		}
	}
}

/* ph_repl_submit: submit() for the apply worker (apply.c). */
int
ph_repl_submit(PhReplRequest *in, uint64 *index, uint64 *term, char *errmsg_out)
{
	return submit(in, index, term, errmsg_out);
}

uint64		ph_repl_inflight_index = 0;

typedef bool (*StatusPred) (const PhReplShared *st, uint64 arg);

/*
 * wait_status waits until pred holds on the published status, at most
 * timeout_ms; returns false on timeout.  Cancelable.
 */
static bool
wait_status(StatusPred pred, uint64 arg, int timeout_ms)
{
	PhReplShared *sh = ph_repl_shared;
	TimestampTz start = GetCurrentTimestamp();
	bool		ok = false;

	ConditionVariablePrepareToSleep(&sh->status_cv);
	for (;;)
	{
		PhReplShared *st = status_copy();

		ok = pred(st, arg);
		pfree(st);
		if (ok || TimestampDifferenceExceeds(start, GetCurrentTimestamp(), timeout_ms))
			break;
		(void) ConditionVariableTimedSleep(&sh->status_cv, 100, PG_WAIT_EXTENSION);
		CHECK_FOR_INTERRUPTS();
	}
	ConditionVariableCancelSleep();
	return ok;
}

static bool
pred_applied(const PhReplShared *st, uint64 index)
{
	return st->applied_index >= index || st->role != PH_RAFT_LEADER;
}

static bool
pred_bootstrapped(const PhReplShared *st, uint64 id)
{
	return st->role == PH_RAFT_LEADER && member_by_id(st, id) != NULL;
}

static bool
pred_caught_up(const PhReplShared *st, uint64 id)
{
	const PhReplMember *m = member_by_id(st, id);

	return st->role != PH_RAFT_LEADER ||
		(m && m->has_match && m->match >= st->commit_index);
}

static bool
pred_leader_is(const PhReplShared *st, uint64 id)
{
	return st->leader_id == id;
}

/* wait_applied waits until the leader applied index (or lost leadership). */
static void
wait_applied(uint64 index)
{
	PhReplShared *st;

	if (!wait_status(pred_applied, index, SHORT_WAIT_MS))
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NOT_LEADER),
				 errmsg("timed out waiting for the phantom cluster to commit the change"),
				 errhint("A majority of the voters must be reachable; phantom.nodes shows them.")));
	st = status_copy();
	if (st->role != PH_RAFT_LEADER)
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NOT_LEADER),
				 errmsg("this node lost the leadership while the change was being committed"),
				 errdetail("The change may or may not be committed; phantom.nodes shows the outcome.")));
}

/*
 * phantom.cluster_create(conninfo text DEFAULT NULL) → bigint: makes this
 * node a one-node group and waits until it leads it and its own entry is
 * in the address book.  Returns the node's raft id.
 */
Datum
phantom_cluster_create(PG_FUNCTION_ARGS)
{
	char	   *conninfo = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	PhReplShared *st;
	uint64		index,
				term;

	check_admin();
	st = check_running();
	if (strlen(conninfo) >= PH_REPL_CONNINFO_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conninfo is too long (at most %d bytes)", PH_REPL_CONNINFO_LEN - 1)));
	if (st->n_voters + st->n_learners > 0 || st->last_index > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("this node is already part of a phantom cluster"),
				 errhint("phantom.raft_status() and phantom.nodes describe it.")));
	run_op(PH_REPL_OP_BOOTSTRAP, 0, 0, NULL, conninfo, NULL, &index, &term);
	if (!wait_status(pred_bootstrapped, st->my_id, SHORT_WAIT_MS))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the new phantom cluster did not elect this node within %d ms", SHORT_WAIT_MS),
				 errhint("Check the server log.")));
	PG_RETURN_INT64((int64) st->my_id);
}

/*
 * phantom.node_add(name, conninfo, raft_address): leader only.  Adds the
 * node to the address book, as a learner, waits until its log caught up
 * (phantom.node_add_timeout) and promotes it to voter.  On timeout the
 * learner and its address book entry are removed again.
 */
Datum
phantom_node_add(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *conninfo = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *addr = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char		host[PH_REPL_ADDR_LEN];
	int			port;
	PhReplShared *st;
	uint64		id,
				index,
				term;
	int			i;
	TimestampTz start;

	check_admin();
	check_name(name);
	if (conninfo[0] == '\0' || strlen(conninfo) >= PH_REPL_CONNINFO_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid conninfo for node \"%s\"", name),
				 errhint("Give a libpq connection string of at most %d bytes, e.g. 'host=10.0.0.2 port=5432 dbname=postgres'.",
						 PH_REPL_CONNINFO_LEN - 1)));
	if (!ph_repl_parse_address(addr, host, sizeof(host), &port))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid raft address \"%s\"", addr),
				 errhint("The raft address is 'host:port' with a port in 1..65535, as in the node's phantom.raft_listen.")));
	st = check_running();
	require_leader(st);
	id = ph_repl_node_id(name);
	for (i = 0; i < st->n_members; i++)
	{
		const PhReplMember *m = &st->members[i];

		if (strcmp(m->name, name) == 0 || m->id == id)
		{
			if (m->conf_role != PH_REPL_CONF_NONE)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("node \"%s\" is already a member of the phantom cluster", name)));
		}
		else if (strcmp(m->raft_address, addr) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("raft address \"%s\" already belongs to node \"%s\"", addr, m->name)));
	}

	run_op(PH_REPL_OP_MEMBER_SET, 0, id, name, conninfo, addr, &index, &term);
	wait_applied(index);
	run_op(PH_REPL_OP_CONF, PH_RAFT_CONF_ADD_LEARNER, id, NULL, NULL, NULL, &index, &term);
	wait_applied(index);

	/* wait until the learner caught up, then promote it */
	start = GetCurrentTimestamp();
	for (;;)
	{
		PhReplRequest req;
		char		detail[256];
		int			rc;
		int			left = phantom_node_add_timeout -
			(int) ((GetCurrentTimestamp() - start) / 1000);

		if (left <= 0 || !wait_status(pred_caught_up, id, left))
		{
			/* give up: take the learner out again (best effort) */
			memset(&req, 0, sizeof(req));
			req.op = PH_REPL_OP_CONF;
			req.conf_op = PH_RAFT_CONF_REMOVE;
			req.node = id;
			if (submit(&req, &index, &term, detail) == PH_RAFT_OK)
				(void) wait_status(pred_applied, index, SHORT_WAIT_MS);
			memset(&req, 0, sizeof(req));
			req.op = PH_REPL_OP_MEMBER_DEL;
			req.node = id;
			if (submit(&req, &index, &term, detail) == PH_RAFT_OK)
				(void) wait_status(pred_applied, index, SHORT_WAIT_MS);
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("node \"%s\" did not catch up within %d ms", name,
							phantom_node_add_timeout),
					 errdetail("The node was removed from the cluster again."),
					 errhint("Check that the node runs with phantom.node_name = '%s', phantom.raft_listen = '%s' and the same phantom.cluster_secret as this node, and that its raft address is reachable from here; the server logs of both nodes tell more.",
							 name, addr)));
		}
		st = status_copy();
		require_leader(st);
		memset(&req, 0, sizeof(req));
		req.op = PH_REPL_OP_CONF;
		req.conf_op = PH_RAFT_CONF_PROMOTE;
		req.node = id;
		rc = submit(&req, &index, &term, detail);
		if (rc == PH_RAFT_OK)
			break;
		if (rc != PH_RAFT_ERR_NOT_CAUGHT_UP && rc != PH_RAFT_ERR_NOT_READY &&
			rc != PH_RAFT_ERR_CONF_PENDING)
			run_op(PH_REPL_OP_CONF, PH_RAFT_CONF_PROMOTE, id, NULL, NULL, NULL,
				   &index, &term);	/* raises the error */
		pg_usleep(20000);
		CHECK_FOR_INTERRUPTS();
	}
	wait_applied(index);
	PG_RETURN_VOID();
}

/*
 * phantom.node_remove(name): leader only; the leader itself must hand over
 * leadership first.  Removes the node from the configuration, then from
 * the address book.
 */
Datum
phantom_node_remove(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PhReplShared *st;
	const PhReplMember *m;
	uint64		id,
				index,
				term;

	check_admin();
	st = check_running();
	m = require_member(st, name);
	require_leader(st);
	id = m->id;
	if (id == st->my_id)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the leader cannot remove itself"),
				 errhint("Hand the leadership to another node with phantom.leader_transfer() and run phantom.node_remove('%s') there.", name)));
	if (m->conf_role != PH_REPL_CONF_NONE)
	{
		run_op(PH_REPL_OP_CONF, PH_RAFT_CONF_REMOVE, id, NULL, NULL, NULL, &index, &term);
		wait_applied(index);
	}
	run_op(PH_REPL_OP_MEMBER_DEL, 0, id, NULL, NULL, NULL, &index, &term);
	wait_applied(index);
	PG_RETURN_VOID();
}

/*
 * phantom.leader_transfer(name): leader only; waits until the named voter
 * leads.
 */
Datum
phantom_leader_transfer(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PhReplShared *st;
	const PhReplMember *m;
	uint64		id,
				index,
				term;

	check_admin();
	st = check_running();
	m = require_member(st, name);
	id = m->id;
	if (st->leader_id == id)
		PG_RETURN_VOID();		/* already the leader */
	require_leader(st);
	if (m->conf_role != PH_REPL_CONF_VOTER)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is not a voter and cannot lead", name)));
	run_op(PH_REPL_OP_TRANSFER, 0, id, NULL, NULL, NULL, &index, &term);
	if (!wait_status(pred_leader_is, id, SHORT_WAIT_MS))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("leadership transfer to node \"%s\" did not complete within %d ms",
						name, SHORT_WAIT_MS),
				 errhint("The target must be reachable and caught up; phantom.nodes shows its state.")));
	PG_RETURN_VOID();
}

/*
 * ph_repl_propose_wait: see replication.h.  The payload travels to the
 * worker in a DSM segment (any size the core accepts); the worker copies
 * it into the core while the backend waits for its answer.
 */
uint64
ph_repl_propose_wait(uint8 payload_type, const void *data, uint32 len,
					 int timeout_ms)
{
	uint64		term;

	return ph_repl_propose_wait_term(payload_type, data, len, timeout_ms, &term);
}

uint64
ph_repl_propose_wait_term(uint8 payload_type, const void *data, uint32 len,
						  int timeout_ms, uint64 *term_out)
{
	PhReplShared *st = check_running();
	PhReplSlot *slot = my_slot();
	dsm_segment *seg = NULL;
	PhReplRequest req;
	PhReplRequest out;
	uint64		myseq;
	char	   *buf;

	require_leader(st);
	pfree(st);
	memset(&req, 0, sizeof(req));
	req.op = PH_REPL_OP_PROPOSE;
	req.payload_len = len + 1;
	if (req.payload_len <= PH_REPL_INLINE_PAYLOAD)
	{
		req.payload_inline = true;
		buf = palloc(req.payload_len);
	}
	else
	{
		seg = dsm_create((Size) req.payload_len, 0);
		req.payload_dsm = (uint32) dsm_segment_handle(seg);
		buf = dsm_segment_address(seg);
	}
	buf[0] = (char) payload_type;
	if (len > 0)
		memcpy(buf + 1, data, len);
	myseq = enqueue(slot, &req, seg ? NULL : buf, seg ? 0 : req.payload_len);
	if (!seg)
		pfree(buf);

	/* once proposed, the outcome is unknown until the worker decides it */
	if (!await_answer(slot, myseq, timeout_ms, &out))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_STATEMENT_COMPLETION_UNKNOWN),
				 errmsg("raft entry " UINT64_FORMAT " was not committed within %d ms",
						ph_repl_inflight_index, timeout_ms),
				 errdetail("It may still be committed later, or be lost.")));
	if (seg)
		dsm_detach(seg);
	if (out.rc == PH_RAFT_ERR_NOT_LEADER)
		not_leader_error(status_copy());
	if (out.rc != PH_RAFT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not propose the raft entry: %s",
						out.errmsg[0] ? out.errmsg : ph_raft_strerror(out.rc)),
				 errhint("Retry in a moment; phantom.raft_status() shows the state of this node.")));
	if (out.outcome == PH_REPL_OUTCOME_LOST)
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NOT_LEADER),
				 errmsg("raft entry " UINT64_FORMAT " was lost: another leader replaced it", out.index),
				 errhint("Nothing was committed; retry on the current leader.")));
	if (out.outcome != PH_REPL_OUTCOME_COMMITTED)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_STATEMENT_COMPLETION_UNKNOWN),
				 errmsg("could not verify raft entry " UINT64_FORMAT, out.index),
				 errdetail("%s", out.errmsg[0] ? out.errmsg :
						   "It may still be committed later, or be lost.")));
	*term_out = out.term;
	return out.index;
}

/*
 * phantom_internal.raft_propose(payload bytea, timeout_ms int): proposes
 * a NOTE entry (applied as a no-op) and waits until it is committed;
 * returns its index.  For tests and measurements of the commit path.
 */
Datum
phantom_raft_propose(PG_FUNCTION_ARGS)
{
	bytea	   *p = PG_GETARG_BYTEA_PP(0);
	int			timeout_ms = PG_GETARG_INT32(1);

	check_admin();
	if (timeout_ms <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be positive")));
	PG_RETURN_INT64((int64) ph_repl_propose_wait(PH_REPL_PAYLOAD_NOTE,
												 VARDATA_ANY(p),
												 VARSIZE_ANY_EXHDR(p),
												 timeout_ms));
}

static const char *
role_text(int role)
{
	return ph_raft_role_name((PhRaftRole) role);
}

/*
 * phantom.raft_status() → term, role, leader, commit/applied/last index,
 * and the raft worker's group commit counters since it started.
 */
Datum
phantom_raft_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[12];
	bool		nulls[12] = {0};
	PhReplShared *st;
	const PhReplMember *l;

	check_admin();
	st = check_running();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	l = member_by_id(st, st->leader_id);
	values[0] = Int64GetDatum((int64) st->term);
	values[1] = CStringGetTextDatum(st->n_voters + st->n_learners == 0 &&
									st->last_index == 0 ? "none" : role_text(st->role));
	if (l)
		values[2] = CStringGetTextDatum(l->name);
	else
		nulls[2] = true;
	values[3] = Int64GetDatum((int64) st->commit_index);
	values[4] = Int64GetDatum((int64) st->applied_index);
	values[5] = Int64GetDatum((int64) st->last_index);
	values[6] = Int64GetDatum((int64) st->counters.log_syncs);
	values[7] = Int64GetDatum((int64) st->counters.log_entries);
	values[8] = Int64GetDatum((int64) st->counters.proposals);
	values[9] = Int64GetDatum((int64) st->counters.proposal_batches);
	values[10] = Int64GetDatum((int64) st->tables_applied);
	if (st->table_snapshot[0])
		values[11] = CStringGetTextDatum(st->table_snapshot);
	else
		nulls[11] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * phantom.raft_nodes(): one row per address book member, as this node
 * sees it (the view phantom.nodes).  match_index is known on the leader
 * only; last_contact is the last message received from the node.  state
 * says what this node can tell: a follower that knows its leader has no
 * link to the other followers (only the leader talks to everybody), so
 * they are 'unknown' there rather than 'unreachable'.
 */
Datum
phantom_raft_nodes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PhReplShared *st;
	int			i;

	check_admin();
	st = check_running();
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < st->n_members; i++)
	{
		const PhReplMember *m = &st->members[i];
		Datum		values[8];
		bool		nulls[8] = {0};
		const char *state;

		values[0] = CStringGetTextDatum(m->name);
		values[1] = CStringGetTextDatum(m->conninfo);
		values[2] = CStringGetTextDatum(m->raft_address);
		values[3] = CStringGetTextDatum(m->conf_role == PH_REPL_CONF_VOTER ? "voter" :
										m->conf_role == PH_REPL_CONF_LEARNER ? "learner" : "none");
		values[4] = BoolGetDatum(m->id == st->leader_id);
		if (m->has_match)
			values[5] = Int64GetDatum((int64) m->match);
		else
			nulls[5] = true;
		if (m->last_contact != 0)
			values[6] = TimestampTzGetDatum(m->last_contact);
		else
			nulls[6] = true;
		if (m->id == st->my_id)
			state = "self";
		else if (m->conf_role == PH_REPL_CONF_NONE)
			state = "removed";
		else if (m->connected)
			state = "connected";
		else if (st->role != PH_RAFT_LEADER && st->leader_id != PH_RAFT_NONE &&
				 m->id != st->leader_id)
			state = "unknown";	/* followers do not talk to each other */
		else
			state = "unreachable";
		values[7] = CStringGetTextDatum(state);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
