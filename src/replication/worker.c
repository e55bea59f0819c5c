/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The raft background worker: hosts phantom's Raft core
 *	  (src/raft/core.c) on top of the durable log (src/raft/storage.c) and
 *	  the TCP transport (transport.c), keeps the replicated address book
 *	  (node names, conninfos, raft addresses), publishes its status in
 *	  shared memory and serves the requests of the SQL functions (sql.c).
 *
 *	  One worker per server, registered at _PG_init only when
 *	  phantom.node_name and phantom.raft_listen are set; it connects to no
 *	  database.  Its loop: tick the core every phantom.raft_heartbeat_interval,
 *	  drain the request queue (every backend's pending request; all
 *	  proposals go into the core as one batch, so concurrent commits share
 *	  one fsync and one AppendEntries: group commit), then handle every
 *	  ready of the core in the order raft.h prescribes -- persist (entries, fsync, hard
 *	  state) BEFORE sending the ready's messages, then apply the committed
 *	  entries, then advance -- and sleep in the transport's WaitEventSet.
 *
 *	  Invariants: no message of a ready leaves before its state is durable,
 *	  except a leader's appends and heartbeats (raft.h: they promise nothing
 *	  about the leader's disk, so its fsync overlaps its followers');
 *	  a failure of the durable log (ENOSPC, EIO, corruption) is a WARNING,
 *	  never an ERROR: the core is freed (the node stops voting and leading,
 *	  which steps it down) and rebuilt from what is durable a second later,
 *	  like a crash.  The address book is state derived from the log: it is
 *	  rebuilt at every restart by re-applying the committed entries
 *	  (applied index = snapshot index).
 *
 *	  Locking: ph_repl_shared->lock (exclusive) around every write of the
 *	  shared struct; the worker never holds it while doing I/O.
 *
 * src/replication/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/file_perm.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "phantom/phantom.h"
#include "phantom/raft/raft.h"
#include "phantom/raft/storage.h"
#include "phantom/replication/replication.h"

PhReplShared *ph_repl_shared = NULL;
PhReplSlot *ph_repl_slots = NULL;
int			ph_repl_n_slots = 0;

/* Worker-local state. */
static PhRaft *core = NULL;
static PhRaftLog *rlog = NULL;
static char raft_dir[MAXPGPATH];
static uint64 my_id;
static TimestampTz core_retry_at = 0;
static int	core_fail_streak = 0;	/* consecutive log failures */
static bool fault_hook_set = false;
static int	core_election_timeout;
static char self_conninfo[PH_REPL_CONNINFO_LEN];
static uint64 self_proposed_term = 0;
static MemoryContext worker_cxt = NULL;
static uint64 published_leader_term = 0;
static uint64 last_txn_index = 0;	/* highest TXN entry applied (or in the
									 * snapshot): does a snapshot skip table
									 * changes? */
static uint64 txn_count = 0;	/* TXN entries up to the applied index */
static bool txn_count_known = true; /* false after a snapshot without the
									 * count (older format) */
static uint64 snap_index = 0;	/* the log's snapshot, published for the */
static uint64 snap_txn_count = 0;	/* apply worker (table snapshots) */
static bool snap_count_known = false;

static int	n_tracked = 0;		/* request slots PROPOSED (as of the last
								 * scan): their entries await commit */
static PhReplCounters counters; /* group commit counters (published) */

static void finish_proposals(bool decide);

/* The address book (replicated state, rebuilt from the log). */
static PhReplMember book[PH_REPL_MAX_MEMBERS];
static int	n_book = 0;

/* ------------------------------------------------------------------------
 * Helpers shared with the backends
 * ------------------------------------------------------------------------
 */

/* ph_repl_configured: this server is meant to be a raft node. */
bool
ph_repl_configured(void)
{
	return phantom_node_name && phantom_node_name[0] &&
		phantom_raft_listen && phantom_raft_listen[0];
}

/* ph_repl_node_id: a node's raft id, a 64-bit hash of its name (never 0). */
uint64
ph_repl_node_id(const char *name)
{
	uint64		h = hash_bytes_extended((const unsigned char *) name,
										strlen(name), 0x70686e74);

	return h == 0 ? 1 : h;
}

/* ph_repl_valid_name: letters, digits, '_', '-', '.', 1..63 characters. */
bool
ph_repl_valid_name(const char *name)
{
	size_t		len = strlen(name);
	size_t		i;

	if (len == 0 || len >= PH_REPL_NAME_LEN)
		return false;
	for (i = 0; i < len; i++)
	{
		char		ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

/*
 * ph_repl_parse_address splits 'host:port' (host may be '[v6]'); false if
 * the syntax is wrong or the port is not in 1..65535.
 */
bool
ph_repl_parse_address(const char *addr, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t		hl;
	char	   *end;
	long		p;

	if (colon == NULL || colon == addr || strlen(addr) >= PH_REPL_ADDR_LEN)
		return false;
	hl = colon - addr;
	if (h[0] == '[')
	{
		if (hl < 3 || h[hl - 1] != ']')
			return false;
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hostlen || memchr(h, ' ', hl) != NULL)
		return false;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 1 || p > 65535)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int) p;
	return true;
}

/* ------------------------------------------------------------------------
 * Registration and shared memory (called from src/phantom.c)
 * ------------------------------------------------------------------------
 */

/*
 * phantom_replication_init registers the raft worker if this server is
 * configured as a raft node; called from _PG_init after the GUCs exist.
 */
void
phantom_replication_init(void)
{
	BackgroundWorker bgw;

	if (!ph_repl_configured())
		return;
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 2;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "phantom");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "phantom_raft_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "phantom raft worker");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "phantom raft worker");
	RegisterBackgroundWorker(&bgw);

	/* the apply worker: committed TXN entries -> tables (apply.c) */
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 2;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "phantom");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "phantom_apply_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "phantom apply worker");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "phantom apply worker");
	RegisterBackgroundWorker(&bgw);
	ph_repl_capture_init();
}

/*
 * One request slot per PGPROC of a backend or background worker (their
 * pgprocno is below MaxBackends), on raft nodes only.
 */
static int
n_request_slots(void)
{
	return ph_repl_configured() ? MaxBackends : 0;
}

void
phantom_replication_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(PhReplShared)) +
						   MAXALIGN(mul_size(sizeof(PhReplSlot), n_request_slots())));
	RequestNamedLWLockTranche("phantom replication", 2);
}

void
phantom_replication_shmem_startup(void)
{
	bool		found,
				found_slots;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ph_repl_n_slots = n_request_slots();
	ph_repl_shared = ShmemInitStruct("phantom replication",
									 sizeof(PhReplShared), &found);
	ph_repl_slots = ShmemInitStruct("phantom replication requests",
									Max(mul_size(sizeof(PhReplSlot), ph_repl_n_slots), 1),
									&found_slots);
	if (!found || !found_slots)
	{
		LWLockPadded *locks = GetNamedLWLockTranche("phantom replication");
		int			i;

		memset(ph_repl_shared, 0, sizeof(PhReplShared));
		ph_repl_shared->lock = &locks[0].lock;
		ph_repl_shared->queue_lock = &locks[1].lock;
		ConditionVariableInit(&ph_repl_shared->status_cv);
		ph_repl_shared->boot_id = (uint64) GetCurrentTimestamp() ^
			((uint64) PostmasterPid << 40);
		for (i = 0; i < ph_repl_n_slots; i++)
		{
			memset(&ph_repl_slots[i].req, 0, sizeof(PhReplRequest));
			ConditionVariableInit(&ph_repl_slots[i].cv);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ------------------------------------------------------------------------
 * Address book payloads
 * ------------------------------------------------------------------------
 */

static void
put_str(uint8 **p, const char *s)
{
	size_t		l = strlen(s);

	(*p)[0] = l & 0xff;
	(*p)[1] = l >> 8;
	memcpy(*p + 2, s, l);
	*p += 2 + l;
}

static bool
get_str(const uint8 **p, const uint8 *end, char *out, size_t outlen)
{
	size_t		l;

	if (end - *p < 2)
		return false;
	l = (*p)[0] | ((*p)[1] << 8);
	if ((size_t) (end - *p - 2) < l || l >= outlen)
		return false;
	memcpy(out, *p + 2, l);
	out[l] = '\0';
	*p += 2 + l;
	return true;
}

/*
 * ph_repl_member_encode builds a MEMBER_SET (all fields) or MEMBER_DEL (id
 * only) payload: type, version 1, id (8 bytes LE), then for SET three
 * strings each prefixed by a 2-byte length.  Returns the length.
 */
size_t
ph_repl_member_encode(uint8 type, uint64 id, const char *name,
					  const char *conninfo, const char *addr,
					  uint8 *buf, size_t buflen)
{
	uint8	   *p = buf;
	int			i;

	Assert(buflen >= 10 + 6 + PH_REPL_NAME_LEN + PH_REPL_CONNINFO_LEN + PH_REPL_ADDR_LEN);
	*p++ = type;
	*p++ = 1;
	for (i = 0; i < 8; i++)
		*p++ = (uint8) (id >> (8 * i));
	if (type == PH_REPL_PAYLOAD_MEMBER_SET)
	{
		put_str(&p, name);
		put_str(&p, conninfo);
		put_str(&p, addr);
	}
	return p - buf;
}

static PhReplMember *
book_find(uint64 id)
{
	int			i;

	for (i = 0; i < n_book; i++)
		if (book[i].id == id)
			return &book[i];
	return NULL;
}

static void
book_reset(void)
{
	int			i;

	for (i = 0; i < n_book; i++)
		ph_tr_set_address(book[i].id, "");
	n_book = 0;
	last_txn_index = 0;
	txn_count = 0;
	txn_count_known = true;
}

/*
 * apply_member applies an address book payload; malformed ones are
 * logged and skipped (they were committed, so every node skips them).
 */
static void
apply_member(const uint8 *data, uint32 len, uint64 index)
{
	const uint8 *p = data + 10;
	const uint8 *end = data + len;
	uint64		id = 0;
	PhReplMember m;
	PhReplMember *slot;
	int			i;

	if (len < 10 || data[1] != 1)
	{
		ereport(LOG, (errmsg("phantom raft: skipping malformed member entry at index " UINT64_FORMAT, index)));
		return;
	}
	for (i = 0; i < 8; i++)
		id |= (uint64) data[2 + i] << (8 * i);

	if (data[0] == PH_REPL_PAYLOAD_MEMBER_DEL)
	{
		slot = book_find(id);
		if (slot)
		{
			ph_tr_set_address(id, "");
			*slot = book[--n_book];
		}
		return;
	}
	memset(&m, 0, sizeof(m));
	m.id = id;
	if (!get_str(&p, end, m.name, sizeof(m.name)) ||
		!get_str(&p, end, m.conninfo, sizeof(m.conninfo)) ||
		!get_str(&p, end, m.raft_address, sizeof(m.raft_address)))
	{
		ereport(LOG, (errmsg("phantom raft: skipping malformed member entry at index " UINT64_FORMAT, index)));
		return;
	}
	slot = book_find(id);
	if (slot == NULL)
	{
		if (n_book >= PH_REPL_MAX_MEMBERS)
		{
			ereport(LOG, (errmsg("phantom raft: address book full, skipping member \"%s\"", m.name)));
			return;
		}
		slot = &book[n_book++];
	}
	*slot = m;
	ph_tr_set_address(id, m.raft_address);
}

/*
 * book_load_snapshot loads the address book from a snapshot's host data:
 * a sequence of (4-byte length, MEMBER_SET payload), and the TXN marker;
 * index is the snapshot's.
 */
static void
book_load_snapshot(uint64 index, const uint8 *data, uint32 len)
{
	uint32		off = 0;

	book_reset();
	while (len - off >= 4)
	{
		uint32		l = data[off] | (data[off + 1] << 8) | (data[off + 2] << 16) |
			((uint32) data[off + 3] << 24);

		off += 4;
		if (l > len - off)
			break;
		if (l >= 9 && data[off] == PH_REPL_PAYLOAD_TXN)
		{
			/* marker: the highest TXN entry the snapshot covers, and the
			 * number of TXN entries up to its index */
			memcpy(&last_txn_index, data + off + 1, 8);
			txn_count_known = l >= 17;
			txn_count = 0;
			if (txn_count_known)
				memcpy(&txn_count, data + off + 9, 8);
			off += l;
			continue;
		}
		apply_member(data + off, l, 0);
		off += l;
	}
	snap_index = index;
	snap_txn_count = txn_count;
	snap_count_known = txn_count_known;
}

/* apply_entry applies one committed entry to the local state. */
static void
apply_entry(const PhRaftEntry *e)
{
	const uint8 *d = e->data;

	if (e->type != PH_RAFT_ENTRY_NORMAL || e->len == 0)
		return;					/* no-ops; configs are tracked by the core */
	switch (d[0])
	{
		case PH_REPL_PAYLOAD_MEMBER_SET:
		case PH_REPL_PAYLOAD_MEMBER_DEL:
			apply_member(d, e->len, e->index);
			break;
		case PH_REPL_PAYLOAD_NOTE:
			break;				/* no-op by definition */
		case PH_REPL_PAYLOAD_TXN:
			/* the apply worker's (apply.c); remembered for snapshots */
			last_txn_index = Max(last_txn_index, e->index);
			txn_count++;
			break;
		default:
			ereport(LOG,
					(errmsg("phantom raft: skipping entry " UINT64_FORMAT " of unknown payload type %d",
							e->index, d[0])));
			break;
	}
}

/* ------------------------------------------------------------------------
 * Core <-> durable log
 * ------------------------------------------------------------------------
 */

static void
set_log_error(const char *msg)
{
	LWLockAcquire(ph_repl_shared->lock, LW_EXCLUSIVE);
	strlcpy(ph_repl_shared->log_error, msg, sizeof(ph_repl_shared->log_error));
	LWLockRelease(ph_repl_shared->lock);
}

/*
 * core_fail drops the core after a failure of the durable log: the node
 * stops participating (a leader thereby steps down) and retries from the
 * durable state a second later.
 */
static void
core_fail(const char *what, const PhRaftLogError *err)
{
	char		msg[256];
	int			delay_ms;

	snprintf(msg, sizeof(msg), "%s: %s", what, err ? err->message : "unknown error");
	ereport(WARNING,
			(errmsg("phantom raft: %s", msg),
			 errdetail("The node stops voting and leading until its raft log works again; it retries from its durable state.")));
	set_log_error(msg);
	if (core)
		ph_raft_free(core);
	core = NULL;
	finish_proposals(false);	/* their outcome is unknown now */
	/* retry after 1 s, backing off to 10 s while the failures go on */
	delay_ms = Min(10000, 1000 << Min(core_fail_streak, 4));
	core_fail_streak++;
	core_retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay_ms);
}

/*
 * debug_fault_hook makes every write and fsync of the raft log fail with
 * ENOSPC while phantom.raft_debug_fail_writes is on (tests of the disk
 * full path).
 */
static int
debug_fault_hook(PhRaftLogIoOp op, const char *path, size_t *len, void *arg)
{
	if (op == PH_RAFT_IO_WRITE || op == PH_RAFT_IO_FSYNC ||
		op == PH_RAFT_IO_CREATE)
		return ENOSPC;
	return 0;
}

static void
sync_fault_hook(void)
{
	if (phantom_raft_debug_fail_writes != fault_hook_set)
	{
		ph_raft_log_set_fault_hook(phantom_raft_debug_fail_writes ? debug_fault_hook : NULL,
								   NULL);
		fault_hook_set = phantom_raft_debug_fail_writes;
		ereport(LOG,
				(errmsg("phantom raft: injected write failures %s",
						fault_hook_set ? "on" : "off")));
	}
}

/*
 * tick_ms: the worker's clock.  It ticks PH_REPL_TICKS_PER_HEARTBEAT times
 * per heartbeat interval so that the randomized election timeouts of the
 * followers differ by 10 ms steps (with the default 50 ms heartbeat), not
 * by whole heartbeats: two followers then rarely campaign at the same
 * moment and split the vote.
 */
#define PH_REPL_TICKS_PER_HEARTBEAT 5

static int
tick_ms(void)
{
	return Max(1, phantom_raft_heartbeat_interval / PH_REPL_TICKS_PER_HEARTBEAT);
}

static void
fill_options(PhRaftOptions *o)
{
	uint64		seed;
	int			t = tick_ms();

	ph_raft_default_options(o);
	o->heartbeat_tick = Max(1, phantom_raft_heartbeat_interval / t);
	o->election_tick = Max(3 * o->heartbeat_tick, phantom_raft_election_timeout / t);
	o->pre_vote = true;
	o->check_quorum = true;
	if (!pg_strong_random(&seed, sizeof(seed)))
		seed = (uint64) MyProcPid * 7919 + (uint64) GetCurrentTimestamp();
	o->seed = seed;
	o->max_uncommitted = 4096;
	/* pipelining: many appends in flight, a whole group commit per message */
	o->max_inflight = 64;
	o->max_msg_entries = 256;
	core_election_timeout = phantom_raft_election_timeout;
}

typedef struct ReadAcc
{
	PhRaftEntry *arr;
	int			n;
	int			cap;
} ReadAcc;

static bool
read_cb(const PhRaftLogEntry *e, void *arg)
{
	ReadAcc    *acc = arg;
	PhRaftEntry *d;

	if (acc->n == acc->cap)
	{
		acc->cap *= 2;
		acc->arr = repalloc(acc->arr, sizeof(PhRaftEntry) * acc->cap);
	}
	d = &acc->arr[acc->n++];
	d->index = e->index;
	d->term = e->term;
	d->type = e->type;
	d->len = e->len;
	d->data = NULL;
	if (e->len > 0)
	{
		d->data = palloc(e->len);
		memcpy(d->data, e->data, e->len);
	}
	return true;
}

/*
 * restore_core (re)builds the core from the durable log, opening it first
 * if needed, and rebuilds the address book from the snapshot (the
 * committed entries after it are re-applied by the core's first readies).
 * On failure the node stays without a core and retries later.
 */
static bool
restore_core(void)
{
	PhRaftLogError err;
	PhRaftHardState hs;
	PhRaftInit init;
	PhRaftSnapshot snap;
	bool		have_snap = false;
	uint64		sidx,
				sterm;
	ReadAcc		acc;
	MemoryContext tmp,
				old;
	int			rc;

	core_retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
	if (rlog == NULL)
	{
		if (ph_raft_log_open(raft_dir, NULL, &rlog, &err) != PH_RAFT_LOG_OK)
		{
			rlog = NULL;
			core_fail("could not open the raft log", &err);
			return false;
		}
		if (ph_raft_log_recovery_note(rlog)[0])
			ereport(LOG, (errmsg("phantom raft log recovery: %s",
								 ph_raft_log_recovery_note(rlog))));
	}

	tmp = AllocSetContextCreate(worker_cxt, "raft restore", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(tmp);

	ph_raft_log_hard_state(rlog, &hs);
	ph_raft_log_snapshot(rlog, &sidx, &sterm);
	book_reset();
	snap_index = 0;
	snap_count_known = false;
	memset(&snap, 0, sizeof(snap));
	if (sidx > 0)
	{
		const void *blob;
		uint32		blen;

		ph_raft_log_snapshot_data(rlog, &blob, &blen);
		if (ph_raft_snapshot_blob_decode(sidx, sterm, blob, blen, &snap) != PH_RAFT_OK)
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(tmp);
			core_fail("could not decode the raft snapshot", NULL);
			return false;
		}
		have_snap = true;
		book_load_snapshot(sidx, snap.data, snap.len);
	}

	acc.cap = 64;
	acc.n = 0;
	acc.arr = palloc(sizeof(PhRaftEntry) * acc.cap);
	{
		uint64		lo = ph_raft_log_first_index(rlog);
		uint64		hi = ph_raft_log_last_index(rlog) + 1;

		while (lo < hi)
		{
			int			count = 0;

			if (ph_raft_log_read(rlog, lo, hi, 16 * 1024 * 1024, read_cb, &acc,
								 &count, &err) != PH_RAFT_LOG_OK)
			{
				MemoryContextSwitchTo(old);
				MemoryContextDelete(tmp);
				if (have_snap && snap.data)
					free(snap.data);
				core_fail("could not read the raft log", &err);
				return false;
			}
			if (count <= 0)
				break;
			lo += count;
		}
	}

	memset(&init, 0, sizeof(init));
	init.id = my_id;
	fill_options(&init.opts);
	init.hs.term = hs.term;
	init.hs.vote = hs.vote;
	init.hs.commit = hs.commit;
	init.snapshot = have_snap ? &snap : NULL;
	init.entries = acc.arr;
	init.n_entries = acc.n;
	init.applied = sidx;
	core = ph_raft_new(&init, &rc);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
	if (have_snap && snap.data)
		free(snap.data);
	if (core == NULL)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "could not restore the raft state: %s",
				 ph_raft_strerror(rc));
		core_fail(msg, NULL);
		return false;
	}
	self_proposed_term = 0;
	return true;
}

/* to_log_entries converts core entries to log records (same layout). */
static PhRaftLogEntry *
to_log_entries(const PhRaftEntry *e, size_t n)
{
	PhRaftLogEntry *out = palloc(sizeof(PhRaftLogEntry) * n);
	size_t		i;

	for (i = 0; i < n; i++)
	{
		out[i].index = e[i].index;
		out[i].term = e[i].term;
		out[i].type = e[i].type;
		out[i].len = e[i].len;
		out[i].data = e[i].data;
	}
	return out;
}

/*
 * persist_ready makes the snapshot, entries and hard state of a ready
 * durable (fsync included).  False after a failure (reported by
 * core_fail, which also drops the core).
 */
static bool
persist_ready(const PhRaftReady *rd)
{
	PhRaftLogError err;

	if (rd->snapshot)
	{
		const PhRaftSnapshot *s = rd->snapshot;
		uint32		blen = ph_raft_snapshot_blob_len(s);
		void	   *blob = palloc(blen);

		ph_raft_snapshot_blob_encode(s, blob);
		if (ph_raft_log_install_snapshot(rlog, s->index, s->term, blob, blen,
										 &err) != PH_RAFT_LOG_OK)
		{
			core_fail("could not install a snapshot", &err);
			return false;
		}
		pfree(blob);
		book_load_snapshot(s->index, s->data, s->len);
		ereport(LOG,
				(errmsg("phantom raft: installed a snapshot at index " UINT64_FORMAT " from the leader",
						s->index)));
		{
			uint64		ta;

			LWLockAcquire(ph_repl_shared->lock, LW_SHARED);
			ta = ph_repl_shared->tables_applied;
			LWLockRelease(ph_repl_shared->lock);
			if (ta < last_txn_index)
				ereport(LOG,
						(errmsg("phantom raft: the snapshot skips raft entries " UINT64_FORMAT " to " UINT64_FORMAT " that this node has not applied to its tables",
								ta + 1, s->index),
						 errdetail("The apply worker compares its ledger with the snapshot and, if table changes are missing, copies the tables from the leader (table snapshot).")));
		}
	}
	if (rd->n_entries > 0)
	{
		PhRaftLogEntry *le;

		if (rd->entries[0].index <= ph_raft_log_last_index(rlog) &&
			ph_raft_log_truncate_suffix(rlog, rd->entries[0].index, &err) != PH_RAFT_LOG_OK)
		{
			core_fail("could not truncate the raft log", &err);
			return false;
		}
		le = to_log_entries(rd->entries, rd->n_entries);
		if (ph_raft_log_append(rlog, le, (int) rd->n_entries, &err) != PH_RAFT_LOG_OK)
		{
			core_fail("could not append to the raft log", &err);
			return false;
		}
		pfree(le);
		if (ph_raft_log_sync(rlog, &err) != PH_RAFT_LOG_OK)
		{
			core_fail("could not sync the raft log", &err);
			return false;
		}
		counters.log_syncs++;
		counters.log_entries += rd->n_entries;
	}
	if (rd->hs_changed)
	{
		PhRaftHardState hs;

		hs.term = rd->hs.term;
		hs.vote = rd->hs.vote;
		hs.commit = rd->hs.commit;
		if (ph_raft_log_save_hard_state(rlog, &hs, &err) != PH_RAFT_LOG_OK)
		{
			core_fail("could not save the raft hard state", &err);
			return false;
		}
	}
	if (rd->snapshot || rd->n_entries > 0 || rd->hs_changed)
	{
		if (core_fail_streak > 0)
			set_log_error("");
		core_fail_streak = 0;
	}
	return true;
}

/* process_readies handles every ready: persist, send, apply, advance. */
static void
process_readies(void)
{
	int			guard = 0;

	/* a step may have advanced the commit index: answer proposals first */
	finish_proposals(true);
	while (core && ph_raft_has_ready(core) && guard++ < 100)
	{
		PhRaftReady rd;
		size_t		i;

		if (ph_raft_ready(core, &rd) != PH_RAFT_OK)
			break;
		/* a leader's appends go out first: its fsync overlaps the followers' */
		for (i = 0; i < rd.n_msgs; i++)
			if (ph_raft_msg_may_precede_persist(&rd.msgs[i]))
				ph_tr_send(&rd.msgs[i]);
		if (!persist_ready(&rd))
			return;
		for (i = 0; i < rd.n_msgs; i++)
			if (!ph_raft_msg_may_precede_persist(&rd.msgs[i]))
				ph_tr_send(&rd.msgs[i]);
		for (i = 0; i < rd.n_committed; i++)
			apply_entry(&rd.committed[i]);
		ph_raft_advance(core);
	}
	finish_proposals(true);
}

/* is_txn_entry: a committed entry carrying table changes. */
static bool
is_txn_entry(const PhRaftEntry *e)
{
	return e && e->type == PH_RAFT_ENTRY_NORMAL && e->len > 0 &&
		((const uint8 *) e->data)[0] == PH_REPL_PAYLOAD_TXN;
}

/*
 * encode_book serialises the address book as snapshot host data at index
 * at (<= the applied index): a sequence of (4-byte LE length, MEMBER_SET
 * payload), then the TXN marker (highest TXN index and number of TXN
 * entries up to at; the entries after at are still in the core's log).
 * palloc'd.
 */
static uint8 *
encode_book(uint64 at, uint32 *len, uint64 *count_out)
{
	size_t		cap = 4 + 17 + (size_t) n_book * 1024;
	uint8	   *buf = palloc(cap);
	uint32		off = 0;
	int			i;
	uint64		last_at = 0;
	uint64		count_at = txn_count;

	for (uint64 j = ph_raft_applied_index(core); j > at; j--)
		if (is_txn_entry(ph_raft_entry_at(core, j)))
			count_at--;
	if (last_txn_index <= at)
		last_at = last_txn_index;
	else
		for (uint64 j = at; j > 0 && j >= ph_raft_first_index(core); j--)
			if (is_txn_entry(ph_raft_entry_at(core, j)))
			{
				last_at = j;
				break;
			}

	for (i = 0; i < n_book; i++)
	{
		size_t		l = ph_repl_member_encode(PH_REPL_PAYLOAD_MEMBER_SET, book[i].id,
											  book[i].name, book[i].conninfo,
											  book[i].raft_address,
											  buf + off + 4, cap - off - 4);

		buf[off] = l & 0xff;
		buf[off + 1] = (l >> 8) & 0xff;
		buf[off + 2] = (l >> 16) & 0xff;
		buf[off + 3] = (l >> 24) & 0xff;
		off += 4 + l;
	}
	/* (17, TXN, highest TXN index, TXN count): an older node skips it as
	 * a record whose first byte is no MEMBER_* type */
	buf[off] = 17;
	buf[off + 1] = buf[off + 2] = buf[off + 3] = 0;
	buf[off + 4] = PH_REPL_PAYLOAD_TXN;
	memcpy(buf + off + 5, &last_at, 8);
	memcpy(buf + off + 13, &count_at, 8);
	off += 21;
	*len = off;
	*count_out = count_at;
	return buf;
}

/*
 * maybe_compact takes a snapshot (the address book) at the applied index
 * once phantom.raft_compact_entries entries were applied since the last
 * one, and compacts the durable log to it.  Followers whose next entry
 * is gone then receive the snapshot.  A failure of the durable log is
 * handled like any other (core_fail).
 */
static void
maybe_compact(void)
{
	const PhRaftSnapshot *cur;
	uint64		applied;
	uint8	   *data;
	uint32		len;
	uint64		count_at;
	int			rc;
	PhRaftLogError err;

	if (core == NULL || phantom_raft_compact_entries <= 0)
		return;
	cur = ph_raft_snapshot(core);
	applied = ph_raft_applied_index(core);
	/* never drop entries the apply worker has not applied to the tables */
	LWLockAcquire(ph_repl_shared->lock, LW_SHARED);
	applied = Min(applied, ph_repl_shared->tables_durable);
	LWLockRelease(ph_repl_shared->lock);
	if (applied < (cur ? cur->index : 0) + (uint64) phantom_raft_compact_entries)
		return;
	data = encode_book(applied, &len, &count_at);
	rc = ph_raft_compact(core, applied, data, len);
	pfree(data);
	if (rc != PH_RAFT_OK)
	{
		ereport(DEBUG1, (errmsg("phantom raft: no snapshot at " UINT64_FORMAT ": %s",
								applied, ph_raft_strerror(rc))));
		return;
	}
	cur = ph_raft_snapshot(core);
	{
		uint32		blen = ph_raft_snapshot_blob_len(cur);
		void	   *blob = palloc(blen);

		ph_raft_snapshot_blob_encode(cur, blob);
		if (ph_raft_log_compact(rlog, cur->index, cur->term, blob, blen, &err) != PH_RAFT_LOG_OK)
		{
			pfree(blob);
			core_fail("could not compact the raft log", &err);
			return;
		}
		pfree(blob);
	}
	snap_index = cur->index;
	snap_txn_count = count_at;
	snap_count_known = txn_count_known;
	ereport(LOG, (errmsg("phantom raft: log compacted up to index " UINT64_FORMAT,
						 cur->index)));
}

/* on_message steps the core with a message from an authenticated peer. */
static void
on_message(const PhRaftMsg *m)
{
	int			rc;

	if (core == NULL)
		return;
	rc = ph_raft_step(core, m);
	if (rc != PH_RAFT_OK)
		ereport(DEBUG1,
				(errmsg("phantom raft: message %s from " UINT64_FORMAT " refused: %s",
						ph_raft_msg_type_name(m->type), m->from,
						ph_raft_strerror(rc))));

	/*
	 * The ready is handled right after ph_tr_wait has stepped every message
	 * that arrived (no tick in between), so a follower persists all the
	 * appends that arrived together with one fsync.
	 */
}

/*
 * suspect_lost_leader: the connection to the leader closed (killed, crashed,
 * restarted).  Only a hint -- the core ends its lease and campaigns early
 * with a pre-vote, which cannot unseat a leader the others still hear.
 */
static void
suspect_lost_leader(void)
{
	uint64		ids[PH_REPL_MAX_MEMBERS];
	int			n = ph_tr_take_lost(ids, lengthof(ids));
	int			i;

	for (i = 0; i < n && core; i++)
		if (ph_raft_role(core) == PH_RAFT_FOLLOWER && ph_raft_leader(core) == ids[i])
		{
			PhReplMember *m = book_find(ids[i]);

			ereport(LOG,
					(errmsg("phantom raft: lost the connection to the leader%s%s%s; campaigning early unless it comes back",
							m ? " (node \"" : "", m ? m->name : "", m ? "\")" : "")));
			ph_raft_leader_suspect(core, ids[i]);
		}
}

/* ------------------------------------------------------------------------
 * Requests from backends
 * ------------------------------------------------------------------------
 */

/*
 * bootstrap makes this empty node a one-node group: persists what
 * ph_raft_bootstrap returns, rebuilds the core from it and campaigns.
 */
static int
bootstrap(PhReplRequest *req)
{
	PhRaftConfig conf;
	PhRaftVoteState vs;
	PhRaftEntry entry;
	PhRaftLogEntry le;
	PhRaftHardState hs;
	PhRaftLogError err;
	uint64		sidx,
				sterm;
	int			rc;

	ph_raft_log_snapshot(rlog, &sidx, &sterm);
	if (ph_raft_log_last_index(rlog) > 0 || sidx > 0 ||
		ph_raft_config(core)->n_voters + ph_raft_config(core)->n_learners > 0)
	{
		strlcpy(req->errmsg, "this node is already part of a cluster", sizeof(req->errmsg));
		return PH_RAFT_ERR_INVALID;
	}
	memset(&conf, 0, sizeof(conf));
	conf.n_voters = 1;
	conf.voters[0] = my_id;
	rc = ph_raft_bootstrap(&conf, &vs, &entry);
	if (rc != PH_RAFT_OK)
		return rc;
	le.index = entry.index;
	le.term = entry.term;
	le.type = entry.type;
	le.len = entry.len;
	le.data = entry.data;
	hs.term = vs.term;
	hs.vote = vs.vote;
	hs.commit = vs.commit;
	if (ph_raft_log_append(rlog, &le, 1, &err) != PH_RAFT_LOG_OK ||
		ph_raft_log_sync(rlog, &err) != PH_RAFT_LOG_OK ||
		ph_raft_log_save_hard_state(rlog, &hs, &err) != PH_RAFT_LOG_OK)
	{
		free(entry.data);
		snprintf(req->errmsg, sizeof(req->errmsg), "%s", err.message);
		core_fail("could not write the bootstrap state", &err);
		return PH_RAFT_ERR_INVALID;
	}
	free(entry.data);
	ph_raft_free(core);
	core = NULL;
	if (!restore_core())
	{
		strlcpy(req->errmsg, "could not restart the raft core", sizeof(req->errmsg));
		return PH_RAFT_ERR_INVALID;
	}
	strlcpy(self_conninfo, req->conninfo, sizeof(self_conninfo));
	ph_raft_campaign(core);
	req->index = my_id;
	return PH_RAFT_OK;
}

/*
 * read_buffer maps the apply worker's read segment, keeping the mapping
 * between reads (attaching a 4 MB segment per read costs a mapping and
 * page faults per committed entry).  While we are attached the segment
 * lives on, so a new segment of the apply worker always has a new handle.
 */
static dsm_segment *
read_buffer(dsm_handle h)
{
	static dsm_segment *seg = NULL;
	static dsm_handle seg_handle = DSM_HANDLE_INVALID;

	if (seg != NULL && seg_handle == h)
		return seg;
	if (seg != NULL)
		dsm_detach(seg);
	seg_handle = h;
	seg = dsm_attach(h);
	if (seg != NULL)
		dsm_pin_mapping(seg);
	return seg;
}

/*
 * read_committed copies committed entries from req->node on into the
 * requester's DSM segment, for the apply worker: records of (index 8,
 * term 8, type 1, len 4, data).  req->index = entries copied; if the
 * first does not fit, req->term = the segment size it needs.  An index
 * below the log's first index is PH_RAFT_ERR_COMPACTED-like: rc INVALID
 * with errmsg "compacted" (the caller jumps to the first index).
 */
static void
read_committed(PhReplRequest *req)
{
	dsm_segment *seg = read_buffer((dsm_handle) req->payload_dsm);
	uint64		i = req->node;
	uint64		commit = ph_raft_commit_index(core);
	uint8	   *p,
			   *end;
	uint64		n = 0;

	if (seg == NULL || dsm_segment_map_length(seg) < req->payload_len)
	{
		req->rc = PH_RAFT_ERR_INVALID;
		strlcpy(req->errmsg, "could not attach to the read buffer", sizeof(req->errmsg));
		return;
	}
	p = dsm_segment_address(seg);
	end = p + req->payload_len;
	if (i < ph_raft_first_index(core))
	{
		req->rc = PH_RAFT_ERR_INVALID;
		strlcpy(req->errmsg, "compacted", sizeof(req->errmsg));
		return;
	}
	for (; i <= commit; i++)
	{
		const PhRaftEntry *e = ph_raft_entry_at(core, i);
		size_t		need;
		uint32		len;

		if (e == NULL)
			break;
		len = e->len;
		need = 8 + 8 + 1 + 4 + (size_t) len;
		if ((size_t) (end - p) < need)
		{
			if (n == 0)
				req->term = need;
			break;
		}
		memcpy(p, &e->index, 8);
		memcpy(p + 8, &e->term, 8);
		p[16] = (uint8) e->type;
		memcpy(p + 17, &len, 4);
		if (len > 0)
			memcpy(p + 21, e->data, len);
		p += need;
		n++;
	}
	req->index = n;
}

/*
 * serve_one serves one request other than PROPOSE (those are batched by
 * handle_requests); fills in rc, index, term, errmsg.
 */
static void
serve_one(PhReplRequest *req)
{
	uint8		buf[1024];
	size_t		len;

	switch (req->op)
	{
		case PH_REPL_OP_BOOTSTRAP:
			req->rc = bootstrap(req);
			break;
		case PH_REPL_OP_MEMBER_SET:
			len = ph_repl_member_encode(PH_REPL_PAYLOAD_MEMBER_SET, req->node,
										req->name, req->conninfo, req->addr,
										buf, sizeof(buf));
			req->rc = ph_raft_propose(core, buf, len, &req->index, &req->term);
			break;
		case PH_REPL_OP_MEMBER_DEL:
			len = ph_repl_member_encode(PH_REPL_PAYLOAD_MEMBER_DEL, req->node,
										"", "", "", buf, sizeof(buf));
			req->rc = ph_raft_propose(core, buf, len, &req->index, &req->term);
			break;
		case PH_REPL_OP_CONF:
			req->rc = ph_raft_conf(core, (PhRaftConfOp) req->conf_op, req->node,
								   &req->index, &req->term);
			break;
		case PH_REPL_OP_TRANSFER:
			req->rc = ph_raft_transfer_leader(core, req->node);
			break;
		case PH_REPL_OP_READ:
			read_committed(req);
			break;
		default:
			req->rc = PH_RAFT_ERR_INVALID;
			break;
	}
}

/*
 * propose_all puts the payloads of the taken PROPOSE requests into the
 * core with one ph_raft_propose_batch (group commit: one ready, one fsync,
 * one AppendEntries per follower).  Inline payloads are read from the
 * slots in place (a TAKEN slot's buffer does not change); larger ones
 * from the requester's DSM segment.
 */
static void
propose_all(PhReplRequest *reqs, int *slot_of, int n)
{
	PhRaftProposal *props = palloc(sizeof(PhRaftProposal) * n);
	int		   *which = palloc(sizeof(int) * n);
	dsm_segment **segs = palloc0(sizeof(dsm_segment *) * n);
	int			np = 0;
	int			i;
	size_t		done = 0;
	uint64		first = 0,
				term = 0;
	int			rc;

	for (i = 0; i < n; i++)
	{
		PhReplRequest *req = &reqs[i];

		if (req->op != PH_REPL_OP_PROPOSE)
			continue;
		if (req->payload_inline)
		{
			if (req->payload_len > PH_REPL_INLINE_PAYLOAD)
			{
				req->rc = PH_RAFT_ERR_INVALID;
				continue;
			}
			props[np].data = ph_repl_slots[slot_of[i]].payload;
		}
		else
		{
			segs[i] = dsm_attach((dsm_handle) req->payload_dsm);
			if (segs[i] == NULL || dsm_segment_map_length(segs[i]) < req->payload_len)
			{
				req->rc = PH_RAFT_ERR_INVALID;
				strlcpy(req->errmsg, "could not attach to the payload", sizeof(req->errmsg));
				continue;
			}
			props[np].data = dsm_segment_address(segs[i]);
		}
		props[np].len = req->payload_len;
		which[np++] = i;
	}
	if (np > 0)
	{
		rc = ph_raft_propose_batch(core, props, np, &done, &first, &term);
		for (i = 0; i < np; i++)
		{
			PhReplRequest *req = &reqs[which[i]];

			if ((size_t) i < done)
			{
				req->rc = PH_RAFT_OK;
				req->index = first + i;
				req->term = term;
			}
			else
				req->rc = rc;
		}
		if (done > 0)
		{
			counters.proposals += done;
			counters.proposal_batches++;
		}
	}
	for (i = 0; i < n; i++)
		if (segs[i])
			dsm_detach(segs[i]);
	pfree(props);
	pfree(which);
	pfree(segs);
}

/*
 * handle_requests drains the request queue: takes every PENDING slot,
 * serves them (all proposals in one batch), and answers.  A proposal
 * that went into the log becomes PROPOSED and is decided by
 * decide_proposals once its index is committed.  Slots whose requester
 * gave up are freed; if such a requester gave up while its proposal was
 * being made, the entry's outcome is unknown to it, which is recorded in
 * unknown_max like an abort after proposing (capture.c).
 */
static void
handle_requests(void)
{
	PhReplShared *sh = ph_repl_shared;
	static PhReplRequest *reqs = NULL;	/* per call; allocated once */
	static int *slot_of = NULL;
	static int *wake = NULL;
	int			n = 0,
				n_wake = 0,
				n_prop = 0,
				i;
	uint64		unknown = 0;

	if (ph_repl_n_slots == 0)
		return;
	LWLockAcquire(sh->queue_lock, LW_EXCLUSIVE);
	if (sh->n_pending == 0)
	{
		LWLockRelease(sh->queue_lock);
		return;
	}
	sh->n_pending = 0;
	if (reqs == NULL)
	{
		reqs = MemoryContextAlloc(TopMemoryContext, sizeof(PhReplRequest) * ph_repl_n_slots);
		slot_of = MemoryContextAlloc(TopMemoryContext, sizeof(int) * ph_repl_n_slots);
		wake = MemoryContextAlloc(TopMemoryContext, sizeof(int) * ph_repl_n_slots);
	}
	for (i = 0; i < ph_repl_n_slots; i++)
	{
		PhReplRequest *r = &ph_repl_slots[i].req;

		if (r->state == PH_REPL_REQ_PENDING)
		{
			r->state = PH_REPL_REQ_TAKEN;
			reqs[n] = *r;
			slot_of[n++] = i;
		}
		else if (r->state == PH_REPL_REQ_ABANDONED)
		{
			r->state = PH_REPL_REQ_FREE;
			wake[n_wake++] = i;
		}
		else if (r->state == PH_REPL_REQ_PROPOSED)
			n_prop++;
	}
	LWLockRelease(sh->queue_lock);
	for (i = 0; i < n_wake; i++)
		ConditionVariableBroadcast(&ph_repl_slots[wake[i]].cv);
	n_wake = 0;

	for (i = 0; i < n; i++)
	{
		PhReplRequest *req = &reqs[i];

		req->rc = PH_RAFT_OK;
		req->outcome = 0;
		req->errmsg[0] = '\0';
		req->index = req->term = 0;
		if (core == NULL)
		{
			req->rc = PH_RAFT_ERR_INVALID;
			strlcpy(req->errmsg, "the raft log is not available (see the server log)",
					sizeof(req->errmsg));
		}
		else if (req->op != PH_REPL_OP_PROPOSE)
			serve_one(req);
	}
	if (core != NULL)
		propose_all(reqs, slot_of, n);

	LWLockAcquire(sh->queue_lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		PhReplRequest *req = &reqs[i];
		PhReplRequest *r = &ph_repl_slots[slot_of[i]].req;
		bool		proposed = req->op == PH_REPL_OP_PROPOSE && req->rc == PH_RAFT_OK;

		if (r->seq != req->seq)
			continue;			/* cannot happen: a TAKEN slot is ours */
		if (r->state == PH_REPL_REQ_TAKEN)
		{
			r->rc = req->rc;
			r->index = req->index;
			r->term = req->term;
			r->outcome = 0;
			strlcpy(r->errmsg, req->errmsg, sizeof(r->errmsg));
			r->done_at = GetCurrentTimestamp();
			r->state = proposed ? PH_REPL_REQ_PROPOSED : PH_REPL_REQ_DONE;
			if (proposed)
				n_prop++;
		}
		else if (r->state == PH_REPL_REQ_ABANDONED)
		{
			r->state = PH_REPL_REQ_FREE;
			if (proposed)
				unknown = Max(unknown, req->index);
		}
		wake[n_wake++] = slot_of[i];
	}
	n_tracked = n_prop;
	LWLockRelease(sh->queue_lock);
	for (i = 0; i < n_wake; i++)
		ConditionVariableBroadcast(&ph_repl_slots[wake[i]].cv);
	if (unknown > 0)
	{
		LWLockAcquire(sh->lock, LW_EXCLUSIVE);
		sh->unknown_max = Max(sh->unknown_max, unknown);
		LWLockRelease(sh->lock);
	}
}

/*
 * finish_proposals answers PROPOSED slots: with decide, those whose index
 * is committed (COMMITTED if the committed entry there has the proposal's
 * term, LOST if another entry is there, UNKNOWN if it was compacted into
 * a snapshot); without (the core is gone or the worker exits), all of
 * them as UNKNOWN.  The requesters wake at once: this is the one round
 * trip of a commit (no second request to check the term).
 */
static void
finish_proposals(bool decide)
{
	PhReplShared *sh = ph_repl_shared;
	uint64		commit = (decide && core) ? ph_raft_commit_index(core) : 0;
	int			left = 0,
				i;

	if (n_tracked == 0 || ph_repl_n_slots == 0)
		return;
	LWLockAcquire(sh->queue_lock, LW_EXCLUSIVE);
	for (i = 0; i < ph_repl_n_slots; i++)
	{
		PhReplRequest *r = &ph_repl_slots[i].req;

		if (r->state != PH_REPL_REQ_PROPOSED)
			continue;
		if (decide && r->index > commit)
		{
			left++;
			continue;
		}
		if (!decide || core == NULL)
			r->outcome = PH_REPL_OUTCOME_UNKNOWN;
		else
		{
			uint64		t = ph_raft_term_at(core, r->index);

			r->outcome = t == 0 ? PH_REPL_OUTCOME_UNKNOWN :
				t == r->term ? PH_REPL_OUTCOME_COMMITTED : PH_REPL_OUTCOME_LOST;
		}
		r->done_at = GetCurrentTimestamp();
		r->state = PH_REPL_REQ_DONE;
		/* the requester sleeps on its slot's CV; wake it now */
		ConditionVariableBroadcast(&ph_repl_slots[i].cv);
	}
	n_tracked = left;
	LWLockRelease(sh->queue_lock);
}

/*
 * self_register: a leader missing from the address book (just
 * bootstrapped) proposes its own entry, once per term.
 */
static void
self_register(void)
{
	uint8		buf[1024];
	size_t		len;
	uint64		idx,
				term;
	char		conninfo[PH_REPL_CONNINFO_LEN];

	if (core == NULL || ph_raft_role(core) != PH_RAFT_LEADER ||
		book_find(my_id) != NULL || self_proposed_term == ph_raft_term(core))
		return;
	if (self_conninfo[0])
		strlcpy(conninfo, self_conninfo, sizeof(conninfo));
	else
	{
		char		host[PH_REPL_ADDR_LEN];
		int			port;

		if (!ph_repl_parse_address(phantom_raft_listen, host, sizeof(host), &port))
			strlcpy(host, "localhost", sizeof(host));
		snprintf(conninfo, sizeof(conninfo), "host=%s port=%d dbname=%s",
				 host, PostPortNumber, phantom_database);
	}
	len = ph_repl_member_encode(PH_REPL_PAYLOAD_MEMBER_SET, my_id,
								phantom_node_name, conninfo,
								phantom_raft_listen, buf, sizeof(buf));
	if (ph_raft_propose(core, buf, len, &idx, &term) == PH_RAFT_OK)
		self_proposed_term = ph_raft_term(core);
}

/* What the waiters on status_cv wait for (publish_status). */
typedef struct StatusSig
{
	bool		log_ok;
	int			role;
	uint64		term;
	uint64		leader_id;
	uint64		commit_index;
	uint64		applied_index;
	uint64		last_index;
	uint64		first_index;
	int			n_voters;
	int			n_learners;
	int			n_members;
} StatusSig;

static StatusSig last_sig;
static TimestampTz last_broadcast = 0;

/* publish_status copies the core's and the book's state to shared memory. */
static void
publish_status(void)
{
	PhReplShared *sh = ph_repl_shared;
	StatusSig	sig;
	TimestampTz now;
	bool		elected = false;
	PhRaftPeerStatus ps[PH_RAFT_MAX_NODES];
	int			nps = 0;
	const PhRaftConfig *conf = core ? ph_raft_config(core) : NULL;
	int			i,
				j;

	if (core && ph_raft_role(core) == PH_RAFT_LEADER)
		nps = ph_raft_peers(core, ps, PH_RAFT_MAX_NODES);

	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	sh->log_ok = core != NULL;
	sh->my_id = my_id;
	if (core)
	{
		sh->term = ph_raft_term(core);
		sh->role = ph_raft_role(core);
		sh->leader_id = ph_raft_leader(core);
		sh->commit_index = ph_raft_commit_index(core);
		sh->applied_index = ph_raft_applied_index(core);
		sh->last_index = ph_raft_last_index(core);
		sh->first_index = ph_raft_first_index(core);
		sh->snap_index = snap_index;
		sh->snap_txn_count = snap_txn_count;
		sh->snap_count_known = snap_count_known;
		if (sh->role == PH_RAFT_LEADER && sh->term != published_leader_term)
		{
			/* elected: writes wait until the tables reflect this index */
			sh->term_start_index = sh->last_index;
			published_leader_term = sh->term;
			elected = true;
		}
		sh->n_voters = conf->n_voters;
		sh->n_learners = conf->n_learners;
	}
	else
	{
		sh->role = PH_RAFT_FOLLOWER;
		sh->leader_id = PH_RAFT_NONE;
	}
	sh->counters = counters;
	sh->n_members = n_book;
	for (i = 0; i < n_book; i++)
	{
		PhReplMember *m = &sh->members[i];

		*m = book[i];
		m->conf_role = PH_REPL_CONF_NONE;
		if (conf && ph_raft_conf_is_voter(conf, m->id))
			m->conf_role = PH_REPL_CONF_VOTER;
		else if (conf && ph_raft_conf_is_learner(conf, m->id))
			m->conf_role = PH_REPL_CONF_LEARNER;
		m->has_match = false;
		m->match = 0;
		for (j = 0; j < nps; j++)
			if (ps[j].id == m->id)
			{
				m->has_match = true;
				m->match = ps[j].match;
			}
		if (m->id == my_id)
		{
			m->connected = true;
			m->last_contact = 0;
			if (core && nps > 0)
			{
				m->has_match = true;
				m->match = ph_raft_last_index(core);
			}
		}
		else
			ph_tr_peer_info(m->id, &m->connected, &m->last_contact);
	}
	memset(&sig, 0, sizeof(sig));
	sig.log_ok = sh->log_ok;
	sig.role = sh->role;
	sig.term = sh->term;
	sig.leader_id = sh->leader_id;
	sig.commit_index = sh->commit_index;
	sig.applied_index = sh->applied_index;
	sig.last_index = sh->last_index;
	sig.first_index = sh->first_index;
	sig.n_voters = sh->n_voters;
	sig.n_learners = sh->n_learners;
	sig.n_members = sh->n_members;
	LWLockRelease(sh->lock);
	if (elected)
		ereport(LOG,
				(errmsg("phantom raft: this node leads the cluster (term " UINT64_FORMAT ", elected at index " UINT64_FORMAT ")",
						sig.term, sig.last_index)));

	/*
	 * The loop runs every tick (10 ms): wake the waiters (backends, the
	 * apply worker) when something they wait for moved, and otherwise once
	 * per heartbeat interval (match indexes, connections).
	 */
	now = GetCurrentTimestamp();
	if (memcmp(&sig, &last_sig, sizeof(sig)) != 0 ||
		TimestampDifferenceExceeds(last_broadcast, now, phantom_raft_heartbeat_interval))
	{
		memcpy(&last_sig, &sig, sizeof(sig));
		last_broadcast = now;
		ConditionVariableBroadcast(&sh->status_cv);
	}
}

static void
worker_exit(int code, Datum arg)
{
	int			i;

	if (ph_repl_shared == NULL)
		return;
	LWLockAcquire(ph_repl_shared->lock, LW_EXCLUSIVE);
	ph_repl_shared->worker_pid = 0;
	ph_repl_shared->worker_latch = NULL;
	ph_repl_shared->log_ok = false;
	LWLockRelease(ph_repl_shared->lock);

	/* answer every request; proposals in the log have an unknown outcome */
	n_tracked = 1;
	finish_proposals(false);
	LWLockAcquire(ph_repl_shared->queue_lock, LW_EXCLUSIVE);
	for (i = 0; i < ph_repl_n_slots; i++)
	{
		PhReplRequest *r = &ph_repl_slots[i].req;

		if (r->state == PH_REPL_REQ_PENDING || r->state == PH_REPL_REQ_TAKEN)
		{
			r->rc = PH_RAFT_ERR_INVALID;
			strlcpy(r->errmsg, "the raft worker exited", sizeof(r->errmsg));
			r->done_at = GetCurrentTimestamp();
			r->state = PH_REPL_REQ_DONE;
		}
		else if (r->state == PH_REPL_REQ_ABANDONED)
			r->state = PH_REPL_REQ_FREE;
		else
			continue;
		ConditionVariableBroadcast(&ph_repl_slots[i].cv);
	}
	ph_repl_shared->n_pending = 0;
	LWLockRelease(ph_repl_shared->queue_lock);
	ConditionVariableBroadcast(&ph_repl_shared->status_cv);
}

/*
 * phantom_raft_worker_main is the worker's entry point: set up, then loop
 * (tick, request, readies, status, wait) until SIGTERM.
 */
void
phantom_raft_worker_main(Datum arg)
{
	TimestampTz next_tick;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	if (phantom_cluster_secret == NULL || phantom_cluster_secret[0] == '\0')
	{
		ereport(WARNING,
				(errmsg("phantom raft worker not started: phantom.cluster_secret is empty"),
				 errhint("Set phantom.cluster_secret to the same secret on every node of the cluster and restart.")));
		proc_exit(0);			/* exit code 0: not restarted */
	}

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "phantom raft worker",
									   ALLOCSET_DEFAULT_SIZES);
	/* pg_hmac_* (OpenSSL) track their contexts in the resource owner */
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "phantom raft worker");
	my_id = ph_repl_node_id(phantom_node_name);
	snprintf(raft_dir, sizeof(raft_dir), "%s/phantom/raft", DataDir);
	if (pg_mkdir_p(raft_dir, pg_dir_create_mode) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", raft_dir)));

	before_shmem_exit(worker_exit, (Datum) 0);
	LWLockAcquire(ph_repl_shared->lock, LW_EXCLUSIVE);
	ph_repl_shared->worker_pid = MyProcPid;
	ph_repl_shared->worker_latch = MyLatch;
	ph_repl_shared->my_id = my_id;
	LWLockRelease(ph_repl_shared->lock);

	sync_fault_hook();
	ph_tr_init(phantom_raft_listen, my_id, phantom_node_name,
			   phantom_cluster_secret);
	(void) restore_core();

	next_tick = GetCurrentTimestamp();
	while (!ShutdownRequestPending)
	{
		TimestampTz now;
		long		wait_ms;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			sync_fault_hook();
			if (core && phantom_raft_election_timeout != core_election_timeout)
			{
				/* the timeout is an option of the core: rebuild it */
				ereport(LOG,
						(errmsg("phantom raft: election timeout changed to %d ms, restarting the raft core",
								phantom_raft_election_timeout)));
				ph_raft_free(core);
				core = NULL;
				(void) restore_core();
			}
		}

		now = GetCurrentTimestamp();
		if (core == NULL && now >= core_retry_at)
			(void) restore_core();
		if (now >= next_tick)
		{
			if (core)
				ph_raft_tick(core);
			next_tick = TimestampTzPlusMilliseconds(next_tick, tick_ms());
			if (next_tick <= now)
				next_tick = TimestampTzPlusMilliseconds(now, tick_ms());
		}
		handle_requests();
		self_register();
		process_readies();
		maybe_compact();
		publish_status();

		now = GetCurrentTimestamp();
		wait_ms = next_tick > now ? (long) ((next_tick - now + 999) / 1000) : 0;
		ph_tr_wait(wait_ms, on_message);
		suspect_lost_leader();
		process_readies();
	}
	proc_exit(1);				/* restarted unless the server shuts down */
}
