/*-------------------------------------------------------------------------
 *
 * test_raft_core.c
 *	  Targeted unit tests of phantom's Raft core (src/raft/core.c): each
 *	  test drives a few cores by hand through a perfect (or selectively
 *	  cut) in-process network and checks one behaviour.  The randomized
 *	  fault testing lives in test_raft_sim.c.
 *
 * Prints TAP.
 *
 * regress/unit/test_raft_core.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phantom/raft/raft.h"

#define N 6

static int	test_no;
static int	failures;

static void
ok(bool cond, const char *desc)
{
	test_no++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", test_no, desc);
	if (!cond)
		failures++;
}

/* ---------------------------------------------------------------------
 * A tiny deterministic cluster
 * ---------------------------------------------------------------------
 */

static PhRaft *nodes[N + 1];
static bool cut[N + 1][N + 1];
static PhRaftMsg *queue[100000];
static int	qlen;
static uint64_t applied_pids[N + 1][1024];	/* per node: index -> value */
static PhRaftReadState last_read[N + 1];
static int	n_read[N + 1];
static PhRaftSnapshot installed[N + 1];

static PhRaftOptions
opts(void)
{
	PhRaftOptions o;

	ph_raft_default_options(&o);
	o.election_tick = 10;
	o.heartbeat_tick = 1;
	o.max_msg_entries = 2;
	o.max_inflight = 4;
	o.max_uncommitted = 64;
	return o;
}

static PhRaft *
new_node(uint64_t id, int n_voters)
{
	PhRaftConfig c;
	PhRaftInit	init;
	PhRaftEntry e;
	PhRaft	   *r;
	int			i;
	int			err;

	memset(&c, 0, sizeof(c));
	for (i = 1; i <= n_voters; i++)
		c.voters[c.n_voters++] = i;
	memset(&init, 0, sizeof(init));
	init.id = id;
	init.opts = opts();
	init.opts.seed = id;
	if (n_voters > 0)
	{
		ph_raft_bootstrap(&c, &init.hs, &e);
		init.entries = &e;
		init.n_entries = 1;
		init.applied = 1;
	}
	r = ph_raft_new(&init, &err);
	if (n_voters > 0)
		free(e.data);
	return r;
}

static void
setup(int n_voters, int n_extra)
{
	int			i;

	memset(cut, 0, sizeof(cut));
	memset(applied_pids, 0, sizeof(applied_pids));
	memset(n_read, 0, sizeof(n_read));
	for (i = 1; i <= N; i++)
	{
		ph_raft_free(nodes[i]);
		nodes[i] = NULL;
		free(installed[i].data);
		memset(&installed[i], 0, sizeof(PhRaftSnapshot));
	}
	for (i = 1; i <= n_voters; i++)
		nodes[i] = new_node(i, n_voters);
	for (i = n_voters + 1; i <= n_voters + n_extra; i++)
		nodes[i] = new_node(i, 0);
	qlen = 0;
}

/* Handle every pending ready; messages go to the queue. */
static void
flush_readies(void)
{
	int			i;
	size_t		k;

	for (i = 1; i <= N; i++)
	{
		PhRaftReady rd;

		if (nodes[i] == NULL || !ph_raft_has_ready(nodes[i]))
			continue;
		ph_raft_ready(nodes[i], &rd);
		if (rd.snapshot)
		{
			free(installed[i].data);
			installed[i] = *rd.snapshot;
			installed[i].data = NULL;
		}
		for (k = 0; k < rd.n_msgs; k++)
			if (!cut[rd.msgs[k].from][rd.msgs[k].to] && qlen < 100000)
				queue[qlen++] = ph_raft_msg_clone(&rd.msgs[k]);
		for (k = 0; k < rd.n_committed; k++)
		{
			const PhRaftEntry *e = &rd.committed[k];
			uint64_t	v = 0;

			if (e->type == PH_RAFT_ENTRY_NORMAL && e->len == 8)
				memcpy(&v, e->data, 8);
			if (e->index < 1024)
				applied_pids[i][e->index] = v;
		}
		for (k = 0; k < rd.n_reads; k++)
		{
			last_read[i] = rd.reads[k];
			n_read[i]++;
		}
		ph_raft_advance(nodes[i]);
	}
}

/* Deliver messages until the network is quiet. */
static void
settle(void)
{
	int			rounds;

	for (rounds = 0; rounds < 1000; rounds++)
	{
		int			n;
		int			k;
		PhRaftMsg  *batch[4096];

		flush_readies();
		if (qlen == 0)
			return;
		n = qlen < 4096 ? qlen : 4096;
		memcpy(batch, queue, n * sizeof(PhRaftMsg *));
		memmove(queue, queue + n, (qlen - n) * sizeof(PhRaftMsg *));
		qlen -= n;
		for (k = 0; k < n; k++)
		{
			PhRaftMsg  *m = batch[k];

			if (nodes[m->to] && !cut[m->from][m->to])
				ph_raft_step(nodes[m->to], m);
			ph_raft_msg_free(m);
		}
	}
}

static void
tick_all(int times)
{
	int			t;
	int			i;

	for (t = 0; t < times; t++)
	{
		for (i = 1; i <= N; i++)
			if (nodes[i])
				ph_raft_tick(nodes[i]);
		settle();
	}
}

/* Make node id leader by letting only it time out. */
static void
elect(uint64_t id)
{
	int			t;

	for (t = 0; t < 100 && ph_raft_role(nodes[id]) != PH_RAFT_LEADER; t++)
	{
		ph_raft_tick(nodes[id]);
		settle();
	}
	settle();
}

static void
isolate(uint64_t id, bool on)
{
	int			i;

	for (i = 1; i <= N; i++)
		cut[id][i] = cut[i][id] = on;
}

static uint64_t
propose(uint64_t id, uint64_t pid, int *rc)
{
	uint64_t	idx = 0;

	*rc = ph_raft_propose(nodes[id], &pid, 8, &idx, NULL);
	return idx;
}

/* ---------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------
 */

static void
test_conf_codec(void)
{
	PhRaftConfig c;
	PhRaftConfig d;
	unsigned char buf[256];

	memset(&c, 0, sizeof(c));
	c.n_voters = 3;
	c.voters[0] = 1;
	c.voters[1] = 2;
	c.voters[2] = UINT64_C(0x1122334455667788);
	c.n_learners = 1;
	c.learners[0] = 9;
	ph_raft_conf_encode(&c, buf);
	ok(ph_raft_conf_decode(buf, ph_raft_conf_encoded_len(&c), &d) &&
	   d.n_voters == 3 && d.voters[2] == c.voters[2] && d.n_learners == 1 &&
	   d.learners[0] == 9, "config encode/decode round trip");
	ok(!ph_raft_conf_decode(buf, ph_raft_conf_encoded_len(&c) - 1, &d),
	   "config decode rejects a truncated buffer");
}

static void
test_codec(void)
{
	PhRaftMsg	m;
	PhRaftMsg	d;
	PhRaftEntry e[2];
	PhRaftSnapshot snap;
	unsigned char *buf;
	size_t		len;
	size_t		cut_at;
	bool		all_rejected = true;
	bool		no_crash = true;
	int			i;

	memset(&m, 0, sizeof(m));
	memset(e, 0, sizeof(e));
	memset(&snap, 0, sizeof(snap));
	m.type = PH_RAFT_MSG_APP;
	m.from = 1;
	m.to = 2;
	m.term = 9;
	m.index = 41;
	m.log_term = 8;
	m.commit = 40;
	m.context = 77;
	m.reject = true;
	e[0].index = 42;
	e[0].term = 9;
	e[0].len = 5;
	e[0].data = "hello";
	e[1].index = 43;
	e[1].term = 9;
	e[1].type = PH_RAFT_ENTRY_NOOP;
	m.entries = e;
	m.n_entries = 2;
	snap.index = 40;
	snap.term = 7;
	snap.conf.n_voters = 2;
	snap.conf.voters[0] = 1;
	snap.conf.voters[1] = 2;
	snap.len = 3;
	snap.data = "abc";
	m.snapshot = &snap;
	len = ph_raft_msg_encoded_len(&m);
	buf = malloc(len);
	ph_raft_msg_encode(&m, buf);
	ok(ph_raft_msg_decode(buf, len, &d) == PH_RAFT_OK &&
	   d.type == m.type && d.from == 1 && d.to == 2 && d.term == 9 &&
	   d.index == 41 && d.log_term == 8 && d.commit == 40 &&
	   d.context == 77 && d.reject && !d.flag && d.n_entries == 2 &&
	   d.entries[0].len == 5 && memcmp(d.entries[0].data, "hello", 5) == 0 &&
	   d.entries[1].type == PH_RAFT_ENTRY_NOOP && d.entries[1].data == NULL &&
	   d.snapshot && d.snapshot->index == 40 &&
	   d.snapshot->conf.n_voters == 2 && d.snapshot->len == 3 &&
	   memcmp(d.snapshot->data, "abc", 3) == 0,
	   "message codec round trip");
	ph_raft_msg_decoded_free(&d);
	for (cut_at = 0; cut_at < len; cut_at++)
		if (ph_raft_msg_decode(buf, cut_at, &d) != PH_RAFT_ERR_INVALID)
		{
			all_rejected = false;
			ph_raft_msg_decoded_free(&d);
		}
	ok(all_rejected, "every truncated encoding is rejected");
	/* flip bytes: decoding must fail cleanly or succeed, never overrun */
	srand(1);
	for (i = 0; i < 20000; i++)
	{
		unsigned char *c = malloc(len);

		memcpy(c, buf, len);
		c[rand() % len] ^= (unsigned char) (1 + rand() % 255);
		if (ph_raft_msg_decode(c, len, &d) == PH_RAFT_OK)
			ph_raft_msg_decoded_free(&d);
		free(c);
	}
	ok(no_crash, "corrupted encodings are handled");
	free(buf);

	{
		PhRaftSnapshot back;
		uint32_t	bl = ph_raft_snapshot_blob_len(&snap);
		unsigned char *blob = malloc(bl);
		bool		bad_rejected;

		ph_raft_snapshot_blob_encode(&snap, blob);
		ok(ph_raft_snapshot_blob_decode(40, 7, blob, bl, &back) == PH_RAFT_OK &&
		   back.index == 40 && back.term == 7 && back.conf.n_voters == 2 &&
		   back.conf.voters[1] == 2 && back.len == 3 &&
		   memcmp(back.data, "abc", 3) == 0,
		   "snapshot blob (config + data) round trip");
		free(back.data);
		bad_rejected = ph_raft_snapshot_blob_decode(40, 7, blob, 3, &back) ==
			PH_RAFT_ERR_INVALID;
		blob[0] = 0xff;
		bad_rejected = bad_rejected &&
			ph_raft_snapshot_blob_decode(40, 7, blob, bl, &back) ==
			PH_RAFT_ERR_INVALID;
		ok(bad_rejected, "malformed snapshot blobs are rejected");
		free(blob);
	}
}

static void
test_single_node(void)
{
	int			rc;
	uint64_t	idx;

	setup(1, 0);
	ph_raft_campaign(nodes[1]);
	settle();
	ok(ph_raft_role(nodes[1]) == PH_RAFT_LEADER,
	   "single voter elects itself at once on ph_raft_campaign");
	idx = propose(1, 42, &rc);
	settle();
	settle();
	ok(rc == PH_RAFT_OK && ph_raft_commit_index(nodes[1]) == idx &&
	   applied_pids[1][idx] == 42, "single voter commits and applies a proposal");
}

static void
test_election_and_replication(void)
{
	int			rc;
	uint64_t	idx;
	uint64_t	t;

	setup(3, 0);
	elect(1);
	ok(ph_raft_role(nodes[1]) == PH_RAFT_LEADER &&
	   ph_raft_leader(nodes[2]) == 1 && ph_raft_leader(nodes[3]) == 1,
	   "three nodes elect the node that times out first");
	t = ph_raft_term(nodes[1]);
	ok(ph_raft_commit_index(nodes[2]) == 2 &&
	   ph_raft_entry_at(nodes[2], 2)->type == PH_RAFT_ENTRY_NOOP &&
	   ph_raft_term_at(nodes[2], 2) == t,
	   "new leader commits a no-op of its term");
	idx = propose(1, 7, &rc);
	settle();
	tick_all(1);
	ok(rc == PH_RAFT_OK && applied_pids[1][idx] == 7 &&
	   applied_pids[2][idx] == 7 && applied_pids[3][idx] == 7,
	   "a proposal is applied on every node");
	rc = ph_raft_propose(nodes[2], &t, 8, NULL, NULL);
	ok(rc == PH_RAFT_ERR_NOT_LEADER && ph_raft_leader(nodes[2]) == 1,
	   "proposal on a follower fails with a leader hint");
}

/*
 * Group commit: a batch of proposals is one ready on the leader (one
 * persist) and one AppendEntries per follower (max_msg_entries = 2 here,
 * so a batch of 2), and every entry is applied everywhere.
 */
static void
test_propose_batch(void)
{
	PhRaftProposal props[3];
	uint64_t	vals[3] = {101, 102, 103};
	uint64_t	first = 0,
				term = 0;
	size_t		done = 0;
	PhRaftReady rd;
	size_t		k,
				apps = 0;
	int			rc;

	setup(3, 0);
	elect(1);
	for (k = 0; k < 2; k++)
	{
		props[k].data = &vals[k];
		props[k].len = 8;
	}
	rc = ph_raft_propose_batch(nodes[1], props, 2, &done, &first, &term);
	ok(rc == PH_RAFT_OK && done == 2 && first == ph_raft_last_index(nodes[1]) - 1 &&
	   term == ph_raft_term(nodes[1]),
	   "a batch of proposals lands at consecutive indexes of the current term");
	ph_raft_ready(nodes[1], &rd);
	for (k = 0; k < rd.n_msgs; k++)
		if (rd.msgs[k].type == PH_RAFT_MSG_APP && rd.msgs[k].n_entries == 2)
			apps++;
	ok(rd.n_entries == 2 && rd.n_msgs == 2 && apps == 2,
	   "the batch is one ready and one AppendEntries per follower");
	for (k = 0; k < rd.n_msgs; k++)
		queue[qlen++] = ph_raft_msg_clone(&rd.msgs[k]);
	ph_raft_advance(nodes[1]);
	settle();
	tick_all(1);
	ok(applied_pids[2][first] == 101 && applied_pids[3][first + 1] == 102 &&
	   applied_pids[1][first + 1] == 102, "the batch is applied on every node");
	rc = ph_raft_propose_batch(nodes[2], props, 1, &done, NULL, NULL);
	ok(rc == PH_RAFT_ERR_NOT_LEADER && done == 0,
	   "a batch on a follower fails with nothing appended");
}

static void
test_prevote_and_check_quorum(void)
{
	uint64_t	t;

	setup(3, 0);
	elect(1);
	t = ph_raft_term(nodes[1]);
	isolate(3, true);
	tick_all(100);
	ok(ph_raft_term(nodes[3]) == t && ph_raft_role(nodes[1]) == PH_RAFT_LEADER,
	   "pre-vote: an isolated follower does not raise its term");
	isolate(3, false);
	tick_all(5);
	ok(ph_raft_role(nodes[1]) == PH_RAFT_LEADER && ph_raft_term(nodes[1]) == t,
	   "pre-vote: the rejoining follower does not disrupt the leader");
	isolate(1, true);
	tick_all(30);
	ok(ph_raft_role(nodes[1]) != PH_RAFT_LEADER,
	   "check-quorum: an isolated leader steps down");
	ok((ph_raft_role(nodes[2]) == PH_RAFT_LEADER) !=
	   (ph_raft_role(nodes[3]) == PH_RAFT_LEADER),
	   "the majority side elects a new leader");
	isolate(1, false);
	tick_all(5);
	ok(ph_raft_leader(nodes[1]) != 1 && ph_raft_leader(nodes[1]) != 0,
	   "the old leader follows the new one after healing");
}

/*
 * ph_raft_leader_suspect: one follower losing its link to a live leader
 * cannot disrupt it (the others keep their lease); a follower that lost
 * the leader grants pre-votes at once (node 3 is never ticked here: only
 * the hint ends its lease).
 */
static void
test_leader_suspect(void)
{
	uint64_t	t;
	int			ticks;

	setup(3, 0);
	elect(1);
	t = ph_raft_term(nodes[1]);
	ph_raft_leader_suspect(nodes[2], 1);
	tick_all(40);
	ok(ph_raft_role(nodes[1]) == PH_RAFT_LEADER && ph_raft_term(nodes[1]) == t &&
	   ph_raft_leader(nodes[2]) == 1,
	   "suspect: one follower's lost link does not disrupt a live leader");
	ph_raft_leader_suspect(nodes[2], 3);
	ph_raft_leader_suspect(nodes[3], 3);
	tick_all(40);
	ok(ph_raft_role(nodes[1]) == PH_RAFT_LEADER && ph_raft_term(nodes[1]) == t,
	   "suspect: a hint about a node that is not the leader is ignored");
	/* leader 1 dies; only node 2 ticks, node 3 only answers */
	isolate(1, true);
	ph_raft_leader_suspect(nodes[2], 1);
	for (ticks = 0; ticks < 2 * opts().election_tick; ticks++)
	{
		ph_raft_tick(nodes[2]);
		settle();
	}
	ok(ph_raft_role(nodes[2]) != PH_RAFT_LEADER && ph_raft_term(nodes[2]) == t,
	   "suspect: a follower that still has its lease ignores the pre-vote");
	ph_raft_leader_suspect(nodes[3], 1);
	for (ticks = 0; ticks < 2 * opts().election_tick; ticks++)
	{
		if (ph_raft_role(nodes[2]) == PH_RAFT_LEADER)
			break;
		ph_raft_tick(nodes[2]);
		settle();
	}
	ok(ph_raft_role(nodes[2]) == PH_RAFT_LEADER,
	   "suspect: once the other follower lost the leader too, it grants and a new leader is elected");
	isolate(1, false);
}

/*
 * A follower with a long divergent suffix of an old term: fast
 * backtracking must find the match point in a few round trips.
 */
static void
test_fast_backtracking(void)
{
	int			rc;
	int			i;
	int			rejects = 0;
	uint64_t	last;

	setup(3, 0);
	elect(1);
	/* node 1 appends 40 entries nobody else gets */
	isolate(1, true);
	for (i = 0; i < 40; i++)
		propose(1, 1000 + i, &rc);
	settle();
	tick_all(30);				/* 1 steps down; 2 or 3 takes over */
	for (i = 0; i < 10; i++)
		propose(ph_raft_role(nodes[2]) == PH_RAFT_LEADER ? 2 : 3, 2000 + i, &rc);
	settle();
	isolate(1, false);
	/* count rejections seen by the network while node 1 catches up */
	for (i = 0; i < 40 && qlen >= 0; i++)
	{
		int			k;

		flush_readies();
		for (k = 0; k < qlen; k++)
			if (queue[k]->type == PH_RAFT_MSG_APP_RESP && queue[k]->reject)
				rejects++;
		settle();
		for (k = 1; k <= 3; k++)
			ph_raft_tick(nodes[k]);
	}
	settle();
	last = ph_raft_last_index(nodes[2]);
	ok(ph_raft_last_index(nodes[1]) == last &&
	   ph_raft_term_at(nodes[1], last) == ph_raft_term_at(nodes[2], last) &&
	   applied_pids[1][last] == applied_pids[2][last],
	   "a diverged follower's conflicting suffix is replaced");
	ok(rejects <= 4, "fast backtracking needs few rejections");
}

/* With responses withheld, a follower gets at most max_inflight appends. */
static void
test_flow_control(void)
{
	int			rc;
	int			i;
	int			k;
	int			apps = 0;
	int			entries = 0;

	setup(3, 0);
	elect(1);
	tick_all(2);
	cut[2][1] = true;			/* node 2's answers are lost */
	for (i = 0; i < 20; i++)
	{
		propose(1, 500 + i, &rc);
		flush_readies();
	}
	for (k = 0; k < qlen; k++)
		if (queue[k]->type == PH_RAFT_MSG_APP && queue[k]->to == 2 &&
			queue[k]->n_entries > 0)
		{
			apps++;
			entries += queue[k]->n_entries;
		}
	ok(apps == opts().max_inflight && entries <= apps * opts().max_msg_entries,
	   "flow control: at most max_inflight appends in flight");
	cut[2][1] = false;
	settle();
	tick_all(6);
	{
		PhRaftPeerStatus ps[8];
		int			np = ph_raft_peers(nodes[1], ps, 8);
		bool		all = np == 3;

		for (k = 0; k < np; k++)
			all = all && ps[k].voter &&
				ps[k].match == ph_raft_last_index(nodes[1]);
		ok(all, "ph_raft_peers reports every voter matched");
	}
	ok(ph_raft_applied_index(nodes[2]) == ph_raft_last_index(nodes[1]),
	   "the follower catches up once answers flow again");
}

static void
test_membership(void)
{
	int			rc;
	uint64_t	idx;
	const PhRaftConfig *c;

	setup(3, 1);
	elect(1);
	rc = ph_raft_conf(nodes[1], PH_RAFT_CONF_PROMOTE, 4, NULL, NULL);
	ok(rc == PH_RAFT_ERR_INVALID, "promote of a non-member is refused");
	rc = ph_raft_conf(nodes[1], PH_RAFT_CONF_ADD_LEARNER, 4, &idx, NULL);
	ok(rc == PH_RAFT_OK && ph_raft_conf_is_learner(ph_raft_config(nodes[1]), 4),
	   "add learner takes effect on the leader when appended");
	rc = ph_raft_conf(nodes[1], PH_RAFT_CONF_ADD_LEARNER, 5, NULL, NULL);
	ok(rc == PH_RAFT_ERR_CONF_PENDING, "only one pending config change");
	settle();
	tick_all(2);
	ok(ph_raft_applied_index(nodes[4]) == ph_raft_commit_index(nodes[1]) &&
	   ph_raft_conf_is_learner(ph_raft_config(nodes[4]), 4),
	   "the learner catches up from an empty log");
	isolate(4, true);
	for (rc = 0; rc < 5; rc++)
	{
		uint64_t	pid = 600 + rc;

		ph_raft_propose(nodes[1], &pid, 8, NULL, NULL);
	}
	settle();
	tick_all(1);
	ok(ph_raft_conf(nodes[1], PH_RAFT_CONF_PROMOTE, 4, NULL, NULL) ==
	   PH_RAFT_ERR_NOT_CAUGHT_UP, "a lagging learner is not promoted");
	isolate(4, false);
	settle();
	tick_all(3);
	rc = ph_raft_conf(nodes[1], PH_RAFT_CONF_PROMOTE, 4, NULL, NULL);
	settle();
	tick_all(2);
	c = ph_raft_config(nodes[2]);
	ok(rc == PH_RAFT_OK && c->n_voters == 4 && ph_raft_conf_is_voter(c, 4),
	   "the caught-up learner is promoted to voter");
	rc = ph_raft_conf(nodes[1], PH_RAFT_CONF_REMOVE, 1, NULL, NULL);
	ok(rc == PH_RAFT_ERR_INVALID, "the leader refuses to remove itself");
	rc = ph_raft_conf(nodes[1], PH_RAFT_CONF_REMOVE, 2, NULL, NULL);
	settle();
	tick_all(2);
	c = ph_raft_config(nodes[3]);
	ok(rc == PH_RAFT_OK && c->n_voters == 3 && !ph_raft_conf_is_voter(c, 2),
	   "a voter is removed");
	/* quorum is now 2 of {1,3,4}: losing node 2 does not matter */
	ph_raft_free(nodes[2]);
	nodes[2] = NULL;
	idx = propose(1, 77, &rc);
	settle();
	tick_all(1);
	ok(applied_pids[3][idx] == 77 && applied_pids[4][idx] == 77,
	   "the new config commits without the removed node");
}

static void
test_transfer(void)
{
	int			rc;
	uint64_t	t;

	setup(3, 0);
	elect(1);
	t = ph_raft_term(nodes[1]);
	isolate(3, true);
	rc = ph_raft_transfer_leader(nodes[1], 3);
	ok(rc == PH_RAFT_OK &&
	   ph_raft_propose(nodes[1], &t, 8, NULL, NULL) == PH_RAFT_ERR_TRANSFERRING &&
	   ph_raft_transfer_leader(nodes[1], 1) == PH_RAFT_OK &&
	   ph_raft_propose(nodes[1], &t, 8, NULL, NULL) == PH_RAFT_OK,
	   "a transfer can be cancelled by transferring to oneself");
	settle();
	tick_all(1);
	rc = ph_raft_transfer_leader(nodes[1], 3);
	tick_all(25);
	ok(rc == PH_RAFT_OK && ph_raft_role(nodes[1]) == PH_RAFT_LEADER &&
	   ph_raft_propose(nodes[1], &t, 8, NULL, NULL) == PH_RAFT_OK,
	   "a transfer to an unreachable node expires and proposals resume");
	isolate(3, false);
	settle();
	tick_all(3);
	t = ph_raft_term(nodes[1]);
	rc = ph_raft_transfer_leader(nodes[1], 3);
	ok(rc == PH_RAFT_OK, "transfer accepted");
	rc = ph_raft_propose(nodes[1], &t, 8, NULL, NULL);
	ok(rc == PH_RAFT_ERR_TRANSFERRING || rc == PH_RAFT_ERR_NOT_LEADER,
	   "proposals are refused during a transfer");
	settle();
	tick_all(1);
	ok(ph_raft_role(nodes[3]) == PH_RAFT_LEADER &&
	   ph_raft_term(nodes[3]) == t + 1 && ph_raft_leader(nodes[1]) == 3,
	   "TimeoutNow makes the target leader in the next term");
}

static void
test_read_index(void)
{
	int			rc;
	uint64_t	idx;

	setup(3, 0);
	elect(1);
	idx = propose(1, 5, &rc);
	settle();
	tick_all(1);
	rc = ph_raft_read_index(nodes[1], 99);
	ok(rc == PH_RAFT_OK && n_read[1] == 0,
	   "ReadIndex waits for a heartbeat round");
	settle();
	ok(n_read[1] == 1 && last_read[1].ok && last_read[1].ctx == 99 &&
	   last_read[1].index >= idx, "ReadIndex answers with the commit index");
	rc = ph_raft_read_index(nodes[2], 55);
	ok(rc == PH_RAFT_OK && n_read[2] == 0, "ReadIndex on a follower is forwarded");
	settle();
	ok(n_read[2] == 1 && last_read[2].ok && last_read[2].ctx == 55 &&
	   last_read[2].index >= idx,
	   "the follower gets the leader's confirmed read index");
	/* with node 2 and 3 cut, proposals pile up until the limit */
	isolate(1, true);
	{
		PhRaft	   *l = nodes[1];
		int			k;
		int			rc2 = PH_RAFT_OK;

		for (k = 0; k < 1000 && rc2 == PH_RAFT_OK; k++)
			propose(1, 900 + k, &rc2);
		ok(rc2 == PH_RAFT_ERR_BUSY &&
		   ph_raft_last_index(l) - ph_raft_commit_index(l) == 64,
		   "max_uncommitted bounds the proposals a cut-off leader accepts");
	}
	isolate(1, false);
	settle();
	/* an isolated leader cannot confirm: the read fails when it steps down */
	isolate(1, true);
	rc = ph_raft_read_index(nodes[1], 100);
	tick_all(30);
	ok(rc == PH_RAFT_OK && n_read[1] == 2 && !last_read[1].ok &&
	   last_read[1].ctx == 100, "an unconfirmable read fails on step-down");
}

static void
test_snapshot(void)
{
	int			rc;
	int			i;
	uint64_t	idx = 0;
	unsigned char data[4] = {1, 2, 3, 4};

	setup(3, 1);
	elect(1);
	for (i = 0; i < 20; i++)
		idx = propose(1, 300 + i, &rc);
	settle();
	tick_all(1);
	ok(ph_raft_compact(nodes[1], idx + 1, data, 4) == PH_RAFT_ERR_INVALID,
	   "compaction beyond the applied index is refused");
	ok(ph_raft_compact(nodes[1], idx, data, 4) == PH_RAFT_OK &&
	   ph_raft_first_index(nodes[1]) == idx + 1 &&
	   ph_raft_snapshot(nodes[1])->conf.n_voters == 3,
	   "compaction takes a snapshot with its config");
	ph_raft_conf(nodes[1], PH_RAFT_CONF_ADD_LEARNER, 4, NULL, NULL);
	settle();
	tick_all(3);
	ok(installed[4].index == idx && installed[4].len == 4 &&
	   ph_raft_applied_index(nodes[4]) == ph_raft_commit_index(nodes[1]) &&
	   ph_raft_conf_is_learner(ph_raft_config(nodes[4]), 4),
	   "a new node behind the log start receives the snapshot and catches up");
}

/* Handle n's ready, dropping its messages; returns committed count. */
static size_t
drain_alone(PhRaft *r)
{
	PhRaftReady rd;
	size_t		n = 0;

	while (ph_raft_has_ready(r))
	{
		ph_raft_ready(r, &rd);
		n += rd.n_committed;
		ph_raft_advance(r);
	}
	return n;
}

static void
inject(PhRaft *r, PhRaftMsgType type, uint64_t from, uint64_t term,
	   uint64_t index, bool reject)
{
	PhRaftMsg	m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = from;
	m.to = ph_raft_id(r);
	m.term = term;
	m.index = index;
	m.reject = reject;
	ph_raft_step(r, &m);
}

/*
 * Raft §5.4.2 (Figure 8): a new leader must not commit an entry of an
 * earlier term by counting replicas, only through an entry of its own term.
 */
static void
test_commit_only_current_term(void)
{
	PhRaftConfig c;
	PhRaftInit	init;
	PhRaftEntry e[2];
	PhRaft	   *r;
	int			err;
	int			t;
	uint64_t	term;

	memset(&c, 0, sizeof(c));
	c.n_voters = 3;
	c.voters[0] = 1;
	c.voters[1] = 2;
	c.voters[2] = 3;
	memset(&init, 0, sizeof(init));
	init.id = 1;
	init.opts = opts();
	ph_raft_bootstrap(&c, &init.hs, &e[0]);
	init.hs.term = 3;
	memset(&e[1], 0, sizeof(e[1]));
	e[1].index = 2;
	e[1].term = 2;
	e[1].type = PH_RAFT_ENTRY_NOOP;
	init.entries = e;
	init.n_entries = 2;
	init.applied = 1;
	r = ph_raft_new(&init, &err);
	free(e[0].data);
	for (t = 0; t < 30 && ph_raft_role(r) == PH_RAFT_FOLLOWER; t++)
		ph_raft_tick(r);
	drain_alone(r);
	inject(r, PH_RAFT_MSG_PREVOTE_RESP, 2, 4, 0, false);
	drain_alone(r);
	inject(r, PH_RAFT_MSG_VOTE_RESP, 2, 4, 0, false);
	drain_alone(r);
	term = ph_raft_term(r);
	ok(ph_raft_role(r) == PH_RAFT_LEADER && term == 4 &&
	   ph_raft_last_index(r) == 3 && ph_raft_term_at(r, 3) == 4,
	   "leader of term 4 appended its no-op after the term-2 entry");
	ok(ph_raft_conf(r, PH_RAFT_CONF_ADD_LEARNER, 9, NULL, NULL) ==
	   PH_RAFT_ERR_NOT_READY &&
	   ph_raft_read_index(r, 1) == PH_RAFT_ERR_NOT_READY,
	   "no config change or ReadIndex before an entry of the term commits");
	/* node 2 acknowledges entry 2 only: a majority holds it */
	inject(r, PH_RAFT_MSG_APP_RESP, 2, term, 2, false);
	drain_alone(r);
	ok(ph_raft_commit_index(r) == 1,
	   "a previous-term entry on a majority is not committed by counting");
	inject(r, PH_RAFT_MSG_APP_RESP, 2, term, 3, false);
	ok(drain_alone(r) == 2 && ph_raft_commit_index(r) == 3,
	   "it commits (with everything before) once the no-op is on a majority");
	ph_raft_free(r);
}

static void
test_ready_protocol(void)
{
	PhRaftReady rd;
	PhRaftMsg	m;

	setup(3, 0);
	ph_raft_tick(nodes[1]);
	memset(&m, 0, sizeof(m));
	m.type = PH_RAFT_MSG_HEARTBEAT;
	m.from = 2;
	m.to = 1;
	m.term = 5;
	if (!ph_raft_has_ready(nodes[1]))
		ph_raft_step(nodes[1], &m);
	ph_raft_ready(nodes[1], &rd);
	ok(ph_raft_step(nodes[1], &m) == PH_RAFT_ERR_IN_READY,
	   "step between ready and advance is refused");
	ph_raft_advance(nodes[1]);
	{
		PhRaftEntry bad[2];
		uint64_t	last = ph_raft_last_index(nodes[1]);

		memset(bad, 0, sizeof(bad));
		m.type = PH_RAFT_MSG_APP;
		m.term = ph_raft_term(nodes[1]);
		m.index = last;
		m.log_term = ph_raft_term_at(nodes[1], last);
		bad[0].index = last + 1;
		bad[0].term = m.term;
		bad[1].index = last + 3;	/* a gap */
		bad[1].term = m.term;
		m.entries = bad;
		m.n_entries = 2;
		ok(ph_raft_step(nodes[1], &m) == PH_RAFT_ERR_INVALID &&
		   ph_raft_last_index(nodes[1]) == last,
		   "a malformed AppendEntries is refused without touching the log");
	}
}

static void
test_restart(void)
{
	PhRaftInit	init;
	PhRaftEntry e[2];
	PhRaftConfig c;
	PhRaft	   *r;
	int			err;

	memset(&c, 0, sizeof(c));
	c.n_voters = 3;
	c.voters[0] = 1;
	c.voters[1] = 2;
	c.voters[2] = 3;
	memset(&init, 0, sizeof(init));
	init.id = 2;
	init.opts = opts();
	ph_raft_bootstrap(&c, &init.hs, &e[0]);
	init.hs.term = 7;
	init.hs.vote = 3;
	memset(&e[1], 0, sizeof(e[1]));
	e[1].index = 2;
	e[1].term = 6;
	e[1].type = PH_RAFT_ENTRY_NOOP;
	init.entries = e;
	init.n_entries = 2;
	init.applied = 1;
	r = ph_raft_new(&init, &err);
	ok(r && ph_raft_term(r) == 7 && ph_raft_last_index(r) == 2 &&
	   ph_raft_config(r)->n_voters == 3 && ph_raft_commit_index(r) == 1,
	   "restart from durable state");
	ph_raft_free(r);
	init.applied = 5;
	r = ph_raft_new(&init, &err);
	ok(r == NULL && err == PH_RAFT_ERR_INVALID,
	   "restart refuses an applied index beyond the log");
	init.applied = 1;
	init.hs.commit = 9;
	r = ph_raft_new(&init, &err);
	ok(r && ph_raft_commit_index(r) == 2,
	   "restart clamps a commit index beyond the durable log (torn write)");
	ph_raft_free(r);
	free(e[0].data);
}

int
main(void)
{
	int			i;

	printf("1..63\n");
	test_conf_codec();
	test_codec();
	test_single_node();
	test_election_and_replication();
	test_propose_batch();
	test_prevote_and_check_quorum();
	test_leader_suspect();
	test_fast_backtracking();
	test_flow_control();
	test_membership();
	test_transfer();
	test_read_index();
	test_snapshot();
	test_ready_protocol();
	test_restart();
	test_commit_only_current_term();
	for (i = 1; i <= N; i++)
		ph_raft_free(nodes[i]);
	if (test_no != 63)
		printf("# ran %d tests, planned 63\n", test_no);
	return failures ? 1 : 0;
}
