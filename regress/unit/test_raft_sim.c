/*-------------------------------------------------------------------------
 *
 * test_raft_sim.c
 *	  Deterministic simulator of phantom's Raft core (src/raft/core.c).
 *
 * Each schedule builds a cluster of cores in one process, with a simulated
 * network (loss, delay and so reordering, duplication, symmetric and
 * asymmetric partitions), simulated disks (a node's disk holds only what
 * the host acknowledged as persisted; a crash loses the rest) and a
 * durable state machine per node.  A seeded RNG drives everything: the
 * same seed replays the same schedule.  Random events: client proposals,
 * ReadIndex requests, crashes (also in the middle of handling a ready),
 * restarts, partitions and healing, membership changes (add learner,
 * promote, remove), leadership transfers, snapshots with log compaction.
 *
 * After every simulated step the checker verifies:
 *	- election safety: at most one leader per term;
 *	- log matching: every entry ever persisted anywhere at (index, term)
 *	  has the same payload and the same previous term (by induction this
 *	  is the Log Matching property);
 *	- commit safety: every node's committed entries agree with a global
 *	  record of committed (index, term);
 *	- leader completeness: a leader's log holds every committed entry;
 *	- state machine safety: no two nodes apply different entries at an
 *	  index (snapshots included), apply is gap-free and exactly-once;
 *	- ReadIndex linearizability: a read's index covers every write
 *	  acknowledged to a client before the read was issued.
 * At the end of each schedule the network heals, every node restarts and
 * the cluster must converge: one leader, all members applied the same
 * log, every acknowledged proposal applied exactly once on each member.
 *
 * Environment: PH_RAFT_SIM_SCHEDULES (total, default 6000),
 * PH_RAFT_SIM_SEED (base seed; schedule i uses seed+i), PH_RAFT_SIM_FAMILY
 * (run one family only), PH_RAFT_SIM_VERBOSE (print the trace live).
 * A failure prints the command line that replays it.
 *
 * regress/unit/test_raft_sim.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phantom/raft/raft.h"

#define MAXN 8					/* node slots; node id = slot + 1 */

/* ---------------------------------------------------------------------
 * Utilities
 * ---------------------------------------------------------------------
 */

static uint64_t rng_state;

static uint64_t
rnd(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static int
rn(int n)
{
	return n <= 0 ? 0 : (int) (rnd() % (uint64_t) n);
}

/* true with probability permille/1000 */
static bool
chance(int permille)
{
	return rn(1000) < permille;
}

static void *
xrealloc(void *p, size_t n)
{
	void	   *q = realloc(p, n ? n : 1);

	if (q == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return q;
}

/* Grow a dynamic uint64 array so that index i is valid (zero-filled). */
static void
grow_u64(uint64_t **a, size_t *cap, size_t i)
{
	if (i < *cap)
		return;
	{
		size_t		nc = *cap ? *cap : 64;

		while (nc <= i)
			nc *= 2;
		*a = xrealloc(*a, nc * sizeof(uint64_t));
		memset(*a + *cap, 0, (nc - *cap) * sizeof(uint64_t));
		*cap = nc;
	}
}

/* ---------------------------------------------------------------------
 * Trace
 * ---------------------------------------------------------------------
 */

static char *trace_buf;
static size_t trace_len;
static size_t trace_cap;
static bool verbose;
static uint64_t now;

static void trace(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static void
trace(const char *fmt,...)
{
	char		line[512];
	va_list		ap;
	int			n;

	n = snprintf(line, sizeof(line), "t=%llu ", (unsigned long long) now);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n >= (int) sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	line[n] = 0;
	if (verbose)
		fputs(line, stdout);
	if (trace_len + n + 1 > trace_cap)
	{
		trace_cap = (trace_cap + n + 1) * 2;
		trace_buf = xrealloc(trace_buf, trace_cap);
	}
	memcpy(trace_buf + trace_len, line, n + 1);
	trace_len += n;
}

static jmp_buf fail_jmp;
static char fail_msg[1024];

static void fail(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

static void
fail(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
	trace("VIOLATION: %s", fail_msg);
	longjmp(fail_jmp, 1);
}

/* ---------------------------------------------------------------------
 * Simulated node: core + disk + durable state machine
 * ---------------------------------------------------------------------
 */

typedef struct Disk
{
	PhRaftVoteState hs;
	PhRaftSnapshot snap;		/* index 0: none */
	PhRaftEntry *ents;			/* after snap.index, consecutive */
	size_t		n;
	size_t		cap;
} Disk;

typedef struct Node
{
	bool		exists;
	bool		up;
	PhRaft	   *r;
	Disk		disk;
	/* durable state machine: vals[i] = value applied at index i */
	uint64_t   *vals;
	size_t		vals_cap;
	uint64_t	applied;
	/* exactly-once: seen[pid] = 1 if proposal pid applied here */
	uint64_t   *seen;
	size_t		seen_cap;
	uint64_t	checked_commit;
	uint64_t	leader_checked_term;
	int			tick_rate;		/* permille of steps in which it ticks:
								 * clock skew */
} Node;

typedef struct NetMsg
{
	PhRaftMsg  *m;
	uint64_t	at;
} NetMsg;

typedef struct Proposal
{
	uint64_t	pid;
	int			node;
	uint64_t	index;
	uint64_t	term;
	int			status;			/* 0 pending, 1 acked, 2 failed/unknown */
} Proposal;

typedef struct PendingReadReq
{
	uint64_t	ctx;
	int			node;
	uint64_t	min_index;		/* acked writes when the read was issued */
	bool		done;
} PendingReadReq;

typedef struct Family
{
	const char *name;
	int			nodes;
	int			drop;			/* permille */
	int			dup;
	int			max_delay;
	int			crash;			/* permille per step */
	int			partition;
	int			conf;
	int			transfer;
	int			compact;
	int			read;
	int			ready_delay;	/* permille that a ready waits a step */
	int			steps;
	int			leader_crash;	/* permille per step: crash the leader */
} Family;

static const Family families[] = {
	{"3 nodes, loss/delay/reorder/dup", 3, 100, 50, 6, 0, 0, 0, 0, 0, 20, 150, 400, 0},
	{"5 nodes, partitions + crashes", 5, 30, 20, 4, 8, 15, 0, 0, 0, 20, 200, 500, 3},
	{"3 nodes, membership + transfer", 3, 50, 20, 4, 4, 5, 25, 10, 0, 10, 150, 500, 2},
	{"5 nodes, snapshots + crashes + reads", 5, 50, 20, 4, 6, 8, 0, 5, 40, 40, 150, 500, 2},
	{"3-5 nodes, everything", 0, 60, 30, 5, 6, 10, 15, 6, 25, 25, 200, 500, 3},
	{"5 nodes, leader churn", 5, 150, 10, 3, 3, 10, 0, 0, 10, 10, 100, 400, 30},
	{"3-5 nodes, membership churn", 0, 100, 10, 3, 3, 10, 150, 10, 0, 0, 100, 400, 15},
};

#define N_FAMILIES ((int) (sizeof(families) / sizeof(families[0])))

/* schedule state */
static Node nodes[MAXN];
static int n_slots;				/* slots in use (ids 1..n_slots) */
static NetMsg *net;
static size_t n_net;
static size_t cap_net;
static bool blocked[MAXN][MAXN];
static Family fam;
static Proposal *props;
static size_t n_props;
static size_t cap_props;
static PendingReadReq *reads;
static size_t n_reads;
static size_t cap_reads;
static uint64_t next_ctx;
static uint64_t acked_max_index;
static PhRaftOptions base_opts;

/* global checker state */
static uint64_t *leader_of_term;
static size_t leader_of_term_cap;
static uint64_t *committed_term;	/* index -> term of committed entry */
static size_t committed_term_cap;
static uint64_t *committed_at;	/* index -> lowest term of a node seen
								 * holding it committed */
static size_t committed_at_cap;
static uint64_t max_committed;
static bool conf_changed;		/* a membership change was proposed */
static bool early_send;			/* leaders send appends before persisting
								 * (as the raft worker does) */
static bool just_elected;		/* a new leader appeared in the last step */
static int	n_initial;			/* voters of the bootstrap config */
static uint64_t *applied_val;	/* index -> value applied there */
static size_t applied_val_cap;

/* registry of persisted entries: (index, term) -> (value, previous term) */
typedef struct RegEnt
{
	uint64_t	term;
	uint64_t	val;
	uint64_t	prev_term;
} RegEnt;
typedef struct RegSlot
{
	RegEnt	   *e;
	int			n;
	int			cap;
} RegSlot;
static RegSlot *reg;
static size_t reg_cap;
static size_t reg_used;

/* stats */
static uint64_t stat_msgs;
static uint64_t stat_acked;
static uint64_t stat_reads;
static uint64_t stat_snap_installs;
static uint64_t stat_conf;
static uint64_t stat_transfers;
static uint64_t stat_crashes;
static uint64_t stat_elections;

/* The value identifying an entry: type and payload. */
static uint64_t
entry_val(const PhRaftEntry *e)
{
	uint64_t	v = 0;
	uint32_t	i;

	if (e->type == PH_RAFT_ENTRY_NORMAL && e->len == 8)
		memcpy(&v, e->data, 8);
	else
	{
		/* FNV-1a of the payload */
		v = UINT64_C(1469598103934665603);
		for (i = 0; i < e->len; i++)
			v = (v ^ ((unsigned char *) e->data)[i]) * UINT64_C(1099511628211);
		v &= UINT64_C(0x00FFFFFFFFFFFFFF);
	}
	return ((uint64_t) e->type << 56) | (v & UINT64_C(0x00FFFFFFFFFFFFFF));
}

static void
disk_free(Disk *d)
{
	size_t		i;

	for (i = 0; i < d->n; i++)
		free(d->ents[i].data);
	free(d->ents);
	free(d->snap.data);
	memset(d, 0, sizeof(*d));
}

static void
disk_truncate_from(Disk *d, uint64_t index)
{
	while (d->n > 0 && d->snap.index + d->n >= index)
	{
		d->n--;
		free(d->ents[d->n].data);
	}
}

static void
disk_append(Disk *d, const PhRaftEntry *e)
{
	PhRaftEntry *c;

	if (e->index != d->snap.index + d->n + 1)
		fail("disk append out of order: index %llu after %llu",
			 (unsigned long long) e->index,
			 (unsigned long long) (d->snap.index + d->n));
	if (d->n == d->cap)
	{
		d->cap = d->cap ? d->cap * 2 : 64;
		d->ents = xrealloc(d->ents, d->cap * sizeof(PhRaftEntry));
	}
	c = &d->ents[d->n++];
	*c = *e;
	c->data = NULL;
	if (e->len)
	{
		c->data = xrealloc(NULL, e->len);
		memcpy(c->data, e->data, e->len);
	}
}

/* Replace the disk's snapshot; drop the entries it covers. */
static void
disk_set_snapshot(Disk *d, const PhRaftSnapshot *s, bool keep_suffix)
{
	size_t		drop;
	size_t		i;

	if (keep_suffix && s->index > d->snap.index &&
		s->index <= d->snap.index + d->n)
	{
		drop = s->index - d->snap.index;
		for (i = 0; i < drop; i++)
			free(d->ents[i].data);
		memmove(d->ents, d->ents + drop, (d->n - drop) * sizeof(PhRaftEntry));
		d->n -= drop;
	}
	else
	{
		for (i = 0; i < d->n; i++)
			free(d->ents[i].data);
		d->n = 0;
	}
	free(d->snap.data);
	d->snap = *s;
	d->snap.data = NULL;
	if (s->len)
	{
		d->snap.data = xrealloc(NULL, s->len);
		memcpy(d->snap.data, s->data, s->len);
	}
}

/* ---------------------------------------------------------------------
 * Checks
 * ---------------------------------------------------------------------
 */

static void
check_registry(int slot, const PhRaftEntry *e, uint64_t prev_term)
{
	RegSlot    *s;
	int			i;
	uint64_t	val = entry_val(e);

	if (e->index >= reg_cap)
	{
		size_t		nc = reg_cap ? reg_cap : 256;

		while (nc <= e->index)
			nc *= 2;
		reg = xrealloc(reg, nc * sizeof(RegSlot));
		memset(reg + reg_cap, 0, (nc - reg_cap) * sizeof(RegSlot));
		reg_cap = nc;
	}
	if (e->index + 1 > reg_used)
		reg_used = e->index + 1;
	s = &reg[e->index];
	for (i = 0; i < s->n; i++)
	{
		if (s->e[i].term != e->term)
			continue;
		if (s->e[i].val != val)
			fail("log matching: n%d entry %llu term %llu has value %llx, "
				 "another log has %llx", slot + 1,
				 (unsigned long long) e->index, (unsigned long long) e->term,
				 (unsigned long long) val, (unsigned long long) s->e[i].val);
		if (prev_term && s->e[i].prev_term && s->e[i].prev_term != prev_term)
			fail("log matching: n%d entry %llu term %llu follows term %llu, "
				 "another log's follows term %llu", slot + 1,
				 (unsigned long long) e->index, (unsigned long long) e->term,
				 (unsigned long long) prev_term,
				 (unsigned long long) s->e[i].prev_term);
		if (!s->e[i].prev_term)
			s->e[i].prev_term = prev_term;
		return;
	}
	if (s->n == s->cap)
	{
		s->cap = s->cap ? s->cap * 2 : 4;
		s->e = xrealloc(s->e, s->cap * sizeof(RegEnt));
	}
	s->e[s->n].term = e->term;
	s->e[s->n].val = val;
	s->e[s->n].prev_term = prev_term;
	s->n++;
}

/*
 * Record that index i with term t is committed (seen by a node whose term
 * is now_term, so it was committed in a term <= now_term); the entry at a
 * committed index must never change.
 */
static void
note_committed(int slot, uint64_t i, uint64_t t, uint64_t now_term)
{
	grow_u64(&committed_term, &committed_term_cap, i);
	grow_u64(&committed_at, &committed_at_cap, i);
	if (committed_at[i] == 0 || committed_at[i] > now_term)
		committed_at[i] = now_term;
	if (committed_term[i] == 0)
	{
		committed_term[i] = t;
		if (i > max_committed)
		{
			max_committed = i;
			trace("n%d: committed up to %llu (term %llu)", slot + 1,
				  (unsigned long long) i, (unsigned long long) t);
		}
	}
	else if (committed_term[i] != t)
		fail("commit safety: n%d committed index %llu with term %llu, "
			 "previously committed with term %llu", slot + 1,
			 (unsigned long long) i, (unsigned long long) t,
			 (unsigned long long) committed_term[i]);
}

/*
 * A new leader's log must contain every entry committed in an earlier term
 * (a leader elected with delayed votes may lack entries committed by a
 * leader of a later term; that is allowed).
 */
static void
check_leader_complete(int slot)
{
	PhRaft	   *r = nodes[slot].r;
	uint64_t	first = ph_raft_first_index(r);
	uint64_t	term = ph_raft_term(r);
	uint64_t	i;

	for (i = first; i <= max_committed; i++)
		if (committed_term[i] && committed_at[i] < term &&
			ph_raft_term_at(r, i) != committed_term[i])
			fail("leader completeness: leader n%d term %llu has term %llu "
				 "at committed index %llu (committed term %llu)", slot + 1,
				 (unsigned long long) ph_raft_term(r),
				 (unsigned long long) ph_raft_term_at(r, i),
				 (unsigned long long) i,
				 (unsigned long long) committed_term[i]);
}

/* One version of a node's log (in memory, or on its disk). */
typedef struct LogView
{
	bool		valid;
	uint64_t	last_term;
	uint64_t	last_index;
	bool		has;			/* holds entry (c, t) or a snapshot past it */
	PhRaftConfig conf;			/* config this log puts in force */
} LogView;

static void
log_views(int slot, uint64_t c, uint64_t t, LogView v[2])
{
	Node	   *nd = &nodes[slot];
	Disk	   *d = &nd->disk;
	size_t		i;

	memset(v, 0, 2 * sizeof(LogView));
	if (nd->up)
	{
		PhRaft	   *r = nd->r;

		v[0].valid = true;
		v[0].last_index = ph_raft_last_index(r);
		v[0].last_term = ph_raft_term_at(r, v[0].last_index);
		v[0].has = c < ph_raft_first_index(r) ||
			(c <= v[0].last_index && ph_raft_term_at(r, c) == t);
	}
	v[1].valid = true;
	v[1].last_index = d->snap.index + d->n;
	v[1].last_term = d->n ? d->ents[d->n - 1].term : d->snap.term;
	v[1].has = c <= d->snap.index ||
		(c <= v[1].last_index && d->ents[c - d->snap.index - 1].term == t);
	if (nd->up)
		v[0].conf = *ph_raft_config(nd->r);
	v[1].conf = d->snap.conf;
	for (i = d->n; i > 0; i--)
		if (d->ents[i - 1].type == PH_RAFT_ENTRY_CONFIG &&
			ph_raft_conf_decode(d->ents[i - 1].data, d->ents[i - 1].len,
								&v[1].conf))
			break;
}

/*
 * Electability (a stronger, earlier form of leader completeness): no node
 * whose log (in memory, or on disk for after a restart) lacks the latest
 * committed entry may be able to win an election: a candidate counts the
 * voters of the config its own log puts in force, and each of them grants
 * its vote if the candidate's log is at least as up to date as (some
 * version of) its own.  If a majority would, the node could be elected and
 * overwrite a committed entry: in correct Raft the nodes that stored the
 * entry always block that majority.
 */
static void
check_electable(void)
{
	uint64_t	c = max_committed;
	uint64_t	t;
	LogView		views[MAXN][2];
	int			v;
	int			a;

	if (c == 0 || committed_term[c] == 0)
		return;
	t = committed_term[c];
	for (v = 0; v < n_slots; v++)
		log_views(v, c, t, views[v]);
	for (v = 0; v < n_slots; v++)
		for (a = 0; a < 2; a++)
		{
			LogView    *cand = &views[v][a];
			int			grant = 0;
			int			k;

			if (!cand->valid || cand->has ||
				!ph_raft_conf_is_voter(&cand->conf, (uint64_t) v + 1))
				continue;
			for (k = 0; k < cand->conf.n_voters; k++)
			{
				int			w = (int) cand->conf.voters[k] - 1;
				int			b;

				if (w < 0 || w >= n_slots)
					continue;
				for (b = 0; b < 2; b++)
				{
					LogView    *voter = &views[w][b];

					if (voter->valid &&
						(cand->last_term > voter->last_term ||
						 (cand->last_term == voter->last_term &&
						  cand->last_index >= voter->last_index)))
					{
						grant++;
						break;
					}
				}
			}
			if (grant >= cand->conf.n_voters / 2 + 1)
				fail("electability: n%d's %s log (last %llu, term %llu) lacks "
					 "committed entry %llu (term %llu), yet %d of its %d "
					 "voters would vote for it", v + 1,
					 a == 0 ? "memory" : "disk",
					 (unsigned long long) cand->last_index,
					 (unsigned long long) cand->last_term,
					 (unsigned long long) c, (unsigned long long) t, grant,
					 cand->conf.n_voters);
		}
}

static void
check_all(void)
{
	int			s;
	uint64_t	i;

	for (s = 0; s < n_slots; s++)
	{
		Node	   *nd = &nodes[s];
		PhRaft	   *r = nd->r;
		uint64_t	term;
		uint64_t	c;

		if (!nd->up)
			continue;
		term = ph_raft_term(r);
		if (ph_raft_role(r) == PH_RAFT_LEADER)
		{
			grow_u64(&leader_of_term, &leader_of_term_cap, term);
			if (leader_of_term[term] == 0)
			{
				leader_of_term[term] = s + 1;
				stat_elections++;
				just_elected = true;
				trace("n%d becomes leader of term %llu", s + 1,
					  (unsigned long long) term);
			}
			else if (leader_of_term[term] != (uint64_t) s + 1)
				fail("election safety: n%d and n%llu both leaders of term %llu",
					 s + 1, (unsigned long long) leader_of_term[term],
					 (unsigned long long) term);
			if (nd->leader_checked_term != term)
			{
				nd->leader_checked_term = term;
				check_leader_complete(s);
			}
		}
		c = ph_raft_commit_index(r);
		if (c > ph_raft_last_index(r))
			fail("n%d commit %llu beyond last index %llu", s + 1,
				 (unsigned long long) c,
				 (unsigned long long) ph_raft_last_index(r));
		if (nd->checked_commit < ph_raft_first_index(r) - 1)
			nd->checked_commit = ph_raft_first_index(r) - 1;
		for (i = nd->checked_commit + 1; i <= c; i++)
			note_committed(s, i, ph_raft_term_at(r, i), term);
		if (c > nd->checked_commit)
			nd->checked_commit = c;
	}
	check_electable();
}

/* ---------------------------------------------------------------------
 * State machine
 * ---------------------------------------------------------------------
 */

static void
sm_apply_val(int slot, uint64_t index, uint64_t val)
{
	Node	   *nd = &nodes[slot];
	uint64_t	pid;

	if (index != nd->applied + 1)
		fail("n%d applies index %llu after %llu", slot + 1,
			 (unsigned long long) index, (unsigned long long) nd->applied);
	grow_u64(&applied_val, &applied_val_cap, index);
	if (applied_val[index] == 0)
		applied_val[index] = val;
	else if (applied_val[index] != val)
		fail("state machine safety: n%d applies %llx at %llu, another node "
			 "applied %llx", slot + 1, (unsigned long long) val,
			 (unsigned long long) index,
			 (unsigned long long) applied_val[index]);
	grow_u64(&nd->vals, &nd->vals_cap, index);
	nd->vals[index] = val;
	nd->applied = index;
	if ((val >> 56) == PH_RAFT_ENTRY_NORMAL)
	{
		pid = val;
		grow_u64(&nd->seen, &nd->seen_cap, pid);
		if (nd->seen[pid])
			fail("exactly once: n%d applies proposal %llu twice", slot + 1,
				 (unsigned long long) pid);
		nd->seen[pid] = 1;
	}
}

/* A client learns the outcome of its proposals made through this node. */
static void
ack_proposals(int slot)
{
	size_t		i;
	Node	   *nd = &nodes[slot];

	for (i = 0; i < n_props; i++)
	{
		Proposal   *p = &props[i];

		if (p->status != 0 || p->node != slot || p->index > nd->applied)
			continue;
		if (nd->vals[p->index] == p->pid)
		{
			p->status = 1;
			stat_acked++;
			if (p->index > acked_max_index)
				acked_max_index = p->index;
		}
		else
			p->status = 2;
	}
}

/* Load a snapshot's data (the values at 1..index) into the state machine. */
static void
sm_install(int slot, const PhRaftSnapshot *s)
{
	Node	   *nd = &nodes[slot];
	const uint64_t *v = s->data;
	uint64_t	i;

	if (s->len != s->index * 8)
		fail("n%d snapshot at %llu has %u bytes", slot + 1,
			 (unsigned long long) s->index, s->len);
	if (s->index < nd->applied)
		fail("n%d installs snapshot %llu below applied %llu", slot + 1,
			 (unsigned long long) s->index, (unsigned long long) nd->applied);
	if (nd->seen)
		memset(nd->seen, 0, nd->seen_cap * sizeof(uint64_t));
	nd->applied = 0;
	for (i = 1; i <= s->index; i++)
	{
		uint64_t	val;

		memcpy(&val, (const char *) v + (i - 1) * 8, 8);
		sm_apply_val(slot, i, val);
	}
	stat_snap_installs++;
}

/* ---------------------------------------------------------------------
 * Network
 * ---------------------------------------------------------------------
 */

static void
net_push(PhRaftMsg *m, uint64_t at)
{
	if (n_net == cap_net)
	{
		cap_net = cap_net ? cap_net * 2 : 256;
		net = xrealloc(net, cap_net * sizeof(NetMsg));
	}
	net[n_net].m = m;
	net[n_net].at = at;
	n_net++;
}

static void
net_send(const PhRaftMsg *m)
{
	int			copies = 1;
	int			k;
	size_t		len;
	static unsigned char *wire;
	static size_t wire_cap;

	stat_msgs++;
	if (m->to < 1 || m->to > (uint64_t) n_slots)
		return;
	if (blocked[m->from - 1][m->to - 1] || chance(fam.drop))
		return;
	if (chance(fam.dup))
		copies = 2;
	/* every message crosses the wire codec, as it will in production */
	len = ph_raft_msg_encoded_len(m);
	if (len > wire_cap)
	{
		wire_cap = len * 2;
		wire = xrealloc(wire, wire_cap);
	}
	ph_raft_msg_encode(m, wire);
	for (k = 0; k < copies; k++)
	{
		PhRaftMsg  *c = xrealloc(NULL, sizeof(PhRaftMsg));

		if (ph_raft_msg_decode(wire, len, c) != PH_RAFT_OK)
			fail("codec: cannot decode an encoded %s",
				 ph_raft_msg_type_name(m->type));
		/* now and then a message is held back for a long time */
		net_push(c, now + 1 + rn(fam.max_delay) +
				 (fam.drop && chance(20) ? (uint64_t) rn(60) : 0));
	}
}

/* ---------------------------------------------------------------------
 * Node lifecycle
 * ---------------------------------------------------------------------
 */

static void
node_start(int slot)
{
	Node	   *nd = &nodes[slot];
	PhRaftInit	init;
	PhRaftSnapshot snap;
	int			err;

	memset(&init, 0, sizeof(init));
	memset(&snap, 0, sizeof(snap));
	init.id = slot + 1;
	init.opts = base_opts;
	init.opts.seed = rnd();
	init.hs = nd->disk.hs;
	init.entries = nd->disk.ents;
	init.n_entries = nd->disk.n;
	init.applied = nd->applied;
	if (nd->disk.snap.index)
	{
		/* the snapshot comes back through its on-disk blob form */
		uint32_t	bl = ph_raft_snapshot_blob_len(&nd->disk.snap);
		unsigned char *blob = xrealloc(NULL, bl);

		ph_raft_snapshot_blob_encode(&nd->disk.snap, blob);
		if (ph_raft_snapshot_blob_decode(nd->disk.snap.index,
										 nd->disk.snap.term, blob, bl,
										 &snap) != PH_RAFT_OK)
			fail("n%d snapshot blob does not decode", slot + 1);
		free(blob);
		init.snapshot = &snap;
	}
	nd->r = ph_raft_new(&init, &err);
	free(snap.data);
	if (nd->r == NULL)
		fail("n%d cannot restart: %s", slot + 1, ph_raft_strerror(err));
	nd->up = true;
	nd->checked_commit = 0;
	nd->leader_checked_term = 0;
}

static void
node_crash(int slot, const char *where)
{
	Node	   *nd = &nodes[slot];
	size_t		i;

	ph_raft_free(nd->r);
	nd->r = NULL;
	nd->up = false;
	stat_crashes++;
	trace("crash n%d %s", slot + 1, where);
	/* its clients never hear back */
	for (i = 0; i < n_props; i++)
		if (props[i].node == slot && props[i].status == 0)
			props[i].status = 2;
	for (i = 0; i < n_reads; i++)
		if (reads[i].node == slot)
			reads[i].done = true;
}

/* Create node slot with a bootstrapped or empty disk. */
static void
node_create(int slot, const PhRaftConfig *boot)
{
	Node	   *nd = &nodes[slot];

	memset(nd, 0, sizeof(*nd));
	nd->exists = true;
	nd->tick_rate = chance(300) ? 400 + rn(600) : 970;
	if (boot)
	{
		PhRaftEntry e;

		if (ph_raft_bootstrap(boot, &nd->disk.hs, &e) != PH_RAFT_OK)
			fail("bootstrap failed");
		disk_append(&nd->disk, &e);
		free(e.data);
		/* entry 1 is committed everywhere by construction */
		sm_apply_val(slot, 1, entry_val(&nd->disk.ents[0]));
	}
	node_start(slot);
}

/*
 * Handle a node's ready: persist, send, apply, advance.  A crash may hit
 * after persisting or after sending (losing only what no disk holds).
 */
static void
handle_ready(int slot)
{
	Node	   *nd = &nodes[slot];
	PhRaft	   *r = nd->r;
	PhRaftReady rd;
	size_t		i;

	if (ph_raft_ready(r, &rd) != PH_RAFT_OK)
		fail("n%d ready failed", slot + 1);

	/* 0. a leader's appends may leave before it persists */
	if (early_send)
		for (i = 0; i < rd.n_msgs; i++)
			if (ph_raft_msg_may_precede_persist(&rd.msgs[i]))
				net_send(&rd.msgs[i]);

	/* 1. persist */
	if (rd.snapshot)
	{
		trace("n%d installs snapshot at %llu term %llu", slot + 1,
			  (unsigned long long) rd.snapshot->index,
			  (unsigned long long) rd.snapshot->term);
		disk_set_snapshot(&nd->disk, rd.snapshot, false);
		sm_install(slot, rd.snapshot);
	}
	for (i = 0; i < rd.n_entries; i++)
		check_registry(slot, &rd.entries[i],
					   ph_raft_term_at(r, rd.entries[i].index - 1));
	/* durable term never goes back; a durable vote never changes in a term */
	if (rd.hs_changed &&
		(rd.hs.term < nd->disk.hs.term ||
		 (rd.hs.term == nd->disk.hs.term && nd->disk.hs.vote != PH_RAFT_NONE &&
		  rd.hs.vote != nd->disk.hs.vote)))
		fail("n%d persists term %llu vote %llu over term %llu vote %llu",
			 slot + 1, (unsigned long long) rd.hs.term,
			 (unsigned long long) rd.hs.vote,
			 (unsigned long long) nd->disk.hs.term,
			 (unsigned long long) nd->disk.hs.vote);
	if (fam.crash && chance(fam.crash / 4 + 1))
	{
		/*
		 * Torn write: the crash hits before the fsync, and only part of the
		 * writes survive: a prefix of the entries, the hard state or not.
		 */
		size_t		keep = rn((int) rd.n_entries + 1);

		if (rd.n_entries > 0)
			disk_truncate_from(&nd->disk, rd.entries[0].index);
		for (i = 0; i < keep; i++)
			disk_append(&nd->disk, &rd.entries[i]);
		if (rd.hs_changed && chance(500))
			nd->disk.hs = rd.hs;
		node_crash(slot, "while persisting (torn)");
		return;
	}
	if (rd.n_entries > 0)
	{
		disk_truncate_from(&nd->disk, rd.entries[0].index);
		for (i = 0; i < rd.n_entries; i++)
			disk_append(&nd->disk, &rd.entries[i]);
	}
	if (rd.hs_changed)
		nd->disk.hs = rd.hs;
	if ((fam.crash && chance(fam.crash / 4 + 1)) ||
		(fam.leader_crash && ph_raft_role(r) == PH_RAFT_LEADER &&
		 rd.n_entries > 0 && chance(fam.leader_crash * 4)))
	{
		node_crash(slot, "after persisting");
		return;
	}

	/* 2. send */
	for (i = 0; i < rd.n_msgs; i++)
		if (!early_send || !ph_raft_msg_may_precede_persist(&rd.msgs[i]))
			net_send(&rd.msgs[i]);
	if (fam.crash && chance(fam.crash / 4 + 1))
	{
		node_crash(slot, "after sending");
		return;
	}

	/* 3. apply */
	for (i = 0; i < rd.n_committed; i++)
	{
		const PhRaftEntry *e = &rd.committed[i];

		if (e->index <= nd->applied)
			fail("n%d asked to re-apply %llu (applied %llu)", slot + 1,
				 (unsigned long long) e->index,
				 (unsigned long long) nd->applied);
		sm_apply_val(slot, e->index, entry_val(e));
	}
	if (rd.n_committed > 0 || rd.snapshot)
		ack_proposals(slot);
	for (i = 0; i < rd.n_reads; i++)
	{
		size_t		k;

		for (k = 0; k < n_reads; k++)
		{
			PendingReadReq *q = &reads[k];

			if (q->ctx != rd.reads[i].ctx || q->done)
				continue;
			q->done = true;
			if (!rd.reads[i].ok)
				break;
			stat_reads++;
			if (rd.reads[i].index < q->min_index)
				fail("linearizability: read %llu on n%d got index %llu, a "
					 "write at %llu was acknowledged before it was issued",
					 (unsigned long long) q->ctx, slot + 1,
					 (unsigned long long) rd.reads[i].index,
					 (unsigned long long) q->min_index);
			break;
		}
	}

	/* 4. advance */
	ph_raft_advance(r);
}

/* ---------------------------------------------------------------------
 * Random events
 * ---------------------------------------------------------------------
 */

static int
find_leader(void)
{
	int			s;
	int			best = -1;

	for (s = 0; s < n_slots; s++)
		if (nodes[s].up && ph_raft_role(nodes[s].r) == PH_RAFT_LEADER &&
			(best < 0 || ph_raft_term(nodes[s].r) > ph_raft_term(nodes[best].r)))
			best = s;
	return best;
}

static int
random_up_node(void)
{
	int			cand[MAXN];
	int			n = 0;
	int			s;

	for (s = 0; s < n_slots; s++)
		if (nodes[s].up)
			cand[n++] = s;
	return n ? cand[rn(n)] : -1;
}

/* record_prop remembers an accepted proposal for the end-of-run checks. */
static void
record_prop(int s, uint64_t pid, uint64_t idx, uint64_t term)
{
	if (n_props == cap_props)
	{
		cap_props = cap_props ? cap_props * 2 : 64;
		props = xrealloc(props, cap_props * sizeof(Proposal));
	}
	props[n_props].pid = pid;
	props[n_props].node = s;
	props[n_props].index = idx;
	props[n_props].term = term;
	props[n_props].status = 0;
	n_props++;
	trace("propose p%llu on n%d -> index %llu term %llu",
		  (unsigned long long) pid, s + 1, (unsigned long long) idx,
		  (unsigned long long) term);
}

/* A client proposal, sometimes a batch of 2-4 (group commit). */
static void
ev_propose(void)
{
	int			s = chance(800) ? find_leader() : random_up_node();
	uint64_t	pid;
	uint64_t	idx;
	uint64_t	term;
	int			rc;

	if (s < 0)
		return;
	if (chance(250))
	{
		PhRaftProposal batch[4];
		uint64_t	pids[4];
		size_t		n = 2 + rn(3),
					done = 0,
					k;

		for (k = 0; k < n; k++)
		{
			pids[k] = n_props + 1 + k;
			batch[k].data = &pids[k];
			batch[k].len = 8;
		}
		(void) ph_raft_propose_batch(nodes[s].r, batch, n, &done, &idx, &term);
		for (k = 0; k < done; k++)
			record_prop(s, pids[k], idx + k, term);
		return;
	}
	pid = n_props + 1;
	rc = ph_raft_propose(nodes[s].r, &pid, 8, &idx, &term);
	if (rc != PH_RAFT_OK)
		return;
	record_prop(s, pid, idx, term);
}

static void
ev_read(void)
{
	int			s = find_leader();
	int			rc;

	if (chance(400))
		s = random_up_node();	/* followers forward to the leader */
	if (s < 0)
		return;
	rc = ph_raft_read_index(nodes[s].r, next_ctx + 1);
	if (rc != PH_RAFT_OK)
		return;
	next_ctx++;
	if (n_reads == cap_reads)
	{
		cap_reads = cap_reads ? cap_reads * 2 : 32;
		reads = xrealloc(reads, cap_reads * sizeof(PendingReadReq));
	}
	reads[n_reads].ctx = next_ctx;
	reads[n_reads].node = s;
	reads[n_reads].min_index = acked_max_index;
	reads[n_reads].done = false;
	n_reads++;
	trace("read r%llu on n%d (acked writes up to %llu)",
		  (unsigned long long) next_ctx, s + 1,
		  (unsigned long long) acked_max_index);
}

static void
ev_partition(void)
{
	int			a;
	int			b;
	int			kind = rn(3);

	memset(blocked, 0, sizeof(blocked));
	if (kind == 0)
	{
		/* symmetric split into two random groups */
		int			side[MAXN];

		for (a = 0; a < n_slots; a++)
			side[a] = rn(2);
		for (a = 0; a < n_slots; a++)
			for (b = 0; b < n_slots; b++)
				blocked[a][b] = side[a] != side[b];
		trace("partition: symmetric split");
	}
	else if (kind == 1)
	{
		/* isolate the leader (or a random node) */
		int			l = find_leader();

		if (l < 0)
			l = rn(n_slots);
		for (a = 0; a < n_slots; a++)
			if (a != l)
				blocked[a][l] = blocked[l][a] = true;
		trace("partition: isolate n%d", l + 1);
	}
	else
	{
		/* asymmetric: random one-way links cut */
		for (a = 0; a < n_slots; a++)
			for (b = 0; b < n_slots; b++)
				if (a != b && chance(300))
					blocked[a][b] = true;
		trace("partition: asymmetric random links");
	}
}

static void
ev_conf(void)
{
	int			l = find_leader();
	const PhRaftConfig *c;
	int			op = rn(3);
	uint64_t	target = 0;
	uint64_t	idx;
	int			rc;

	if (l < 0)
		return;
	c = ph_raft_config(nodes[l].r);
	if (op == 0)
	{
		/* add a brand new node as a learner */
		if (n_slots >= MAXN)
			return;
		target = n_slots + 1;
		rc = ph_raft_conf(nodes[l].r, PH_RAFT_CONF_ADD_LEARNER, target, &idx,
						  NULL);
		if (rc != PH_RAFT_OK)
			return;
		n_slots++;
		node_create(target - 1, NULL);
		trace("conf: n%d adds learner n%llu at %llu", l + 1,
			  (unsigned long long) target, (unsigned long long) idx);
	}
	else if (op == 1)
	{
		if (c->n_learners == 0)
			return;
		target = c->learners[rn(c->n_learners)];
		rc = ph_raft_conf(nodes[l].r, PH_RAFT_CONF_PROMOTE, target, &idx,
						  NULL);
		if (rc != PH_RAFT_OK)
			return;
		trace("conf: n%d promotes n%llu at %llu", l + 1,
			  (unsigned long long) target, (unsigned long long) idx);
	}
	else
	{
		/* remove a learner or a voter; at times down to a single voter */
		if (c->n_learners > 0 && chance(300))
			target = c->learners[rn(c->n_learners)];
		else
		{
			if (c->n_voters <= 1 || (c->n_voters <= 2 && chance(700)))
				return;
			target = c->voters[rn(c->n_voters)];
		}
		rc = ph_raft_conf(nodes[l].r, PH_RAFT_CONF_REMOVE, target, &idx,
						  NULL);
		if (rc != PH_RAFT_OK)
			return;
		trace("conf: n%d removes n%llu at %llu", l + 1,
			  (unsigned long long) target, (unsigned long long) idx);
	}
	stat_conf++;
	conf_changed = true;
}

static void
ev_transfer(void)
{
	int			l = find_leader();
	const PhRaftConfig *c;
	uint64_t	target;

	if (l < 0)
		return;
	c = ph_raft_config(nodes[l].r);
	target = c->voters[rn(c->n_voters)];
	if (ph_raft_transfer_leader(nodes[l].r, target) == PH_RAFT_OK)
	{
		stat_transfers++;
		trace("transfer leadership n%d -> n%llu", l + 1,
			  (unsigned long long) target);
	}
}

static void
ev_compact(void)
{
	int			s = random_up_node();
	Node	   *nd;
	uint64_t	idx;
	uint64_t	first;
	uint64_t   *data;
	uint64_t	i;

	if (s < 0)
		return;
	nd = &nodes[s];
	first = ph_raft_first_index(nd->r);
	if (nd->applied < first)
		return;
	idx = first + rn((int) (nd->applied - first + 1));
	data = xrealloc(NULL, idx * 8);
	for (i = 1; i <= idx; i++)
		data[i - 1] = nd->vals[i];
	if (ph_raft_compact(nd->r, idx, data, (uint32_t) (idx * 8)) == PH_RAFT_OK)
	{
		disk_set_snapshot(&nd->disk, ph_raft_snapshot(nd->r), true);
		trace("n%d compacts up to %llu", s + 1, (unsigned long long) idx);
	}
	free(data);
}

/* ---------------------------------------------------------------------
 * One schedule
 * ---------------------------------------------------------------------
 */

static void
deliver_due(void)
{
	size_t		i = 0;

	while (i < n_net)
	{
		PhRaftMsg  *m;
		int			to;
		int			rc;

		if (net[i].at > now)
		{
			i++;
			continue;
		}
		m = net[i].m;
		net[i] = net[--n_net];	/* order scrambles: more reordering */
		to = (int) m->to - 1;
		if (nodes[to].up && !blocked[m->from - 1][to])
		{
			if (verbose)
				trace("deliver %s n%llu->n%llu term %llu idx %llu lt %llu "
					  "n=%u commit %llu rej %d hint %llu/%llu",
					  ph_raft_msg_type_name(m->type),
					  (unsigned long long) m->from,
					  (unsigned long long) m->to,
					  (unsigned long long) m->term,
					  (unsigned long long) m->index,
					  (unsigned long long) m->log_term, m->n_entries,
					  (unsigned long long) m->commit, m->reject,
					  (unsigned long long) m->reject_hint,
					  (unsigned long long) m->hint_term);
			rc = ph_raft_step(nodes[to].r, m);
			if (rc != PH_RAFT_OK)
				fail("n%d step(%s from n%llu) failed: %s", to + 1,
					 ph_raft_msg_type_name(m->type),
					 (unsigned long long) m->from, ph_raft_strerror(rc));
		}
		ph_raft_msg_free(m);
	}
}

static void
sim_step(bool chaos, bool quiet)
{
	int			s;

	now++;
	for (s = 0; s < n_slots; s++)
		if (nodes[s].up && (!chaos || chance(nodes[s].tick_rate)))
			ph_raft_tick(nodes[s].r);
	deliver_due();
	if (chaos)
	{
		if (chance(250))
			ev_propose();
		if (fam.read && chance(fam.read))
			ev_read();
		if (fam.leader_crash && chance(fam.leader_crash) &&
			(s = find_leader()) >= 0)
			node_crash(s, "(leader)");
		if (fam.crash && chance(fam.crash))
		{
			s = random_up_node();
			if (s >= 0)
				node_crash(s, "between steps");
		}
		for (s = 0; s < n_slots; s++)
			if (nodes[s].exists && !nodes[s].up && chance(40))
			{
				trace("restart n%d", s + 1);
				node_start(s);
			}
		if (fam.partition && chance(fam.partition))
			ev_partition();
		if (chance(fam.partition * 2))
		{
			memset(blocked, 0, sizeof(blocked));
		}
		if (fam.conf && chance(fam.conf))
			ev_conf();
		/* membership churn: changes right after elections, the riskiest time */
		if (fam.conf >= 100 && just_elected && chance(500))
			ev_conf();
		just_elected = false;
		if (fam.transfer && chance(fam.transfer))
			ev_transfer();
		if (fam.compact && chance(fam.compact))
			ev_compact();
	}
	else if (!quiet && chance(100))
		ev_propose();
	for (s = 0; s < n_slots; s++)
		if (nodes[s].up && ph_raft_has_ready(nodes[s].r) &&
			(!chaos || !chance(fam.ready_delay)))
			handle_ready(s);
	check_all();
}

/* Are all members of the leader's config caught up and idle? */
static bool
converged(int *leader_out)
{
	int			l = find_leader();
	PhRaft	   *lr;
	const PhRaftConfig *c;
	int			i;

	*leader_out = l;
	if (l < 0)
		return false;
	lr = nodes[l].r;
	if (ph_raft_term_at(lr, ph_raft_commit_index(lr)) != ph_raft_term(lr) ||
		ph_raft_commit_index(lr) != ph_raft_last_index(lr))
		return false;
	c = ph_raft_config(lr);
	for (i = 0; i < c->n_voters + c->n_learners; i++)
	{
		uint64_t	id = i < c->n_voters ? c->voters[i] :
			c->learners[i - c->n_voters];
		Node	   *nd = &nodes[id - 1];

		if (!nd->up || nd->applied != ph_raft_last_index(lr) ||
			ph_raft_has_ready(nd->r))
			return false;
	}
	return true;
}

static void
free_schedule(void)
{
	int			s;
	size_t		i;

	for (s = 0; s < MAXN; s++)
	{
		ph_raft_free(nodes[s].r);
		disk_free(&nodes[s].disk);
		free(nodes[s].vals);
		free(nodes[s].seen);
		memset(&nodes[s], 0, sizeof(Node));
	}
	for (i = 0; i < n_net; i++)
		ph_raft_msg_free(net[i].m);
	n_net = 0;
	n_props = 0;
	n_reads = 0;
	for (i = 0; i < reg_used && i < reg_cap; i++)
		reg[i].n = 0;
	reg_used = 0;
	if (leader_of_term)
		memset(leader_of_term, 0, leader_of_term_cap * sizeof(uint64_t));
	if (committed_term)
		memset(committed_term, 0, committed_term_cap * sizeof(uint64_t));
	if (committed_at)
		memset(committed_at, 0, committed_at_cap * sizeof(uint64_t));
	if (applied_val)
		memset(applied_val, 0, applied_val_cap * sizeof(uint64_t));
	max_committed = 0;
	conf_changed = false;
	acked_max_index = 0;
	next_ctx = 0;
	trace_len = 0;
	if (trace_buf)
		trace_buf[0] = 0;
}

/* Run one schedule; returns true if every check passed. */
static bool
run_schedule(int family, uint64_t seed)
{
	PhRaftConfig boot;
	int			s;
	int			n;
	int			step;
	int			leader = -1;
	size_t		i;

	free_schedule();
	fam = families[family];
	rng_state = seed * UINT64_C(0x2545F4914F6CDD1D) + (uint64_t) family + 1;
	now = 0;
	memset(blocked, 0, sizeof(blocked));
	n = fam.nodes ? fam.nodes : (chance(500) ? 3 : 5);
	ph_raft_default_options(&base_opts);
	base_opts.election_tick = 10;
	base_opts.heartbeat_tick = 2;
	base_opts.max_inflight = 1 + rn(4);
	base_opts.max_msg_entries = 1 + rn(fam.leader_crash >= 10 ? 2 : 4);
	base_opts.check_quorum = chance(800);
	base_opts.pre_vote = chance(800);
	base_opts.max_uncommitted = chance(500) ? 16 + rn(32) : 0;
	early_send = chance(500);

	if (setjmp(fail_jmp))
		return false;

	memset(&boot, 0, sizeof(boot));
	for (s = 0; s < n; s++)
		boot.voters[boot.n_voters++] = s + 1;
	n_slots = n;
	n_initial = n;
	trace("schedule family %d (%s) seed %llu: %d nodes, inflight %d, "
		  "batch %d, check_quorum %d, pre_vote %d, early_send %d", family,
		  fam.name, (unsigned long long) seed, n, base_opts.max_inflight,
		  base_opts.max_msg_entries, base_opts.check_quorum,
		  base_opts.pre_vote, early_send);
	for (s = 0; s < n; s++)
		node_create(s, &boot);

	for (step = 0; step < fam.steps; step++)
		sim_step(true, false);

	/* heal: everyone up, network perfect; the cluster must converge */
	trace("heal");
	memset(blocked, 0, sizeof(blocked));
	for (s = 0; s < n_slots; s++)
		if (nodes[s].exists && !nodes[s].up)
		{
			trace("restart n%d", s + 1);
			node_start(s);
		}
	fam.drop = fam.dup = fam.crash = fam.leader_crash = 0;
	for (step = 0; step < 3000; step++)
	{
		sim_step(false, step > 100);
		if (step > 100 && converged(&leader))
			break;
	}
	if (!converged(&leader))
		fail("liveness: no convergence 3000 steps after healing (leader %d)",
			 leader + 1);
	for (i = 0; i < n_props; i++)
	{
		const PhRaftConfig *c = ph_raft_config(nodes[leader].r);
		int			k;

		if (props[i].status != 1)
			continue;
		for (k = 0; k < c->n_voters + c->n_learners; k++)
		{
			uint64_t	id = k < c->n_voters ? c->voters[k] :
				c->learners[k - c->n_voters];
			Node	   *nd = &nodes[id - 1];

			if (props[i].pid >= nd->seen_cap || !nd->seen[props[i].pid])
				fail("durability: acknowledged proposal p%llu (index %llu) "
					 "missing on n%llu", (unsigned long long) props[i].pid,
					 (unsigned long long) props[i].index,
					 (unsigned long long) id);
		}
	}
	trace("converged: leader n%d term %llu, %llu entries", leader + 1,
		  (unsigned long long) ph_raft_term(nodes[leader].r),
		  (unsigned long long) ph_raft_last_index(nodes[leader].r));
	return true;
}

int
main(void)
{
	const char *e;
	int			total = 6000;
	uint64_t	base_seed = 1;
	int			only_family = -1;
	int			per_family;
	int			f;
	int			test_no = 0;
	int			n_tests = 0;
	int			chunk = 100;
	bool		all_ok = true;
	clock_t		t0 = clock();
	uint64_t	done = 0;
	uint64_t	n_failed = 0;
	bool		quiet_trace = false;

	if ((e = getenv("PH_RAFT_SIM_SCHEDULES")) != NULL)
		total = atoi(e);
	if ((e = getenv("PH_RAFT_SIM_SEED")) != NULL)
		base_seed = strtoull(e, NULL, 0);
	if ((e = getenv("PH_RAFT_SIM_FAMILY")) != NULL)
		only_family = atoi(e);
	if ((e = getenv("PH_RAFT_SIM_VERBOSE")) != NULL)
		verbose = atoi(e) != 0;
	if ((e = getenv("PH_RAFT_SIM_NOTRACE")) != NULL)
		quiet_trace = atoi(e) != 0;
	if (total < 1)
		total = 1;
	per_family = only_family >= 0 ? total :
		(total + N_FAMILIES - 1) / N_FAMILIES;

	for (f = 0; f < N_FAMILIES; f++)
		if (only_family < 0 || only_family == f)
			n_tests += (per_family + chunk - 1) / chunk;
	printf("1..%d\n", n_tests);

	for (f = 0; f < N_FAMILIES; f++)
	{
		int			start;

		if (only_family >= 0 && only_family != f)
			continue;
		for (start = 0; start < per_family; start += chunk)
		{
			int			end = start + chunk < per_family ? start + chunk : per_family;
			int			i;
			bool		ok = true;

			for (i = start; i < end; i++)
			{
				uint64_t	seed = base_seed + (uint64_t) i;

				done++;
				if (run_schedule(f, seed))
					continue;
				n_failed++;
				if (!ok)
					continue;	/* the chunk's first failure is enough */
				ok = false;
				printf("# FAILED: %s\n", fail_msg);
				printf("# replay: PH_RAFT_SIM_SEED=%llu PH_RAFT_SIM_SCHEDULES=1 "
					   "PH_RAFT_SIM_FAMILY=%d PH_RAFT_SIM_VERBOSE=1 %s\n",
					   (unsigned long long) seed, f,
					   "regress/unit/bin/test_raft_sim");
				if (quiet_trace)
					continue;
				printf("# schedule trace:\n");
				{
					char	   *line = trace_buf;

					while (line && *line)
					{
						char	   *nl = strchr(line, '\n');

						if (nl)
							*nl = 0;
						printf("#   %s\n", line);
						line = nl ? nl + 1 : NULL;
					}
				}
			}
			test_no++;
			printf("%s %d - %s: schedules %d-%d (%d schedules, seeds %llu..%llu)\n",
				   ok ? "ok" : "not ok", test_no, families[f].name, start,
				   end - 1, end - start,
				   (unsigned long long) (base_seed + start),
				   (unsigned long long) (base_seed + end - 1));
			if (!ok)
				all_ok = false;
		}
	}
	free_schedule();
	{
		double		secs = (double) (clock() - t0) / CLOCKS_PER_SEC;

		printf("# %llu schedules (%llu failed) in %.1f s CPU (%.0f schedules/s); %llu msgs, "
			   "%llu elections, %llu acked proposals, %llu reads, %llu crashes, "
			   "%llu snapshot installs, %llu conf changes, %llu transfers\n",
			   (unsigned long long) done, (unsigned long long) n_failed,
			   secs, secs > 0 ? done / secs : 0.0,
			   (unsigned long long) stat_msgs,
			   (unsigned long long) stat_elections,
			   (unsigned long long) stat_acked,
			   (unsigned long long) stat_reads,
			   (unsigned long long) stat_crashes,
			   (unsigned long long) stat_snap_installs,
			   (unsigned long long) stat_conf,
			   (unsigned long long) stat_transfers);
	}
	return all_ok ? 0 : 1;
}
