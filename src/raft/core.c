/*-------------------------------------------------------------------------
 *
 * core.c
 *	  phantom's Raft consensus core: an I/O-free state machine.
 *
 * The core owns the Raft state of one node: term, vote, commit and apply
 * indexes, role, the in-memory log (log_mem.c), the membership config, the
 * latest snapshot, the leader's view of each peer's replication progress,
 * pending ReadIndex requests and an outbox of messages.  It changes only
 * through ph_raft_tick, ph_raft_step and the request functions, and reports
 * everything the host must do through ph_raft_ready (see raft.h for the
 * persist -> send -> apply -> advance protocol).
 *
 * Protocol features: randomized election timeouts from a host-seeded RNG,
 * pre-vote, check-quorum with a leader lease on votes, a no-op entry on
 * election, commit by counting only of current-term entries, fast log
 * backtracking by conflicting term, flow control (probe / replicate /
 * snapshot states with a bounded number of AppendEntries in flight),
 * single-server membership changes that take effect when appended,
 * leadership transfer with TimeoutNow, snapshots and ReadIndex.
 *
 * Invariants kept here (checked by the simulator):
 *	- commit <= last index; entries up to commit are never truncated;
 *	- applied <= commit; only entries made durable in the same or an earlier
 *	  ready are reported as committed;
 *	- messages are only ever released in a ready, after (by protocol) the
 *	  host persisted the state they depend on, so a crash can lose only
 *	  state no peer has seen;
 *	- the leader counts itself in a quorum only for entries the host
 *	  acknowledged as durable (advance);
 *	- at most one uncommitted config entry exists in a leader's log, and a
 *	  leader proposes one only after committing an entry of its own term.
 *
 * Companion files: log_mem.c (the in-memory log, config codec),
 * progress.c (per-follower flow control), codec.c (wire format),
 * status.c (construction helpers, introspection).  Shared internals are in
 * raft_int.h.
 *
 * No locking: one host thread owns a PhRaft.
 *
 * src/raft/core.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

static void become_follower(PhRaft *r, uint64_t term, uint64_t lead);
static int	leader_read(PhRaft *r, uint64_t from, uint64_t ctx);
static bool send_append(PhRaft *r, Progress *pr, bool send_if_empty);
static void bcast_append(PhRaft *r);

/* ---------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------
 */

/* splitmix64: deterministic, seeded by the host. */
static uint64_t
rng_next(PhRaft *r)
{
	uint64_t	z = (r->rng += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Pick this round's election timeout in [election_tick, 2*election_tick). */
static void
reset_randomized_timeout(PhRaft *r)
{
	r->randomized_timeout = r->o.election_tick +
		(int) (rng_next(r) % (uint64_t) r->o.election_tick);
}

/* Votes (or acknowledgements) needed from the current voters. */
static int
quorum(const PhRaft *r)
{
	return r->conf.n_voters / 2 + 1;
}

/* May this node start elections?  Only voters of its config can. */
static bool
promotable(const PhRaft *r)
{
	return ph_raft_conf_is_voter(&r->conf, r->id);
}

/* The leader's progress entry for id, or NULL if id is not tracked. */
static Progress *
progress(PhRaft *r, uint64_t id)
{
	int			i;

	for (i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

/*
 * Queue a message in the outbox.  The message's entries and snapshot are
 * taken over by the outbox (freed at advance).
 */
static void
send(PhRaft *r, PhRaftMsg *m)
{
	if (r->n_msgs == r->cap_msgs)
	{
		size_t		ncap = r->cap_msgs ? r->cap_msgs * 2 : 16;
		PhRaftMsg  *nm = realloc(r->msgs, ncap * sizeof(PhRaftMsg));

		if (nm == NULL)
		{
			/* dropping a message is always safe in Raft */
			ph_raft_msg_free_contents(m);
			return;
		}
		r->msgs = nm;
		r->cap_msgs = ncap;
	}
	m->from = r->id;
	r->msgs[r->n_msgs++] = *m;
}

/* Zero a message and set its type, destination and term. */
static void
init_msg(PhRaftMsg *m, PhRaftMsgType type, uint64_t to, uint64_t term)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->to = to;
	m->term = term;
}

/* Report a ReadIndex outcome to the host. */
static void
push_read(PhRaft *r, uint64_t ctx, uint64_t index, bool ok)
{
	if (r->n_reads_out == r->cap_reads_out)
	{
		size_t		ncap = r->cap_reads_out ? r->cap_reads_out * 2 : 8;
		PhRaftReadState *n = realloc(r->reads_out,
									 ncap * sizeof(PhRaftReadState));

		if (n == NULL)
			return;
		r->reads_out = n;
		r->cap_reads_out = ncap;
	}
	r->reads_out[r->n_reads_out].ctx = ctx;
	r->reads_out[r->n_reads_out].index = index;
	r->reads_out[r->n_reads_out].ok = ok;
	r->n_reads_out++;
}

/*
 * Deliver a ReadIndex outcome: to our host, or to the follower that
 * forwarded the request.
 */
static void
read_result(PhRaft *r, uint64_t from, uint64_t ctx, uint64_t index, bool ok)
{
	PhRaftMsg	m;

	if (from == PH_RAFT_NONE || from == r->id)
	{
		push_read(r, ctx, index, ok);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = PH_RAFT_MSG_READ_INDEX_RESP;
	m.to = from;
	m.term = r->term;
	m.context = ctx;
	m.index = index;
	m.reject = !ok;
	send(r, &m);
}

/* Fail every pending ReadIndex request (leadership lost). */
static void
fail_pending_reads(PhRaft *r)
{
	int			i;

	for (i = 0; i < r->n_pending_reads; i++)
		read_result(r, r->pending_reads[i].from, r->pending_reads[i].ctx, 0,
					false);
	r->n_pending_reads = 0;
}

/* ---------------------------------------------------------------------
 * Config
 * ---------------------------------------------------------------------
 */

/*
 * Make the progress set match the config (leader), keeping what we know
 * about members that stay.
 */
static void
sync_progress(PhRaft *r)
{
	Progress	old[PH_RAFT_MAX_NODES];
	int			n_old = r->n_prs;
	int			i;
	int			j;

	memcpy(old, r->prs, sizeof(Progress) * n_old);
	r->n_prs = 0;
	for (i = 0; i < r->conf.n_voters + r->conf.n_learners; i++)
	{
		bool		voter = i < r->conf.n_voters;
		uint64_t	id = voter ? r->conf.voters[i] :
			r->conf.learners[i - r->conf.n_voters];
		Progress   *pr = &r->prs[r->n_prs++];

		for (j = 0; j < n_old; j++)
			if (old[j].id == id)
				break;
		if (j < n_old)
			*pr = old[j];
		else
		{
			memset(pr, 0, sizeof(*pr));
			pr->id = id;
			ph_raft_pr_reset(r, pr);
			if (id == r->id)
				pr->match = r->log.stable;
		}
		pr->voter = voter;
	}
	/* keep our own progress even if we are not a member */
	if (progress(r, r->id) == NULL && n_old > 0)
	{
		for (j = 0; j < n_old; j++)
			if (old[j].id == r->id)
			{
				r->prs[r->n_prs] = old[j];
				r->prs[r->n_prs].voter = false;
				r->n_prs++;
				break;
			}
	}
}

/* The config in force as of log index "upto": last config entry <= upto. */
static void
conf_as_of(const PhRaft *r, uint64_t upto, PhRaftConfig *c, uint64_t *at)
{
	uint64_t	i;

	for (i = upto; i > r->log.snap_index; i--)
	{
		PhRaftEntry *e = ph_raft_mem_entry(&r->log, i);

		if (e && e->type == PH_RAFT_ENTRY_CONFIG &&
			ph_raft_conf_decode(e->data, e->len, c))
		{
			if (at)
				*at = i;
			return;
		}
	}
	*c = r->snap.conf;
	if (at)
		*at = r->snap.index;
}

static bool maybe_commit(PhRaft *r);

/*
 * Recompute the config from the log (after appends of config entries or a
 * truncation) and react: the leader adjusts its progress set, a quorum
 * change may commit entries, a transfer to a node that is no longer a
 * voter is abandoned.
 */
static void
refresh_conf(PhRaft *r)
{
	conf_as_of(r, ph_raft_mem_last_index(&r->log), &r->conf, &r->conf_index);
	if (r->role == PH_RAFT_LEADER)
	{
		sync_progress(r);
		if (r->lead_transferee != PH_RAFT_NONE &&
			!ph_raft_conf_is_voter(&r->conf, r->lead_transferee))
			r->lead_transferee = PH_RAFT_NONE;
		if (maybe_commit(r))
			bcast_append(r);
	}
}

/* ---------------------------------------------------------------------
 * Role changes
 * ---------------------------------------------------------------------
 */

/* Common part of every role change; a new term forgets the vote. */
static void
reset(PhRaft *r, uint64_t term)
{
	int			i;

	if (term != r->term)
	{
		r->term = term;
		r->vote = PH_RAFT_NONE;
	}
	r->lead = PH_RAFT_NONE;
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	reset_randomized_timeout(r);
	r->n_votes = 0;
	r->lead_transferee = PH_RAFT_NONE;
	fail_pending_reads(r);
	for (i = 0; i < r->n_prs; i++)
		ph_raft_pr_reset(r, &r->prs[i]);
}

/* Follow lead (NONE if unknown) in term; a new term forgets the vote. */
static void
become_follower(PhRaft *r, uint64_t term, uint64_t lead)
{
	reset(r, term);
	r->role = PH_RAFT_FOLLOWER;
	r->lead = lead;
}

/* Enter the pre-vote phase: term, vote and log stay unchanged. */
static void
become_precandidate(PhRaft *r)
{
	/* term and vote unchanged: a pre-vote must not disrupt anybody */
	r->role = PH_RAFT_PRECANDIDATE;
	r->lead = PH_RAFT_NONE;
	r->n_votes = 0;
	r->election_elapsed = 0;
	reset_randomized_timeout(r);
	fail_pending_reads(r);
}

/* Start a real election: new term, vote for ourselves. */
static void
become_candidate(PhRaft *r)
{
	reset(r, r->term + 1);
	r->vote = r->id;
	r->role = PH_RAFT_CANDIDATE;
}

/* Append an entry of the current term to our log (leader). */
static bool
append_entry(PhRaft *r, uint8_t type, const void *data, uint32_t len)
{
	Progress   *self;

	if (!ph_raft_mem_append(&r->log, r->term, type, data, len))
		return false;
	self = progress(r, r->id);
	if (self)
		self->next = ph_raft_mem_last_index(&r->log) + 1;
	return true;
}

/*
 * Take office: fresh progress for every member (all probing from our
 * last index), our own match is what is durable, then append the no-op.
 */
static void
become_leader(PhRaft *r)
{
	Progress   *self;
	int			i;

	reset(r, r->term);
	r->role = PH_RAFT_LEADER;
	r->lead = r->id;
	sync_progress(r);
	for (i = 0; i < r->n_prs; i++)
		ph_raft_pr_reset(r, &r->prs[i]);
	self = progress(r, r->id);
	if (self)
	{
		self->match = r->log.stable;
		self->recent_active = true;
	}
	/* the no-op lets us commit (and so learn) everything before our term */
	append_entry(r, PH_RAFT_ENTRY_NOOP, NULL, 0);
	bcast_append(r);
}

/* ---------------------------------------------------------------------
 * Elections
 * ---------------------------------------------------------------------
 */

typedef enum VoteResult
{
	VOTE_PENDING,
	VOTE_WON,
	VOTE_LOST
} VoteResult;

/* Record a (pre-)vote from id and tell whether the election is decided. */
static VoteResult
poll(PhRaft *r, uint64_t id, bool granted)
{
	int			i;
	int			yes = 0;
	int			no = 0;

	for (i = 0; i < r->n_votes; i++)
		if (r->vote_from[i] == id)
			break;
	if (i == r->n_votes && r->n_votes < PH_RAFT_MAX_NODES)
	{
		r->vote_from[r->n_votes] = id;
		r->vote_granted[r->n_votes] = granted;
		r->n_votes++;
	}
	for (i = 0; i < r->n_votes; i++)
	{
		if (!ph_raft_conf_is_voter(&r->conf, r->vote_from[i]))
			continue;
		if (r->vote_granted[i])
			yes++;
		else
			no++;
	}
	if (yes >= quorum(r))
		return VOTE_WON;
	if (no > r->conf.n_voters - quorum(r))
		return VOTE_LOST;
	return VOTE_PENDING;
}

/*
 * Start a (pre-)election.  A pre-election asks for votes at term+1 without
 * changing our term, so a partitioned node cannot inflate terms and
 * disrupt a working leader when it comes back.  transfer marks a campaign
 * caused by TimeoutNow: voters then ignore their leader lease.
 */
static void
campaign(PhRaft *r, bool pre, bool transfer)
{
	uint64_t	vote_term;
	PhRaftMsgType type;
	int			i;

	if (!promotable(r))
		return;
	if (pre)
	{
		become_precandidate(r);
		vote_term = r->term + 1;
		type = PH_RAFT_MSG_PREVOTE;
	}
	else
	{
		become_candidate(r);
		vote_term = r->term;
		type = PH_RAFT_MSG_VOTE;
	}
	if (poll(r, r->id, true) == VOTE_WON)
	{
		if (pre)
			campaign(r, false, transfer);
		else
			become_leader(r);
		return;
	}
	for (i = 0; i < r->conf.n_voters; i++)
	{
		PhRaftMsg	m;

		if (r->conf.voters[i] == r->id)
			continue;
		init_msg(&m, type, r->conf.voters[i], vote_term);
		m.index = ph_raft_mem_last_index(&r->log);
		m.log_term = ph_raft_mem_last_term(&r->log);
		m.flag = transfer;
		send(r, &m);
	}
}

/*
 * The election timer fired (or TimeoutNow arrived): campaign, with a
 * pre-vote first unless disabled or this is a leadership transfer.
 */
static void
hup(PhRaft *r, bool transfer)
{
	if (r->role == PH_RAFT_LEADER)
		return;
	campaign(r, r->o.pre_vote && !transfer, transfer);
}

/* Answer a (pre-)vote request whose term is >= ours. */
static void
handle_vote(PhRaft *r, const PhRaftMsg *m)
{
	bool		pre = m->type == PH_RAFT_MSG_PREVOTE;
	bool		can_vote;
	PhRaftMsg	resp;

	can_vote = r->vote == m->from ||
		(r->vote == PH_RAFT_NONE && r->lead == PH_RAFT_NONE) ||
		(pre && m->term > r->term);
	init_msg(&resp, pre ? PH_RAFT_MSG_PREVOTE_RESP : PH_RAFT_MSG_VOTE_RESP,
			 m->from, r->term);
	if (can_vote && ph_raft_mem_up_to_date(&r->log, m->log_term, m->index))
	{
		/* a grant carries the requested term, so the candidate counts it */
		resp.term = m->term;
		if (!pre)
		{
			r->election_elapsed = 0;
			r->vote = m->from;
		}
	}
	else
		resp.reject = true;
	send(r, &resp);
}

/* ---------------------------------------------------------------------
 * Replication: leader side
 * ---------------------------------------------------------------------
 */

/*
 * Send the next AppendEntries (or the snapshot) to pr unless flow control
 * pauses it.  With send_if_empty false, nothing is sent when there are no
 * new entries.  Returns true if a message was sent.
 */
static bool
send_append(PhRaft *r, Progress *pr, bool send_if_empty)
{
	PhRaftMsg	m;
	uint64_t	last = ph_raft_mem_last_index(&r->log);
	uint64_t	prev;
	uint64_t	hi;
	uint64_t	i;

	if (pr->id == r->id || ph_raft_pr_paused(r, pr))
		return false;
	if (pr->next > last + 1)
		pr->next = last + 1;
	prev = pr->next - 1;
	if (prev < r->log.snap_index)
	{
		/* the entries it needs are compacted: send the snapshot */
		if (r->snap.index == 0)
			return false;
		init_msg(&m, PH_RAFT_MSG_SNAP, pr->id, r->term);
		m.snapshot = malloc(sizeof(PhRaftSnapshot));
		if (m.snapshot == NULL ||
			!ph_raft_snapshot_copy(m.snapshot, &r->snap))
		{
			free(m.snapshot);
			return false;
		}
		send(r, &m);
		pr->state = PR_SNAPSHOT;
		pr->pending_snapshot = r->snap.index;
		pr->snap_elapsed = 0;
		pr->infl_start = pr->infl_count = 0;
		return true;
	}
	hi = pr->next + (uint64_t) r->o.max_msg_entries - 1;
	if (hi > last)
		hi = last;
	if (pr->next > hi && !send_if_empty)
		return false;
	init_msg(&m, PH_RAFT_MSG_APP, pr->id, r->term);
	m.index = prev;
	m.log_term = ph_raft_mem_term(&r->log, prev);
	m.commit = r->commit;
	if (pr->next <= hi)
	{
		m.entries = calloc(hi - pr->next + 1, sizeof(PhRaftEntry));
		if (m.entries == NULL)
			return false;
		for (i = pr->next; i <= hi; i++)
		{
			if (!ph_raft_entry_copy(&m.entries[m.n_entries],
									ph_raft_mem_entry(&r->log, i)))
			{
				ph_raft_msg_free_contents(&m);
				return false;
			}
			m.n_entries++;
		}
	}
	send(r, &m);
	if (pr->state == PR_REPLICATE && m.n_entries > 0)
	{
		pr->next = hi + 1;
		ph_raft_pr_add_inflight(pr, hi);
	}
	else if (pr->state == PR_PROBE)
		pr->probe_sent = true;
	return true;
}

/*
 * Send every follower what flow control allows (empty appends carry the
 * commit index).
 */
static void
bcast_append(PhRaft *r)
{
	int			i;

	for (i = 0; i < r->n_prs; i++)
		send_append(r, &r->prs[i], true);
}

/* Heartbeat every member; ctx tags a ReadIndex round (0: none pending). */
static void
bcast_heartbeat(PhRaft *r, uint64_t ctx)
{
	int			i;

	for (i = 0; i < r->n_prs; i++)
	{
		Progress   *pr = &r->prs[i];
		PhRaftMsg	m;

		if (pr->id == r->id)
			continue;
		init_msg(&m, PH_RAFT_MSG_HEARTBEAT, pr->id, r->term);
		/* never let a follower commit beyond what matches our log */
		m.commit = pr->match < r->commit ? pr->match : r->commit;
		m.context = ctx;
		send(r, &m);
	}
}

/* qsort comparator: descending uint64. */
static int
cmp_desc(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return x < y ? 1 : (x > y ? -1 : 0);
}

/*
 * Advance the commit index to the highest index replicated on a quorum of
 * voters, but only if that entry is of the current term (Raft §5.4.2:
 * counting replicas does not commit entries of earlier terms).
 */
static bool
maybe_commit(PhRaft *r)
{
	uint64_t	m[PH_RAFT_MAX_NODES];
	int			n = 0;
	int			i;
	uint64_t	q;

	if (r->conf.n_voters == 0)
		return false;
	for (i = 0; i < r->n_prs; i++)
		if (r->prs[i].voter)
			m[n++] = r->prs[i].match;
	if (n < quorum(r))
		return false;
	qsort(m, n, sizeof(uint64_t), cmp_desc);
	q = m[quorum(r) - 1];
	if (q > r->commit && ph_raft_mem_term(&r->log, q) == r->term)
	{
		r->commit = q;
		return true;
	}
	return false;
}

/* Release the ReadIndex requests confirmed by a quorum of heartbeats. */
static void
process_reads(PhRaft *r)
{
	int			done = 0;
	int			i;

	while (done < r->n_pending_reads)
	{
		PendingRead *pr = &r->pending_reads[done];
		int			acks = 0;

		for (i = 0; i < r->n_prs; i++)
			if (r->prs[i].voter &&
				(r->prs[i].id == r->id || r->prs[i].read_ack >= pr->seq))
				acks++;
		if (acks < quorum(r))
			break;
		read_result(r, pr->from, pr->ctx, pr->index, true);
		done++;
	}
	if (done > 0)
	{
		memmove(r->pending_reads, r->pending_reads + done,
				(r->n_pending_reads - done) * sizeof(PendingRead));
		r->n_pending_reads -= done;
	}
}

/* Tell the transfer target to campaign immediately. */
static void
send_timeout_now(PhRaft *r, uint64_t to)
{
	PhRaftMsg	m;

	init_msg(&m, PH_RAFT_MSG_TIMEOUT_NOW, to, r->term);
	send(r, &m);
}

/*
 * A follower answered an AppendEntries (or a snapshot).  A rejection
 * moves next back (fast backtracking) and re-probes; an acceptance moves
 * match forward, switches probing followers to streaming, may commit, and
 * sends more.  A caught-up transfer target gets TimeoutNow.
 */
static void
leader_handle_app_resp(PhRaft *r, Progress *pr, const PhRaftMsg *m)
{
	pr->recent_active = true;
	if (m->reject)
	{
		if (ph_raft_pr_maybe_decr(r, pr, m->index, m->reject_hint, m->hint_term))
		{
			if (pr->state == PR_REPLICATE)
				ph_raft_pr_become_probe(pr);
			send_append(r, pr, true);
		}
		return;
	}
	if (!ph_raft_pr_maybe_update(pr, m->index))
		return;
	if (pr->state == PR_PROBE)
		ph_raft_pr_become_replicate(pr);
	else if (pr->state == PR_SNAPSHOT && pr->match >= pr->pending_snapshot)
		ph_raft_pr_become_replicate(pr);
	else if (pr->state == PR_REPLICATE)
		ph_raft_pr_free_inflight_to(pr, pr->match);
	if (maybe_commit(r))
		bcast_append(r);
	while (send_append(r, pr, false))
		;
	if (m->from == r->lead_transferee &&
		pr->match == ph_raft_mem_last_index(&r->log))
		send_timeout_now(r, m->from);
}

/*
 * A follower answered a heartbeat: it is alive (check-quorum), may take
 * another probe or message, and confirms ReadIndex rounds up to ctx.
 */
static void
leader_handle_heartbeat_resp(PhRaft *r, Progress *pr, const PhRaftMsg *m)
{
	pr->recent_active = true;
	pr->probe_sent = false;
	if (pr->state == PR_REPLICATE && pr->infl_count >= r->o.max_inflight)
	{
		/* one message may have been lost; let one more through */
		pr->infl_start = (pr->infl_start + 1) % MAX_INFLIGHT;
		pr->infl_count--;
	}
	if (pr->match < ph_raft_mem_last_index(&r->log))
		send_append(r, pr, true);
	if (m->context > pr->read_ack)
	{
		pr->read_ack = m->context;
		process_reads(r);
	}
}

/* ---------------------------------------------------------------------
 * Replication: follower side
 * ---------------------------------------------------------------------
 */

/* Follower: raise the commit index, never beyond our last entry. */
static void
commit_to(PhRaft *r, uint64_t c)
{
	uint64_t	last = ph_raft_mem_last_index(&r->log);

	if (c > last)
		c = last;
	if (c > r->commit)
		r->commit = c;
}

/*
 * Follower: AppendEntries.  Accept if our log has the previous entry
 * (index, log_term): skip entries we already have, truncate at the first
 * conflict (never below commit), append the rest, adopt config entries,
 * and commit up to min(leader commit, last new entry).  Otherwise reject
 * with a hint for fast backtracking.
 */
static int
handle_append(PhRaft *r, const PhRaftMsg *m)
{
	PhRaftMsg	resp;
	uint64_t	last = ph_raft_mem_last_index(&r->log);

	init_msg(&resp, PH_RAFT_MSG_APP_RESP, m->from, r->term);
	if (m->index < r->commit)
	{
		resp.index = r->commit;
		send(r, &resp);
		return PH_RAFT_OK;
	}
	if (m->index <= last && ph_raft_mem_term(&r->log, m->index) == m->log_term)
	{
		uint32_t	k;
		bool		conf_changed = false;

		for (k = 0; k < m->n_entries; k++)
		{
			const PhRaftEntry *e = &m->entries[k];

			if (e->index <= ph_raft_mem_last_index(&r->log))
			{
				if (ph_raft_mem_term(&r->log, e->index) == e->term)
					continue;
				if (e->index <= r->commit)
					return PH_RAFT_ERR_INVALID; /* would lose committed
												 * data: a protocol bug */
				if (r->conf_index >= e->index)
					conf_changed = true;
				ph_raft_mem_truncate_after(&r->log, e->index - 1);
			}
			if (!ph_raft_mem_append(&r->log, e->term, e->type, e->data,
									e->len))
				return PH_RAFT_ERR_NOMEM;
			if (e->type == PH_RAFT_ENTRY_CONFIG)
				conf_changed = true;
		}
		if (conf_changed)
			refresh_conf(r);
		commit_to(r, m->index + m->n_entries < m->commit ?
				  m->index + m->n_entries : m->commit);
		resp.index = m->index + m->n_entries;
		send(r, &resp);
		return PH_RAFT_OK;
	}
	resp.reject = true;
	resp.index = m->index;
	resp.reject_hint = ph_raft_mem_find_conflict_by_term(&r->log,
														 m->index < last ?
														 m->index : last,
														 m->log_term);
	resp.hint_term = ph_raft_mem_term(&r->log, resp.reject_hint);
	send(r, &resp);
	return PH_RAFT_OK;
}

/*
 * Follower: heartbeat; its commit index is bounded by our match on the
 * leader, so we only commit entries that match the leader's log.
 */
static void
handle_heartbeat(PhRaft *r, const PhRaftMsg *m)
{
	PhRaftMsg	resp;

	commit_to(r, m->commit);
	init_msg(&resp, PH_RAFT_MSG_HEARTBEAT_RESP, m->from, r->term);
	resp.context = m->context;
	send(r, &resp);
}

/*
 * InstallSnapshot.  If our log already has the snapshot's last entry we
 * just commit up to it; otherwise the log is replaced by the snapshot and
 * the host must install it (ready.snapshot).
 */
static int
handle_snapshot(PhRaft *r, const PhRaftMsg *m)
{
	const PhRaftSnapshot *s = m->snapshot;
	PhRaftMsg	resp;

	init_msg(&resp, PH_RAFT_MSG_APP_RESP, m->from, r->term);
	if (s == NULL)
		return PH_RAFT_ERR_INVALID;
	if (s->index > r->commit)
	{
		if (ph_raft_mem_term(&r->log, s->index) == s->term &&
			s->index > r->log.snap_index)
			commit_to(r, s->index);
		else
		{
			PhRaftSnapshot copy;

			if (!ph_raft_snapshot_copy(&copy, s))
				return PH_RAFT_ERR_NOMEM;
			free(r->snap.data);
			r->snap = copy;
			r->snap_pending = true;
			ph_raft_mem_reset(&r->log, s->index, s->term);
			r->commit = s->index;
			refresh_conf(r);
		}
	}
	resp.index = r->commit;
	send(r, &resp);
	return PH_RAFT_OK;
}

/* ---------------------------------------------------------------------
 * Step
 * ---------------------------------------------------------------------
 */

/*
 * Is m well formed?  Peers are authenticated by the transport, so this
 * guards against bugs and corruption rather than attackers: a message that
 * would break the log's invariants (entries not consecutive after the
 * previous entry, terms going down or beyond the message's term, unknown
 * entry types, a snapshot message without a snapshot) is refused.
 */
static bool
msg_valid(const PhRaft *r, const PhRaftMsg *m)
{
	uint32_t	k;
	uint64_t	prev_term = m->log_term;

	if (m->to != r->id || m->from == r->id || m->from == PH_RAFT_NONE ||
		m->type < PH_RAFT_MSG_APP || m->type > PH_RAFT_MSG_TYPE_MAX)
		return false;
	if (m->n_entries > 0 && (m->type != PH_RAFT_MSG_APP || m->entries == NULL))
		return false;
	for (k = 0; k < m->n_entries; k++)
	{
		const PhRaftEntry *e = &m->entries[k];

		if (e->index != m->index + 1 + k || e->term < prev_term ||
			e->term > m->term || e->type > PH_RAFT_ENTRY_CONFIG ||
			(e->len > 0 && e->data == NULL))
			return false;
		prev_term = e->term;
	}
	if (m->type == PH_RAFT_MSG_SNAP &&
		(m->snapshot == NULL || m->snapshot->index == 0 ||
		 m->snapshot->term > m->term))
		return false;
	return true;
}

/*
 * Process one message: term checks first (a higher term makes us follow,
 * except for pre-votes and votes ignored under a leader lease; a lower
 * term is ignored or answered so a stale leader steps down), then votes,
 * then the role-specific handling.
 */
int
ph_raft_step(PhRaft *r, const PhRaftMsg *m)
{
	Progress   *pr;

	if (r->in_ready)
		return PH_RAFT_ERR_IN_READY;
	if (!msg_valid(r, m))
		return PH_RAFT_ERR_INVALID;

	if (m->term > r->term)
	{
		if (m->type == PH_RAFT_MSG_VOTE || m->type == PH_RAFT_MSG_PREVOTE)
		{
			bool		in_lease = r->o.check_quorum &&
				r->lead != PH_RAFT_NONE &&
				r->election_elapsed < r->o.election_tick;

			/* we heard from a live leader recently: do not be disrupted */
			if (in_lease && !m->flag)
				return PH_RAFT_OK;
		}
		if (m->type == PH_RAFT_MSG_PREVOTE ||
			(m->type == PH_RAFT_MSG_PREVOTE_RESP && !m->reject))
		{
			/* pre-vote terms are in the future; ours does not move */
		}
		else if (m->type == PH_RAFT_MSG_APP ||
				 m->type == PH_RAFT_MSG_HEARTBEAT ||
				 m->type == PH_RAFT_MSG_SNAP)
			become_follower(r, m->term, m->from);
		else
			become_follower(r, m->term, PH_RAFT_NONE);
	}
	else if (m->term < r->term)
	{
		PhRaftMsg	resp;

		if ((r->o.check_quorum || r->o.pre_vote) &&
			(m->type == PH_RAFT_MSG_APP || m->type == PH_RAFT_MSG_HEARTBEAT))
		{
			/* tell a stale leader about the newer term */
			init_msg(&resp, PH_RAFT_MSG_APP_RESP, m->from, r->term);
			send(r, &resp);
		}
		else if (m->type == PH_RAFT_MSG_PREVOTE)
		{
			init_msg(&resp, PH_RAFT_MSG_PREVOTE_RESP, m->from, r->term);
			resp.reject = true;
			send(r, &resp);
		}
		return PH_RAFT_OK;
	}

	if (m->type == PH_RAFT_MSG_VOTE || m->type == PH_RAFT_MSG_PREVOTE)
	{
		handle_vote(r, m);
		return PH_RAFT_OK;
	}
	if (m->type == PH_RAFT_MSG_READ_INDEX)
	{
		/* a follower's read: serve it, or fail it fast if we cannot */
		if (r->role != PH_RAFT_LEADER ||
			leader_read(r, m->from, m->context) != PH_RAFT_OK)
			read_result(r, m->from, m->context, 0, false);
		return PH_RAFT_OK;
	}
	if (m->type == PH_RAFT_MSG_READ_INDEX_RESP)
	{
		if (r->role != PH_RAFT_LEADER)
			push_read(r, m->context, m->index, !m->reject);
		return PH_RAFT_OK;
	}

	switch (r->role)
	{
		case PH_RAFT_LEADER:
			pr = progress(r, m->from);
			if (pr == NULL)
				return PH_RAFT_OK;
			if (m->type == PH_RAFT_MSG_APP_RESP)
				leader_handle_app_resp(r, pr, m);
			else if (m->type == PH_RAFT_MSG_HEARTBEAT_RESP)
				leader_handle_heartbeat_resp(r, pr, m);
			return PH_RAFT_OK;

		case PH_RAFT_PRECANDIDATE:
		case PH_RAFT_CANDIDATE:
			if (m->type == PH_RAFT_MSG_APP || m->type == PH_RAFT_MSG_HEARTBEAT ||
				m->type == PH_RAFT_MSG_SNAP)
			{
				/* somebody won this term */
				become_follower(r, m->term, m->from);
				break;
			}
			if ((r->role == PH_RAFT_PRECANDIDATE &&
				 m->type == PH_RAFT_MSG_PREVOTE_RESP) ||
				(r->role == PH_RAFT_CANDIDATE &&
				 m->type == PH_RAFT_MSG_VOTE_RESP))
			{
				switch (poll(r, m->from, !m->reject))
				{
					case VOTE_WON:
						if (r->role == PH_RAFT_PRECANDIDATE)
							campaign(r, false, false);
						else
							become_leader(r);
						break;
					case VOTE_LOST:
						become_follower(r, r->term, PH_RAFT_NONE);
						break;
					case VOTE_PENDING:
						break;
				}
			}
			return PH_RAFT_OK;

		case PH_RAFT_FOLLOWER:
			break;
	}

	/* follower */
	switch (m->type)
	{
		case PH_RAFT_MSG_APP:
			r->election_elapsed = 0;
			r->lead = m->from;
			return handle_append(r, m);
		case PH_RAFT_MSG_HEARTBEAT:
			r->election_elapsed = 0;
			r->lead = m->from;
			handle_heartbeat(r, m);
			return PH_RAFT_OK;
		case PH_RAFT_MSG_SNAP:
			r->election_elapsed = 0;
			r->lead = m->from;
			return handle_snapshot(r, m);
		case PH_RAFT_MSG_TIMEOUT_NOW:
			hup(r, true);
			return PH_RAFT_OK;
		default:
			return PH_RAFT_OK;
	}
}

/* ---------------------------------------------------------------------
 * Ticks
 * ---------------------------------------------------------------------
 */

/* Has a quorum of voters (ourselves included) been heard from lately? */
static bool
quorum_active(PhRaft *r)
{
	int			n = 0;
	int			i;

	for (i = 0; i < r->n_prs; i++)
		if (r->prs[i].voter &&
			(r->prs[i].id == r->id || r->prs[i].recent_active))
			n++;
	return n >= quorum(r);
}

/*
 * Leader tick: snapshot retry timers, every election timeout the
 * check-quorum test (step down if cut off) and transfer expiry, and
 * heartbeats every heartbeat_tick.
 */
static void
tick_leader(PhRaft *r)
{
	int			i;

	r->heartbeat_elapsed++;
	r->election_elapsed++;
	for (i = 0; i < r->n_prs; i++)
	{
		Progress   *pr = &r->prs[i];

		/* a snapshot lost in transit must not stall the follower forever */
		if (pr->state == PR_SNAPSHOT &&
			++pr->snap_elapsed >= 2 * r->o.election_tick)
			ph_raft_pr_become_probe(pr);
	}
	if (r->election_elapsed >= r->o.election_tick)
	{
		r->election_elapsed = 0;
		if (r->o.check_quorum)
		{
			if (!quorum_active(r))
			{
				become_follower(r, r->term, PH_RAFT_NONE);
				return;
			}
			for (i = 0; i < r->n_prs; i++)
				if (r->prs[i].id != r->id)
					r->prs[i].recent_active = false;
		}
		r->lead_transferee = PH_RAFT_NONE;
	}
	if (r->heartbeat_elapsed >= r->o.heartbeat_tick)
	{
		r->heartbeat_elapsed = 0;
		bcast_heartbeat(r, r->read_seq);
	}
}

/*
 * One tick of the logical clock: heartbeats for a leader, election
 * timeout for the others (only voters campaign).
 */
void
ph_raft_tick(PhRaft *r)
{
	if (r->in_ready)
		return;
	if (r->role == PH_RAFT_LEADER)
	{
		tick_leader(r);
		return;
	}
	r->election_elapsed++;
	if (promotable(r) && r->election_elapsed >= r->randomized_timeout)
	{
		r->election_elapsed = 0;
		hup(r, false);
	}
}

/* Start an election now (see raft.h). */
void
ph_raft_campaign(PhRaft *r)
{
	if (r->in_ready)
		return;
	r->election_elapsed = 0;
	hup(r, false);
}

/*
 * The link to node broke (see raft.h): end the lease of a followed leader
 * by moving the election clock to the minimum timeout; the randomized
 * timeout in [election_tick, 2 * election_tick) then fires within a
 * random part of one election timeout, which spreads the followers'
 * campaigns as a full timeout would.
 */
void
ph_raft_leader_suspect(PhRaft *r, uint64_t node)
{
	if (r->in_ready || r->role != PH_RAFT_FOLLOWER || node == PH_RAFT_NONE ||
		r->lead != node)
		return;
	if (r->election_elapsed < r->o.election_tick)
		r->election_elapsed = r->o.election_tick;
}

/* ---------------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------------
 */

/* Leader: append a normal entry and start replicating it. */
int
ph_raft_propose(PhRaft *r, const void *data, uint32_t len, uint64_t *index,
				uint64_t *term)
{
	if (r->in_ready)
		return PH_RAFT_ERR_IN_READY;
	if (r->role != PH_RAFT_LEADER)
		return PH_RAFT_ERR_NOT_LEADER;
	if (r->lead_transferee != PH_RAFT_NONE)
		return PH_RAFT_ERR_TRANSFERRING;
	if (r->o.max_uncommitted > 0 &&
		ph_raft_mem_last_index(&r->log) - r->commit >= r->o.max_uncommitted)
		return PH_RAFT_ERR_BUSY;
	if (!append_entry(r, PH_RAFT_ENTRY_NORMAL, data, len))
		return PH_RAFT_ERR_NOMEM;
	if (index)
		*index = ph_raft_mem_last_index(&r->log);
	if (term)
		*term = r->term;
	bcast_append(r);
	return PH_RAFT_OK;
}

/*
 * Leader: append a batch of normal entries, then replicate them with one
 * round of AppendEntries (group commit).
 */
int
ph_raft_propose_batch(PhRaft *r, const PhRaftProposal *props, size_t n,
					  size_t *n_done, uint64_t *first_index, uint64_t *term)
{
	int			rc = PH_RAFT_OK;
	size_t		k;

	*n_done = 0;
	if (r->in_ready)
		return PH_RAFT_ERR_IN_READY;
	if (r->role != PH_RAFT_LEADER)
		return PH_RAFT_ERR_NOT_LEADER;
	if (r->lead_transferee != PH_RAFT_NONE)
		return PH_RAFT_ERR_TRANSFERRING;
	if (first_index)
		*first_index = ph_raft_mem_last_index(&r->log) + 1;
	if (term)
		*term = r->term;
	for (k = 0; k < n; k++)
	{
		if (r->o.max_uncommitted > 0 &&
			ph_raft_mem_last_index(&r->log) - r->commit >= r->o.max_uncommitted)
		{
			rc = PH_RAFT_ERR_BUSY;
			break;
		}
		if (!append_entry(r, PH_RAFT_ENTRY_NORMAL, props[k].data, props[k].len))
		{
			rc = PH_RAFT_ERR_NOMEM;
			break;
		}
		(*n_done)++;
	}
	if (*n_done > 0)
		bcast_append(r);
	return rc;
}

/*
 * Leader: append a single-server config change, which takes effect at
 * once (on every node, when appended).  Refused while another change is
 * uncommitted or before an entry of our term is committed, so any two
 * consecutive configs have overlapping majorities.
 */
int
ph_raft_conf(PhRaft *r, PhRaftConfOp op, uint64_t node, uint64_t *index,
			 uint64_t *term)
{
	PhRaftConfig nc = r->conf;
	Progress   *pr;
	unsigned char buf[8 + 8 * PH_RAFT_MAX_NODES];
	int			i;

	if (r->in_ready)
		return PH_RAFT_ERR_IN_READY;
	if (r->role != PH_RAFT_LEADER)
		return PH_RAFT_ERR_NOT_LEADER;
	if (r->lead_transferee != PH_RAFT_NONE)
		return PH_RAFT_ERR_TRANSFERRING;
	if (node == PH_RAFT_NONE)
		return PH_RAFT_ERR_INVALID;
	if (r->conf_index > r->commit)
		return PH_RAFT_ERR_CONF_PENDING;
	/* Ongaro's fix for single-server changes: commit in our term first */
	if (ph_raft_mem_term(&r->log, r->commit) != r->term)
		return PH_RAFT_ERR_NOT_READY;

	switch (op)
	{
		case PH_RAFT_CONF_ADD_LEARNER:
			if (ph_raft_conf_is_voter(&nc, node) ||
				ph_raft_conf_is_learner(&nc, node) ||
				nc.n_voters + nc.n_learners >= PH_RAFT_MAX_NODES)
				return PH_RAFT_ERR_INVALID;
			nc.learners[nc.n_learners++] = node;
			break;
		case PH_RAFT_CONF_PROMOTE:
			if (!ph_raft_conf_is_learner(&nc, node))
				return PH_RAFT_ERR_INVALID;
			pr = progress(r, node);
			if (pr == NULL || pr->match < r->commit)
				return PH_RAFT_ERR_NOT_CAUGHT_UP;
			for (i = 0; i < nc.n_learners; i++)
				if (nc.learners[i] == node)
					nc.learners[i] = nc.learners[--nc.n_learners];
			nc.voters[nc.n_voters++] = node;
			break;
		case PH_RAFT_CONF_REMOVE:
			if (node == r->id)
				return PH_RAFT_ERR_INVALID;
			if (ph_raft_conf_is_voter(&nc, node))
			{
				if (nc.n_voters <= 1)
					return PH_RAFT_ERR_INVALID;
				for (i = 0; i < nc.n_voters; i++)
					if (nc.voters[i] == node)
						nc.voters[i] = nc.voters[--nc.n_voters];
			}
			else if (ph_raft_conf_is_learner(&nc, node))
			{
				for (i = 0; i < nc.n_learners; i++)
					if (nc.learners[i] == node)
						nc.learners[i] = nc.learners[--nc.n_learners];
			}
			else
				return PH_RAFT_ERR_INVALID;
			break;
		default:
			return PH_RAFT_ERR_INVALID;
	}
	ph_raft_conf_encode(&nc, buf);
	if (!append_entry(r, PH_RAFT_ENTRY_CONFIG, buf,
					  ph_raft_conf_encoded_len(&nc)))
		return PH_RAFT_ERR_NOMEM;
	if (index)
		*index = ph_raft_mem_last_index(&r->log);
	if (term)
		*term = r->term;
	/* the new config takes effect now that it is in our log */
	refresh_conf(r);
	bcast_append(r);
	return PH_RAFT_OK;
}

/*
 * Leader: hand over to target.  Proposals are refused until the transfer
 * completes or expires (one election timeout); target == ourselves cancels.
 */
int
ph_raft_transfer_leader(PhRaft *r, uint64_t target)
{
	Progress   *pr;

	if (r->in_ready)
		return PH_RAFT_ERR_IN_READY;
	if (r->role != PH_RAFT_LEADER)
		return PH_RAFT_ERR_NOT_LEADER;
	if (target == r->id)
	{
		/* "transfer to myself" cancels a transfer in progress */
		r->lead_transferee = PH_RAFT_NONE;
		return PH_RAFT_OK;
	}
	if (!ph_raft_conf_is_voter(&r->conf, target))
		return PH_RAFT_ERR_INVALID;
	if (r->lead_transferee == target)
		return PH_RAFT_OK;
	pr = progress(r, target);
	if (pr == NULL)
		return PH_RAFT_ERR_INVALID;
	r->lead_transferee = target;
	/* the transfer is abandoned after one election timeout */
	r->election_elapsed = 0;
	if (pr->match == ph_raft_mem_last_index(&r->log))
		send_timeout_now(r, target);
	else
		send_append(r, pr, true);
	return PH_RAFT_OK;
}

/*
 * Leader: register a linearizable read (ours, or forwarded by follower
 * "from") at the current commit index; it is released once a heartbeat
 * round tagged after it is acknowledged by a quorum.
 */
static int
leader_read(PhRaft *r, uint64_t from, uint64_t ctx)
{
	/* our commit index is only known to be current once we commit */
	if (ph_raft_mem_term(&r->log, r->commit) != r->term)
		return PH_RAFT_ERR_NOT_READY;
	if (r->conf.n_voters == 1 && ph_raft_conf_is_voter(&r->conf, r->id))
	{
		read_result(r, from, ctx, r->commit, true);
		return PH_RAFT_OK;
	}
	if (r->n_pending_reads == r->cap_pending_reads)
	{
		int			ncap = r->cap_pending_reads ? r->cap_pending_reads * 2 : 8;
		PendingRead *n = realloc(r->pending_reads,
								 (size_t) ncap * sizeof(PendingRead));

		if (n == NULL)
			return PH_RAFT_ERR_NOMEM;
		r->pending_reads = n;
		r->cap_pending_reads = ncap;
	}
	r->read_seq++;
	r->pending_reads[r->n_pending_reads].from = from;
	r->pending_reads[r->n_pending_reads].ctx = ctx;
	r->pending_reads[r->n_pending_reads].index = r->commit;
	r->pending_reads[r->n_pending_reads].seq = r->read_seq;
	r->n_pending_reads++;
	bcast_heartbeat(r, r->read_seq);
	return PH_RAFT_OK;
}

/*
 * Linearizable read (see raft.h): served by the leader, forwarded to it by
 * a follower.
 */
int
ph_raft_read_index(PhRaft *r, uint64_t ctx)
{
	PhRaftMsg	m;

	if (r->in_ready)
		return PH_RAFT_ERR_IN_READY;
	if (r->role == PH_RAFT_LEADER)
		return leader_read(r, PH_RAFT_NONE, ctx);
	if (r->role != PH_RAFT_FOLLOWER || r->lead == PH_RAFT_NONE)
		return PH_RAFT_ERR_NOT_LEADER;
	init_msg(&m, PH_RAFT_MSG_READ_INDEX, r->lead, r->term);
	m.context = ctx;
	send(r, &m);
	return PH_RAFT_OK;
}

/* Take a snapshot at index (<= applied) and drop the log up to it. */
int
ph_raft_compact(PhRaft *r, uint64_t index, const void *data, uint32_t len)
{
	PhRaftSnapshot s;

	if (r->in_ready)
		return PH_RAFT_ERR_IN_READY;
	if (index <= r->log.snap_index)
		return PH_RAFT_ERR_COMPACTED;
	if (index > r->applied || index > ph_raft_mem_last_index(&r->log))
		return PH_RAFT_ERR_INVALID;
	memset(&s, 0, sizeof(s));
	s.index = index;
	s.term = ph_raft_mem_term(&r->log, index);
	conf_as_of(r, index, &s.conf, NULL);
	s.len = len;
	if (len > 0)
	{
		s.data = malloc(len);
		if (s.data == NULL)
			return PH_RAFT_ERR_NOMEM;
		memcpy(s.data, data, len);
	}
	free(r->snap.data);
	r->snap = s;
	ph_raft_mem_compact(&r->log, index);
	return PH_RAFT_OK;
}

/* ---------------------------------------------------------------------
 * Ready / advance
 * ---------------------------------------------------------------------
 */

/* The current (term, vote, commit). */
static PhRaftVoteState
hard_state(const PhRaft *r)
{
	PhRaftVoteState hs;

	hs.term = r->term;
	hs.vote = r->vote;
	hs.commit = r->commit;
	return hs;
}

/* Equality of two hard states. */
static bool
hs_equal(PhRaftVoteState a, PhRaftVoteState b)
{
	return a.term == b.term && a.vote == b.vote && a.commit == b.commit;
}

/* Is there anything for the host to persist, send, apply or answer? */
bool
ph_raft_has_ready(const PhRaft *r)
{
	return r->snap_pending || r->n_msgs > 0 || r->n_reads_out > 0 ||
		r->log.stable < ph_raft_mem_last_index(&r->log) ||
		r->applied < r->commit ||
		!hs_equal(hard_state(r), r->prev_hs);
}

/*
 * Collect the host's work (see raft.h) and remember what it covers, so
 * that ph_raft_advance can mark it done.
 */
int
ph_raft_ready(PhRaft *r, PhRaftReady *rd)
{
	uint64_t	last = ph_raft_mem_last_index(&r->log);

	if (r->in_ready)
		return PH_RAFT_ERR_IN_READY;
	memset(rd, 0, sizeof(*rd));
	rd->hs = hard_state(r);
	rd->hs_changed = !hs_equal(rd->hs, r->prev_hs);
	rd->snapshot = r->snap_pending ? &r->snap : NULL;
	if (r->log.stable < last)
	{
		rd->entries = ph_raft_mem_entry(&r->log, r->log.stable + 1);
		rd->n_entries = last - r->log.stable;
	}
	rd->msgs = r->msgs;
	rd->n_msgs = r->n_msgs;
	rd->reads = r->reads_out;
	rd->n_reads = r->n_reads_out;
	r->rd_applied = r->applied;
	if (r->snap_pending)
		r->rd_applied = r->snap.index;
	if (r->commit > r->rd_applied)
	{
		rd->committed = ph_raft_mem_entry(&r->log, r->rd_applied + 1);
		rd->n_committed = r->commit - r->rd_applied;
		r->rd_applied = r->commit;
	}
	r->rd_stable = last;
	r->rd_hs = rd->hs;
	r->in_ready = true;
	return PH_RAFT_OK;
}

/*
 * The host finished the last ready: the entries are durable (a leader
 * now counts itself for them), committed entries applied, messages sent.
 */
void
ph_raft_advance(PhRaft *r)
{
	size_t		i;
	Progress   *self;

	if (!r->in_ready)
		return;
	r->in_ready = false;
	for (i = 0; i < r->n_msgs; i++)
		ph_raft_msg_free_contents(&r->msgs[i]);
	r->n_msgs = 0;
	r->n_reads_out = 0;
	r->snap_pending = false;
	r->prev_hs = r->rd_hs;
	if (r->rd_stable > r->log.stable)
		r->log.stable = r->rd_stable;
	if (r->rd_applied > r->applied)
		r->applied = r->rd_applied;
	if (r->role == PH_RAFT_LEADER)
	{
		self = progress(r, r->id);
		if (self && self->match < r->log.stable)
		{
			self->match = r->log.stable;
			if (maybe_commit(r))
				bcast_append(r);
		}
	}
}

/* ---------------------------------------------------------------------
 * Construction
 * ---------------------------------------------------------------------
 */

/* Rebuild a core from durable state (see PhRaftInit), as a follower. */
PhRaft *
ph_raft_new(const PhRaftInit *init, int *err)
{
	PhRaft	   *r;
	uint64_t	snap_index = init->snapshot ? init->snapshot->index : 0;
	uint64_t	snap_term = init->snapshot ? init->snapshot->term : 0;
	size_t		k;
	uint64_t	commit;
	int			dummy;

	if (err == NULL)
		err = &dummy;
	*err = PH_RAFT_ERR_INVALID;
	if (init->id == PH_RAFT_NONE || init->opts.election_tick <= 0 ||
		init->opts.heartbeat_tick <= 0 ||
		init->opts.heartbeat_tick >= init->opts.election_tick ||
		init->opts.max_inflight <= 0 || init->opts.max_msg_entries <= 0)
		return NULL;
	for (k = 0; k < init->n_entries; k++)
		if (init->entries[k].index != snap_index + 1 + k ||
			init->entries[k].term < (k ? init->entries[k - 1].term : snap_term))
			return NULL;
	/*
	 * The commit index may point past the durable log if a crash tore the
	 * last write (hard state durable, entries not): the commit index is
	 * only a hint that the leader re-sends, so clamp it.  The state machine
	 * however can only have applied durable, committed entries.
	 */
	commit = init->hs.commit;
	if (commit > snap_index + init->n_entries)
		commit = snap_index + init->n_entries;
	if (commit < init->applied)
		commit = init->applied;
	if (init->applied > snap_index + init->n_entries ||
		init->applied < snap_index)
		return NULL;

	*err = PH_RAFT_ERR_NOMEM;
	r = calloc(1, sizeof(PhRaft));
	if (r == NULL)
		return NULL;
	r->id = init->id;
	r->o = init->opts;
	if (r->o.max_inflight > MAX_INFLIGHT)
		r->o.max_inflight = MAX_INFLIGHT;
	r->rng = init->opts.seed ^ (init->id * UINT64_C(0xD1B54A32D192ED03));
	ph_raft_mem_init(&r->log, snap_index, snap_term);
	if (init->snapshot && !ph_raft_snapshot_copy(&r->snap, init->snapshot))
	{
		free(r);
		return NULL;
	}
	for (k = 0; k < init->n_entries; k++)
	{
		const PhRaftEntry *e = &init->entries[k];

		if (!ph_raft_mem_append(&r->log, e->term, e->type, e->data, e->len))
		{
			ph_raft_free(r);
			return NULL;
		}
	}
	r->log.stable = ph_raft_mem_last_index(&r->log);
	r->term = init->hs.term;
	r->vote = init->hs.vote;
	r->commit = commit;
	if (r->commit < snap_index)
		r->commit = snap_index;
	r->applied = init->applied;
	r->prev_hs = init->hs;
	r->role = PH_RAFT_FOLLOWER;
	conf_as_of(r, ph_raft_mem_last_index(&r->log), &r->conf, &r->conf_index);
	reset(r, r->term);
	*err = PH_RAFT_OK;
	return r;
}

/* Free a core and everything it owns. */
void
ph_raft_free(PhRaft *r)
{
	size_t		i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_msgs; i++)
		ph_raft_msg_free_contents(&r->msgs[i]);
	free(r->msgs);
	free(r->reads_out);
	free(r->pending_reads);
	free(r->snap.data);
	ph_raft_mem_free(&r->log);
	free(r);
}
