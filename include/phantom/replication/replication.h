/*-------------------------------------------------------------------------
 *
 * replication.h
 *	  The PostgreSQL side of phantom's Raft replication: the raft background
 *	  worker (src/replication/worker.c), its TCP transport with peer
 *	  authentication (transport.c), the shared memory through which backends
 *	  see its status and hand it requests, and the SQL API (sql.c).
 *
 *	  The consensus core (include/phantom/raft/raft.h) and the durable log
 *	  (include/phantom/raft/storage.h) are pure C; only this module touches
 *	  both them and PostgreSQL.
 *
 *	  Log entry payloads.  Every PH_RAFT_ENTRY_NORMAL entry starts with one
 *	  byte saying what it carries (PhReplPayloadType), so that the commit
 *	  path of table changes (next increment) adds a type without changing
 *	  the format of the others.  A node that applies a type it does not know
 *	  logs it and skips it.
 *
 *	  Locking: PhReplShared is protected by its LWLock (lock), except
 *	  worker_latch/worker_pid which the worker sets at start under the lock
 *	  too, and n_pending and the request slots (queue_lock).  Order: lock
 *	  before queue_lock.  Backends never hold either while sleeping.
 *
 * include/phantom/replication/replication.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_REPLICATION_REPLICATION_H
#define PHANTOM_REPLICATION_REPLICATION_H

#include "datatype/timestamp.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "access/htup.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"

#include "phantom/raft/raft.h"

/* First byte of a normal entry's payload. */
typedef enum PhReplPayloadType
{
	PH_REPL_PAYLOAD_MEMBER_SET = 1, /* address book: add/update a member */
	PH_REPL_PAYLOAD_MEMBER_DEL = 2, /* address book: forget a member */
	PH_REPL_PAYLOAD_TXN = 3,		/* table changes of one transaction
									 * (capture.c, apply.c) */
	PH_REPL_PAYLOAD_NOTE = 4		/* opaque bytes, applied as a no-op
									 * (tests, markers) */
} PhReplPayloadType;

#define PH_REPL_NAME_LEN		64
#define PH_REPL_CONNINFO_LEN	256
#define PH_REPL_ADDR_LEN		128
#define PH_REPL_MAX_MEMBERS		(2 * PH_RAFT_MAX_NODES)

/* One entry of the replicated address book (+ what the worker observes). */
typedef struct PhReplMember
{
	uint64		id;				/* raft node id = hash of the name */
	char		name[PH_REPL_NAME_LEN];
	char		conninfo[PH_REPL_CONNINFO_LEN];
	char		raft_address[PH_REPL_ADDR_LEN];
	/* observed by the local worker, not replicated: */
	int			conf_role;		/* PH_REPL_CONF_* */
	bool		has_match;		/* match known (we are the leader) */
	uint64		match;
	bool		connected;
	TimestampTz last_contact;	/* 0 = never */
} PhReplMember;

#define PH_REPL_CONF_NONE		0
#define PH_REPL_CONF_VOTER		1
#define PH_REPL_CONF_LEARNER	2

/* Operations a backend can ask the worker to do. */
typedef enum PhReplOp
{
	PH_REPL_OP_BOOTSTRAP = 1,	/* arg: conninfo (may be empty) */
	PH_REPL_OP_MEMBER_SET,		/* args: name, conninfo, addr */
	PH_REPL_OP_MEMBER_DEL,		/* arg: node */
	PH_REPL_OP_CONF,			/* args: conf_op, node */
	PH_REPL_OP_TRANSFER,		/* arg: node */
	PH_REPL_OP_PROPOSE,			/* args: payload (inline or payload_dsm),
								 * payload_len; answered when decided */
	PH_REPL_OP_READ				/* args: node = first index, payload_dsm,
								 * payload_len = segment size; copies the
								 * committed entries from there into the
								 * segment; result: index = count, term =
								 * size the first entry needs if it did
								 * not fit */
} PhReplOp;

typedef enum PhReplReqState
{
	PH_REPL_REQ_FREE = 0,
	PH_REPL_REQ_PENDING,		/* waiting for the worker */
	PH_REPL_REQ_TAKEN,			/* the worker is serving it */
	PH_REPL_REQ_PROPOSED,		/* PROPOSE: in the log at (index, term);
								 * the worker decides it once that index
								 * is committed */
	PH_REPL_REQ_DONE,			/* result ready for the requester */
	PH_REPL_REQ_ABANDONED		/* requester gave up; worker frees it */
} PhReplReqState;

/* Outcome of a PROPOSE request once DONE with rc PH_RAFT_OK. */
#define PH_REPL_OUTCOME_COMMITTED	1	/* committed with its term */
#define PH_REPL_OUTCOME_LOST		2	/* another entry committed there */
#define PH_REPL_OUTCOME_UNKNOWN		3	/* cannot tell (compacted into a
										 * snapshot, worker exited) */

/* One operation and its answer (what a requester fills in). */
typedef struct PhReplRequest
{
	PhReplReqState state;
	uint64		seq;
	PhReplOp	op;
	int			conf_op;
	uint64		node;
	char		name[PH_REPL_NAME_LEN];
	char		conninfo[PH_REPL_CONNINFO_LEN];
	char		addr[PH_REPL_ADDR_LEN];
	uint32		payload_dsm;	/* dsm_handle of the payload (PROPOSE, if
								 * not inline; READ) */
	uint32		payload_len;
	bool		payload_inline; /* PROPOSE: payload in the slot's buffer */
	/* results */
	int			rc;				/* PH_RAFT_OK or PH_RAFT_ERR_* */
	int			outcome;		/* PROPOSE: PH_REPL_OUTCOME_* */
	uint64		index;
	uint64		term;
	char		errmsg[256];	/* worker-side detail, or empty */
	TimestampTz done_at;		/* when the worker answered */
} PhReplRequest;

/* A proposal payload up to this size travels inside the request slot. */
#define PH_REPL_INLINE_PAYLOAD	4096

/*
 * The request queue: one slot per PGPROC of a backend or background
 * worker (slot = pgprocno), so a process never competes for a slot and
 * the worker drains every pending slot per loop iteration.  Protected by
 * PhReplShared.queue_lock; the payload buffer is written by the requester
 * only while the slot is FREE and read by the worker only while TAKEN.
 */
typedef struct PhReplSlot
{
	PhReplRequest req;
	ConditionVariable cv;		/* broadcast when req.state changes */
	char		payload[PH_REPL_INLINE_PAYLOAD];
} PhReplSlot;

/* Group commit counters of the raft worker (since it started). */
typedef struct PhReplCounters
{
	uint64		log_syncs;		/* fsyncs of the raft log's entries */
	uint64		log_entries;	/* entries appended to the raft log */
	uint64		proposals;		/* backend proposals put into the core */
	uint64		proposal_batches;	/* loop iterations that proposed */
} PhReplCounters;

typedef struct PhReplShared
{
	LWLock	   *lock;
	ConditionVariable status_cv;	/* broadcast when the status changes */
	LWLock	   *queue_lock;		/* the request slots (ph_repl_slots) */
	uint32		n_pending;		/* slots PENDING since the worker's last
								 * drain (under queue_lock) */

	/* worker */
	pid_t		worker_pid;		/* 0 = not running */
	Latch	   *worker_latch;

	/* status */
	bool		log_ok;			/* durable log open and core running */
	char		log_error[256];
	uint64		my_id;
	uint64		term;
	int			role;			/* PhRaftRole */
	uint64		leader_id;
	uint64		commit_index;
	uint64		applied_index;
	uint64		last_index;
	int			n_voters;
	int			n_learners;
	int			n_members;
	uint64		first_index;	/* first entry still in the log */
	uint64		term_start_index;	/* leader: last index when it was
									 * elected (its no-op included) */
	uint64		snap_index;		/* index of the log's snapshot (0 = none) */
	uint64		snap_txn_count; /* TXN entries up to snap_index (from the
								 * snapshot's marker), if snap_count_known */
	bool		snap_count_known;
	PhReplMember members[PH_REPL_MAX_MEMBERS];

	uint64		boot_id;		/* new at every shared memory initialization
								 * (server start, crash restart): TXN entries
								 * carry it, so an xid of an earlier life of
								 * this server is never taken for a running
								 * transaction of this one */

	/* apply worker (apply.c) */
	pid_t		apply_pid;		/* 0 = not running */
	uint64		tables_applied; /* every TXN entry <= this is in the
								 * phantom.applied ledger (or was checked
								 * to be) */
	uint64		tables_durable; /* <= tables_applied: and the commits that
								 * applied them are flushed (the apply
								 * worker commits asynchronously); bounds
								 * log compaction */
	uint64		unknown_max;	/* highest index of an entry this node
								 * proposed whose transaction then aborted
								 * (outcome unknown to it): later local
								 * commits wait until the apply worker has
								 * passed it */
	PhReplCounters counters;	/* published with the status */
	char		table_snapshot[160];	/* state of the current / last table
										 * snapshot (snapshot.c), "" = none */
} PhReplShared;

extern PGDLLIMPORT PhReplShared *ph_repl_shared;
extern PGDLLIMPORT PhReplSlot *ph_repl_slots;
extern PGDLLIMPORT int ph_repl_n_slots;

/* GUCs (src/guc.c) */
extern char *phantom_node_name;
extern char *phantom_raft_listen;
extern char *phantom_cluster_secret;
extern char *phantom_database;
extern int	phantom_raft_election_timeout;
extern int	phantom_raft_heartbeat_interval;
extern int	phantom_node_add_timeout;
extern bool phantom_raft_debug_fail_writes;
extern int	phantom_raft_compact_entries;

/*
 * sql.c: propose a normal entry (payload type byte + data) from a backend
 * and wait until it is committed (leader only).  Returns its index.  Not
 * leader: ERROR before anything is proposed.  Entry lost (another leader
 * overwrote it): ERROR.  Not committed within timeout_ms or cancelled:
 * ERROR with SQLSTATE 40003 (statement_completion_unknown), the entry may
 * still commit.  The building block of the commit path (DESIGN.md §2.2).
 */
extern uint64 ph_repl_propose_wait(uint8 payload_type, const void *data,
								   uint32 len, int timeout_ms);
/* Index of the last entry this backend proposed (0 = none), for capture.c. */
extern uint64 ph_repl_inflight_index;
/* Same, also returning the entry's term. */
extern uint64 ph_repl_propose_wait_term(uint8 payload_type, const void *data,
										uint32 len, int timeout_ms,
										uint64 *term);

/*
 * sql.c: hand one request to the raft worker and wait for its answer
 * (for PROPOSE: until the entry is decided or timeout_ms passed).
 */
extern int	ph_repl_submit(PhReplRequest *in, uint64 *index, uint64 *term,
						   char *errmsg_out);

/* sql.c: "not leader" error (PH010) naming the leader from a status copy. */
extern void ph_repl_not_leader_error(const PhReplShared *st) pg_attribute_noreturn();

/*
 * capture.c: the commit path of table changes.  The table AM calls these
 * from its write callbacks; they cost one test of a static bool on a
 * server that is not a raft node.  ph_repl_write_begin refuses the write
 * on a follower (PH010) and says whether the change must be captured.
 */
extern bool ph_repl_active;		/* raft node and not the apply worker */
extern bool ph_repl_write_begin(Relation rel);
extern void ph_repl_capture_insert(Relation rel, TupleTableSlot *slot);
extern void ph_repl_capture_update(Relation rel, HeapTuple oldtup,
								   TupleTableSlot *newslot);
extern void ph_repl_capture_delete(Relation rel, HeapTuple oldtup);
extern void ph_repl_capture_init(void);
extern int	phantom_commit_timeout;

/* apply.c: the apply worker. */
extern bool ph_repl_applying;	/* this process is the apply worker */
extern PGDLLEXPORT void phantom_apply_worker_main(Datum arg);

/*
 * snapshot.c: table snapshots, run by the apply worker when the log no
 * longer holds its next entry.  ph_repl_table_snapshot_needed: does the
 * local ledger lack TXN entries the log's snapshot covers?
 * ph_repl_table_snapshot: copies the phantom tables and the ledger from
 * the leader in one local transaction; true with *watermark = the index
 * to continue after, false if it could not start (no leader, the
 * leader's tables lag this node's log): retry later.  Errors are ERRORs.
 */
extern bool ph_repl_table_snapshot_needed(uint64 snap_index, uint64 txn_count);
extern bool ph_repl_table_snapshot(uint64 first_index, uint64 *watermark);
extern int	phantom_debug_table_snapshot_delay;

/* TXN payload format (after the payload-type byte). */
#define PH_TXN_MAGIC		0x58544850	/* "PHTX" */
#define PH_TXN_VERSION		2
#define PH_TXN_HEADER_LEN	34	/* magic through body length */
#define PH_TXN_OP_INSERT	'I'
#define PH_TXN_OP_UPDATE	'U'
#define PH_TXN_OP_DELETE	'D'
#define PH_TXN_OP_DDL		'S'
#define PH_TXN_VAL_NULL		'n'
#define PH_TXN_VAL_BINARY	'b'
#define PH_TXN_VAL_TEXT		't'

/* worker.c */
extern bool ph_repl_configured(void);
extern uint64 ph_repl_node_id(const char *name);
extern bool ph_repl_parse_address(const char *addr, char *host, size_t hostlen,
								  int *port);
extern bool ph_repl_valid_name(const char *name);
extern PGDLLEXPORT void phantom_raft_worker_main(Datum arg);

/* Address book payloads (worker.c). */
extern size_t ph_repl_member_encode(uint8 type, uint64 id, const char *name,
									const char *conninfo, const char *addr,
									uint8 *buf, size_t buflen);

/*
 * transport.c: TCP connections between raft workers.  Frames are a
 * 4-byte little-endian length, a kind byte and the payload; a connection
 * carries raft messages only after both sides proved knowledge of
 * phantom.cluster_secret (HMAC-SHA256 challenge-response).
 */
typedef void (*PhTrRecvCb) (const PhRaftMsg *m);

extern void ph_tr_init(const char *listen_addr, uint64 my_id,
					   const char *my_name, const char *secret);
extern void ph_tr_set_address(uint64 id, const char *addr);
extern void ph_tr_send(const PhRaftMsg *m);
extern void ph_tr_wait(long timeout_ms, PhTrRecvCb cb);
extern void ph_tr_peer_info(uint64 id, bool *connected,
							TimestampTz *last_contact);
extern int	ph_tr_take_lost(uint64 *ids, int max);

#endif							/* PHANTOM_REPLICATION_REPLICATION_H */
