/*-------------------------------------------------------------------------
 *
 * raft_int.h
 *	  Internals shared by the files of the Raft core (src/raft/core.c,
 *	  src/raft/log_mem.c).  Not part of the public API.
 *
 * src/raft/raft_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_RAFT_RAFT_INT_H
#define PHANTOM_RAFT_RAFT_INT_H

#include "phantom/raft/raft.h"

/*
 * The in-memory view of the log: the entries after the snapshot point
 * (snap_index, snap_term), consecutive.  ents[k].index == snap_index+1+k.
 * Entries up to "stable" have been handed to the host in a ready and
 * acknowledged by ph_raft_advance (they are durable); the rest are
 * "unstable".  Each entry owns its payload (malloc).
 */
typedef struct PhRaftMemLog
{
	uint64_t	snap_index;
	uint64_t	snap_term;
	PhRaftEntry *ents;
	size_t		n;
	size_t		cap;
	uint64_t	stable;
} PhRaftMemLog;

extern void ph_raft_mem_init(PhRaftMemLog *l, uint64_t snap_index,
							 uint64_t snap_term);
extern void ph_raft_mem_free(PhRaftMemLog *l);
extern uint64_t ph_raft_mem_last_index(const PhRaftMemLog *l);
extern uint64_t ph_raft_mem_last_term(const PhRaftMemLog *l);
extern uint64_t ph_raft_mem_term(const PhRaftMemLog *l, uint64_t index);
extern PhRaftEntry *ph_raft_mem_entry(const PhRaftMemLog *l, uint64_t index);
extern bool ph_raft_mem_append(PhRaftMemLog *l, uint64_t term, uint8_t type,
							   const void *data, uint32_t len);
extern void ph_raft_mem_truncate_after(PhRaftMemLog *l, uint64_t index);
extern void ph_raft_mem_compact(PhRaftMemLog *l, uint64_t index);
extern void ph_raft_mem_reset(PhRaftMemLog *l, uint64_t snap_index,
							  uint64_t snap_term);
extern uint64_t ph_raft_mem_find_conflict_by_term(const PhRaftMemLog *l,
												  uint64_t index,
												  uint64_t term);
extern bool ph_raft_mem_up_to_date(const PhRaftMemLog *l, uint64_t last_term,
								   uint64_t last_index);

extern bool ph_raft_entry_copy(PhRaftEntry *dst, const PhRaftEntry *src);
extern bool ph_raft_snapshot_copy(PhRaftSnapshot *dst,
								  const PhRaftSnapshot *src);

extern void ph_raft_msg_free_contents(PhRaftMsg *m);

#define MAX_INFLIGHT 64

typedef enum ProgressState
{
	PR_PROBE = 0,				/* one AppendEntries at a time to find the
								 * match point */
	PR_REPLICATE,				/* streaming, up to max_inflight messages */
	PR_SNAPSHOT					/* snapshot sent; waiting for it to land */
} ProgressState;

/* The leader's view of one member's log. */
typedef struct Progress
{
	uint64_t	id;
	bool		voter;
	ProgressState state;
	uint64_t	match;			/* highest index known to match ours */
	uint64_t	next;			/* next index to send */
	bool		probe_sent;		/* PROBE: waiting for a response */
	uint64_t	pending_snapshot;	/* SNAPSHOT: index of the snapshot sent */
	int			snap_elapsed;	/* SNAPSHOT: ticks since it was sent */
	bool		recent_active;	/* heard from it this election timeout */
	uint64_t	read_ack;		/* highest ReadIndex round it confirmed */
	uint64_t	infl[MAX_INFLIGHT]; /* last index of each message in flight */
	int			infl_start;
	int			infl_count;
} Progress;

/* A ReadIndex request waiting for its heartbeat round. */
typedef struct PendingRead
{
	uint64_t	from;			/* follower that forwarded it, or NONE */
	uint64_t	ctx;
	uint64_t	index;
	uint64_t	seq;
} PendingRead;

struct PhRaft
{
	uint64_t	id;
	PhRaftOptions o;

	/* Raft state */
	uint64_t	term;
	uint64_t	vote;
	uint64_t	commit;
	uint64_t	applied;
	PhRaftRole	role;
	uint64_t	lead;
	PhRaftMemLog log;
	PhRaftConfig conf;
	uint64_t	conf_index;		/* log index conf came from, or snapshot's */
	PhRaftSnapshot snap;		/* latest snapshot (index 0: none) */
	bool		snap_pending;	/* snap received, not yet handed to host */

	/* timers */
	int			election_elapsed;
	int			heartbeat_elapsed;
	int			randomized_timeout;
	uint64_t	rng;

	/* elections */
	uint64_t	vote_from[PH_RAFT_MAX_NODES];
	bool		vote_granted[PH_RAFT_MAX_NODES];
	int			n_votes;

	/* leader state */
	Progress	prs[PH_RAFT_MAX_NODES];
	int			n_prs;
	uint64_t	lead_transferee;
	PendingRead *pending_reads;
	int			n_pending_reads;
	int			cap_pending_reads;
	uint64_t	read_seq;

	/* outputs */
	PhRaftMsg  *msgs;
	size_t		n_msgs;
	size_t		cap_msgs;
	PhRaftReadState *reads_out;
	size_t		n_reads_out;
	size_t		cap_reads_out;
	PhRaftVoteState prev_hs;	/* last hard state handed to the host */

	/* between ready and advance */
	bool		in_ready;
	uint64_t	rd_stable;
	uint64_t	rd_applied;
	PhRaftVoteState rd_hs;
};

/* progress.c: the leader's flow control per follower */
extern void ph_raft_pr_reset(PhRaft *r, Progress *pr);
extern void ph_raft_pr_become_probe(Progress *pr);
extern void ph_raft_pr_become_replicate(Progress *pr);
extern bool ph_raft_pr_paused(const PhRaft *r, const Progress *pr);
extern void ph_raft_pr_free_inflight_to(Progress *pr, uint64_t index);
extern void ph_raft_pr_add_inflight(Progress *pr, uint64_t last);
extern bool ph_raft_pr_maybe_update(Progress *pr, uint64_t index);
extern bool ph_raft_pr_maybe_decr(PhRaft *r, Progress *pr, uint64_t rejected,
								  uint64_t hint, uint64_t hint_term);


#endif							/* PHANTOM_RAFT_RAFT_INT_H */
