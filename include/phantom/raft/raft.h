/*-------------------------------------------------------------------------
 *
 * raft.h
 *	  Public API of phantom's Raft consensus core: an I/O-free state
 *	  machine driven by the host (the raft background worker, or the
 *	  deterministic simulator in regress/unit/test_raft_sim.c).
 *
 * The host feeds the core with ticks (ph_raft_tick), messages received
 * from peers (ph_raft_step) and requests (ph_raft_propose, ph_raft_conf,
 * ph_raft_transfer_leader, ph_raft_read_index).  The core never does I/O:
 * every externally visible effect is collected in a "ready"
 * (ph_raft_ready) which the host must handle in this order:
 *
 *	 1. persist: if rd.snapshot is set, durably install it (replace the whole
 *		log by it and load its data into the state machine); truncate the
 *		durable log from rd.entries[0].index on and append rd.entries;
 *		write rd.hs if rd.hs_changed; fsync.
 *	 2. send rd.msgs (they may acknowledge what step 1 made durable).
 *		Exception: messages for which ph_raft_msg_may_precede_persist() is
 *		true (a leader's AppendEntries, heartbeats, snapshots) may be sent
 *		before step 1, so the leader's fsync overlaps its followers' (Raft
 *		thesis 10.2.1): they promise nothing about the sender's disk, and
 *		the leader counts itself for commit only after ph_raft_advance();
 *	 3. apply rd.committed in order, and serve rd.reads once the state
 *		machine has applied up to each read's index;
 *	 4. call ph_raft_advance(): the core learns that all of the above is
 *		done.  Between ph_raft_ready() and ph_raft_advance() the host must
 *		not call any other function that changes the core.
 *
 * On restart the host rebuilds the core from what it persisted
 * (ph_raft_new with the hard state, the latest snapshot and the entries
 * after it, and the index its state machine has durably applied).
 *
 * Memory: the core allocates with malloc/free.  Pointers in a ready are
 * valid until ph_raft_advance().  Messages passed to ph_raft_step are
 * copied as needed and stay owned by the caller.
 *
 * Not thread-safe: one host thread owns a PhRaft.
 *
 * This header and src/raft/{core,log_mem,progress,codec,status}.c use
 * only standard C headers; they are compiled into the extension and into
 * the unit tests.  Type names avoid those of storage.h (the durable log)
 * so both can be included together.  Design notes: docs/raft.md.
 *
 * include/phantom/raft/raft.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_RAFT_RAFT_H
#define PHANTOM_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest number of members (voters + learners) of one group. */
#define PH_RAFT_MAX_NODES 16

/* Node id 0 means "nobody" (no vote, no known leader). */
#define PH_RAFT_NONE 0

/* Result codes; 0 is success, failures are negative. */
#define PH_RAFT_OK					0
#define PH_RAFT_ERR_NOT_LEADER		(-1)	/* see ph_raft_leader() for a hint */
#define PH_RAFT_ERR_TRANSFERRING	(-2)	/* leadership transfer in progress */
#define PH_RAFT_ERR_CONF_PENDING	(-3)	/* a config change is not committed
											 * yet */
#define PH_RAFT_ERR_INVALID			(-4)	/* bad argument */
#define PH_RAFT_ERR_NOT_READY		(-5)	/* new leader has not committed an
											 * entry of its term yet: retry */
#define PH_RAFT_ERR_NOT_CAUGHT_UP	(-6)	/* learner's log is behind */
#define PH_RAFT_ERR_NOMEM			(-7)
#define PH_RAFT_ERR_IN_READY		(-8)	/* called between ready and
											 * advance */
#define PH_RAFT_ERR_COMPACTED		(-9)	/* index is covered by the
											 * snapshot */
#define PH_RAFT_ERR_BUSY			(-10)	/* too many uncommitted entries */

/* Entry types. */
#define PH_RAFT_ENTRY_NORMAL	0	/* opaque host payload */
#define PH_RAFT_ENTRY_NOOP		1	/* appended by a new leader; no payload */
#define PH_RAFT_ENTRY_CONFIG	2	/* payload: ph_raft_conf_encode() */

/* One log entry; the payload is opaque to the core. */
typedef struct PhRaftEntry
{
	uint64_t	index;
	uint64_t	term;
	uint8_t		type;
	uint32_t	len;
	void	   *data;			/* len bytes, NULL when len == 0 */
} PhRaftEntry;

/* Raft's durable state besides the log (term, vote, commit index). */
typedef struct PhRaftVoteState
{
	uint64_t	term;
	uint64_t	vote;
	uint64_t	commit;
} PhRaftVoteState;

/* Group membership: voters count for quorums, learners only replicate. */
typedef struct PhRaftConfig
{
	int			n_voters;
	int			n_learners;
	uint64_t	voters[PH_RAFT_MAX_NODES];
	uint64_t	learners[PH_RAFT_MAX_NODES];
} PhRaftConfig;

/* A snapshot: state machine image at (index, term) with its config. */
typedef struct PhRaftSnapshot
{
	uint64_t	index;
	uint64_t	term;
	PhRaftConfig conf;
	uint32_t	len;
	void	   *data;			/* opaque host bytes (e.g. a watermark) */
} PhRaftSnapshot;

typedef enum PhRaftMsgType
{
	PH_RAFT_MSG_APP = 1,		/* AppendEntries */
	PH_RAFT_MSG_APP_RESP,
	PH_RAFT_MSG_VOTE,			/* RequestVote */
	PH_RAFT_MSG_VOTE_RESP,
	PH_RAFT_MSG_PREVOTE,
	PH_RAFT_MSG_PREVOTE_RESP,
	PH_RAFT_MSG_HEARTBEAT,
	PH_RAFT_MSG_HEARTBEAT_RESP,
	PH_RAFT_MSG_SNAP,			/* InstallSnapshot */
	PH_RAFT_MSG_TIMEOUT_NOW,	/* leadership transfer: campaign now */
	PH_RAFT_MSG_READ_INDEX,		/* follower asks the leader for a read index */
	PH_RAFT_MSG_READ_INDEX_RESP
} PhRaftMsgType;

#define PH_RAFT_MSG_TYPE_MAX PH_RAFT_MSG_READ_INDEX_RESP

/*
 * A message between two cores.  Fields used per type:
 *	APP:			index/log_term = previous entry, entries, commit
 *	APP_RESP:		index = last index matched (accept) or the probed index
 *					(reject); reject_hint/hint_term = follower's guess of
 *					where the logs may match
 *	(PRE)VOTE:		index/log_term = candidate's last entry; flag set
 *					when the campaign is a leadership transfer
 *	(PRE)VOTE_RESP: reject
 *	HEARTBEAT:		commit, context (ReadIndex round)
 *	HEARTBEAT_RESP: context
 *	SNAP:			snapshot
 *	TIMEOUT_NOW:	nothing
 *	READ_INDEX:		context = the follower host's read id
 *	READ_INDEX_RESP: context, index = read index, reject = failed
 */
typedef struct PhRaftMsg
{
	PhRaftMsgType type;
	uint64_t	from;
	uint64_t	to;
	uint64_t	term;
	uint64_t	index;
	uint64_t	log_term;
	uint64_t	commit;
	uint64_t	reject_hint;
	uint64_t	hint_term;
	uint64_t	context;
	bool		reject;
	bool		flag;
	uint32_t	n_entries;
	PhRaftEntry *entries;
	PhRaftSnapshot *snapshot;
} PhRaftMsg;

/* Result of a ReadIndex request: serve it once applied >= index. */
typedef struct PhRaftReadState
{
	uint64_t	ctx;			/* the host's request id */
	uint64_t	index;			/* read index; meaningless if !ok */
	bool		ok;				/* false: leadership lost, retry */
} PhRaftReadState;

typedef enum PhRaftRole
{
	PH_RAFT_FOLLOWER = 0,
	PH_RAFT_PRECANDIDATE,
	PH_RAFT_CANDIDATE,
	PH_RAFT_LEADER
} PhRaftRole;

/* Everything the host must do; see the protocol at the top of the file. */
typedef struct PhRaftReady
{
	bool		hs_changed;
	PhRaftVoteState hs;
	const PhRaftSnapshot *snapshot; /* to install, or NULL */
	const PhRaftEntry *entries;		/* to persist */
	size_t		n_entries;
	const PhRaftMsg *msgs;			/* to send after persisting */
	size_t		n_msgs;
	const PhRaftEntry *committed;	/* to apply, in order */
	size_t		n_committed;
	const PhRaftReadState *reads;
	size_t		n_reads;
} PhRaftReady;

/* Tunables; ph_raft_default_options() fills sensible values. */
typedef struct PhRaftOptions
{
	int			election_tick;	/* ticks; the timeout is random in
								 * [election_tick, 2 * election_tick) */
	int			heartbeat_tick;
	int			max_inflight;	/* AppendEntries in flight per follower */
	int			max_msg_entries;	/* entries per AppendEntries */
	bool		pre_vote;
	bool		check_quorum;
	uint64_t	seed;			/* for the randomized election timeout */
	uint64_t	max_uncommitted;	/* leader refuses proposals while this
									 * many entries are uncommitted; 0 = no
									 * limit */
} PhRaftOptions;

/* Everything needed to (re)start a core from durable state. */
typedef struct PhRaftInit
{
	uint64_t	id;
	PhRaftOptions opts;
	PhRaftVoteState hs;
	const PhRaftSnapshot *snapshot; /* latest snapshot, or NULL for none */
	const PhRaftEntry *entries;		/* durable entries after the snapshot */
	size_t		n_entries;
	uint64_t	applied;		/* durable apply index of the state machine */
} PhRaftInit;

/* Membership change operations (one server at a time). */
typedef enum PhRaftConfOp
{
	PH_RAFT_CONF_ADD_LEARNER = 1,
	PH_RAFT_CONF_PROMOTE,
	PH_RAFT_CONF_REMOVE
} PhRaftConfOp;

/* Replication progress of one peer as the leader sees it. */
typedef struct PhRaftPeerStatus
{
	uint64_t	id;
	bool		voter;
	uint64_t	match;
	uint64_t	next;
	bool		recent_active;
} PhRaftPeerStatus;

typedef struct PhRaft PhRaft;

extern void ph_raft_default_options(PhRaftOptions *opts);

/*
 * Create a core from durable state.  Returns NULL with *err set on bad
 * input (entries not contiguous after the snapshot, applied beyond the
 * commit index, ...) or out of memory.
 */
extern PhRaft *ph_raft_new(const PhRaftInit *init, int *err);
extern void ph_raft_free(PhRaft *r);

/*
 * Durable state of a brand-new group: every initial member persists the
 * same hard state (term 1, commit 1) and the same entry 1, a config entry
 * listing the voters.  Nodes added later start from nothing (zeroed
 * PhRaftInit besides id/opts) and learn everything from the leader.
 * *entry->data is malloc'ed; free it after ph_raft_new copied it.
 */
extern int	ph_raft_bootstrap(const PhRaftConfig *conf, PhRaftVoteState *hs,
							  PhRaftEntry *entry);

/* Advance the logical clock by one tick. */
extern void ph_raft_tick(PhRaft *r);

/*
 * Start an election now (as if the election timeout fired), e.g. right
 * after bootstrapping a one-node group.  No-op on a leader or a non-voter.
 */
extern void ph_raft_campaign(PhRaft *r);

/*
 * The host lost its link to node (its connection closed or reset).  A hint,
 * not proof: if node is the leader this follower follows, the follower's
 * leader lease ends now, so it grants pre-votes and starts its own
 * pre-vote after a random part of one election timeout instead of a whole
 * one.  A pre-vote cannot disrupt a live leader: the followers that still
 * hear from it keep their lease and ignore it.  Any message from the
 * leader restores the lease.  No-op otherwise.
 */
extern void ph_raft_leader_suspect(PhRaft *r, uint64_t node);

/* Process one message from a peer. */
extern int	ph_raft_step(PhRaft *r, const PhRaftMsg *m);

/*
 * Append a normal entry (leader only).  On success *index and *term tell where
 * it landed; it is committed once the host applies an entry with that
 * index and term.  Not leader: PH_RAFT_ERR_NOT_LEADER, see ph_raft_leader.
 */
extern int	ph_raft_propose(PhRaft *r, const void *data, uint32_t len,
							uint64_t *index, uint64_t *term);

/* One payload of ph_raft_propose_batch. */
typedef struct PhRaftProposal
{
	const void *data;
	uint32_t	len;
} PhRaftProposal;

/*
 * Append n normal entries at consecutive indexes (group commit): they go
 * out in one ready (one fsync) and one AppendEntries per follower (as many
 * as max_msg_entries allows).  *n_done entries were appended, at
 * *first_index + k, term *term; the return code says why the rest (if
 * any) was not (same errors as ph_raft_propose).
 */
extern int	ph_raft_propose_batch(PhRaft *r, const PhRaftProposal *props,
								  size_t n, size_t *n_done,
								  uint64_t *first_index, uint64_t *term);

/*
 * Propose a single-server membership change.  The leader refuses while
 * another change is uncommitted, before it has committed an entry of its
 * own term, to remove itself (transfer leadership first), or to promote a
 * learner whose log is behind the commit index.
 */
extern int	ph_raft_conf(PhRaft *r, PhRaftConfOp op, uint64_t node,
						 uint64_t *index, uint64_t *term);

/*
 * Hand leadership to a voter (leader only); proposals are refused until it
 * completes or expires after an election timeout.  Passing our own id
 * cancels a transfer in progress.
 */
extern int	ph_raft_transfer_leader(PhRaft *r, uint64_t target);

/*
 * Linearizable read: the leader confirms it is still leader with a
 * heartbeat round, then reports (ctx, index) in a ready's reads.  On a
 * follower the request is forwarded to the leader and the answer comes
 * back the same way (NOT_LEADER if no leader is known); a forwarded
 * request or its answer can be lost, so the host must time reads out.
 */
extern int	ph_raft_read_index(PhRaft *r, uint64_t ctx);

/*
 * Take a snapshot at index (<= applied) with host data, and drop the log
 * entries up to it from memory.  The host persists the snapshot and
 * compacts its durable log itself.
 */
extern int	ph_raft_compact(PhRaft *r, uint64_t index, const void *data,
							uint32_t len);

/* Ready / advance; see the protocol at the top of the file. */
extern bool ph_raft_has_ready(const PhRaft *r);
extern int	ph_raft_ready(PhRaft *r, PhRaftReady *rd);
extern void ph_raft_advance(PhRaft *r);

/* Introspection. */
extern uint64_t ph_raft_id(const PhRaft *r);
extern PhRaftRole ph_raft_role(const PhRaft *r);
extern uint64_t ph_raft_term(const PhRaft *r);
extern uint64_t ph_raft_leader(const PhRaft *r);
extern uint64_t ph_raft_commit_index(const PhRaft *r);
extern uint64_t ph_raft_applied_index(const PhRaft *r);
extern uint64_t ph_raft_first_index(const PhRaft *r);
extern uint64_t ph_raft_last_index(const PhRaft *r);
/* Term of entry index, 0 if unknown (compacted beyond the snapshot). */
extern uint64_t ph_raft_term_at(const PhRaft *r, uint64_t index);
/* Entry at index, or NULL if not in memory. */
extern const PhRaftEntry *ph_raft_entry_at(const PhRaft *r, uint64_t index);
extern const PhRaftConfig *ph_raft_config(const PhRaft *r);
extern const PhRaftSnapshot *ph_raft_snapshot(const PhRaft *r);
/* Fill up to max peers' progress (leader only); returns the count. */
extern int	ph_raft_peers(const PhRaft *r, PhRaftPeerStatus *out, int max);
extern const char *ph_raft_role_name(PhRaftRole role);
extern const char *ph_raft_msg_type_name(PhRaftMsgType t);

/* May m be sent before its ready is persisted?  See the ready protocol. */
extern bool ph_raft_msg_may_precede_persist(const PhRaftMsg *m);
extern const char *ph_raft_strerror(int err);

/* Config helpers. */
extern bool ph_raft_conf_is_voter(const PhRaftConfig *c, uint64_t id);
extern bool ph_raft_conf_is_learner(const PhRaftConfig *c, uint64_t id);
/* Encoded size is 8 + 8 * (voters + learners) bytes, little-endian. */
extern uint32_t ph_raft_conf_encoded_len(const PhRaftConfig *c);
extern void ph_raft_conf_encode(const PhRaftConfig *c, void *buf);
extern bool ph_raft_conf_decode(const void *buf, uint32_t len,
								PhRaftConfig *c);

/* Deep copy / free of a message (entries and snapshot included). */
extern PhRaftMsg *ph_raft_msg_clone(const PhRaftMsg *m);
extern void ph_raft_msg_free(PhRaftMsg *m);

/*
 * Wire codec for the transport (src/raft/codec.c): versioned,
 * little-endian, decoding validates every length.  A decoded message owns
 * its entries and snapshot; release them with ph_raft_msg_decoded_free().
 */
extern size_t ph_raft_msg_encoded_len(const PhRaftMsg *m);
extern void ph_raft_msg_encode(const PhRaftMsg *m, void *buf);
extern int	ph_raft_msg_decode(const void *buf, size_t len, PhRaftMsg *out);
extern void ph_raft_msg_decoded_free(PhRaftMsg *m);

/*
 * A snapshot's config and data as one blob, for hosts whose durable log
 * keeps a snapshot marker (index, term) plus an opaque blob (storage.h's
 * ph_raft_log_compact).  Decode allocates out->data.
 */
extern uint32_t ph_raft_snapshot_blob_len(const PhRaftSnapshot *s);
extern void ph_raft_snapshot_blob_encode(const PhRaftSnapshot *s, void *buf);
extern int	ph_raft_snapshot_blob_decode(uint64_t index, uint64_t term,
										 const void *blob, uint32_t len,
										 PhRaftSnapshot *out);

#endif							/* PHANTOM_RAFT_RAFT_H */
