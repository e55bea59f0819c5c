/*-------------------------------------------------------------------------
 *
 * status.c
 *	  Construction helpers (default options, bootstrap of a new group) and
 *	  read-only introspection of a Raft core: role, term, indexes, config,
 *	  peers' progress, and names of roles, message types and error codes.
 *
 * Nothing here changes a core's protocol state; no locking (the host's
 * thread owns the PhRaft).
 *
 * src/raft/status.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

/* Sensible defaults: 10-tick elections, heartbeat every tick. */
void
ph_raft_default_options(PhRaftOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->election_tick = 10;
	o->heartbeat_tick = 1;
	o->max_inflight = 16;
	o->max_msg_entries = 64;
	o->pre_vote = true;
	o->check_quorum = true;
	o->seed = 1;
}

/* The durable state every initial member of a new group starts from. */
int
ph_raft_bootstrap(const PhRaftConfig *conf, PhRaftVoteState *hs,
				  PhRaftEntry *entry)
{
	if (conf->n_voters < 1 || conf->n_voters + conf->n_learners >
		PH_RAFT_MAX_NODES)
		return PH_RAFT_ERR_INVALID;
	memset(entry, 0, sizeof(*entry));
	entry->index = 1;
	entry->term = 1;
	entry->type = PH_RAFT_ENTRY_CONFIG;
	entry->len = ph_raft_conf_encoded_len(conf);
	entry->data = malloc(entry->len);
	if (entry->data == NULL)
		return PH_RAFT_ERR_NOMEM;
	ph_raft_conf_encode(conf, entry->data);
	hs->term = 1;
	hs->vote = PH_RAFT_NONE;
	hs->commit = 1;
	return PH_RAFT_OK;
}

/* ---------------------------------------------------------------------
 * Introspection: plain accessors, documented in raft.h
 * ---------------------------------------------------------------------
 */

uint64_t
ph_raft_id(const PhRaft *r)
{
	return r->id;
}

PhRaftRole
ph_raft_role(const PhRaft *r)
{
	return r->role;
}

uint64_t
ph_raft_term(const PhRaft *r)
{
	return r->term;
}

uint64_t
ph_raft_leader(const PhRaft *r)
{
	return r->lead;
}

uint64_t
ph_raft_commit_index(const PhRaft *r)
{
	return r->commit;
}

uint64_t
ph_raft_applied_index(const PhRaft *r)
{
	return r->applied;
}

uint64_t
ph_raft_first_index(const PhRaft *r)
{
	return r->log.snap_index + 1;
}

uint64_t
ph_raft_last_index(const PhRaft *r)
{
	return ph_raft_mem_last_index(&r->log);
}

uint64_t
ph_raft_term_at(const PhRaft *r, uint64_t index)
{
	return ph_raft_mem_term(&r->log, index);
}

const PhRaftEntry *
ph_raft_entry_at(const PhRaft *r, uint64_t index)
{
	return ph_raft_mem_entry(&r->log, index);
}

const PhRaftConfig *
ph_raft_config(const PhRaft *r)
{
	return &r->conf;
}

const PhRaftSnapshot *
ph_raft_snapshot(const PhRaft *r)
{
	return &r->snap;
}

int
ph_raft_peers(const PhRaft *r, PhRaftPeerStatus *out, int max)
{
	int			i;
	int			n = 0;

	if (r->role != PH_RAFT_LEADER)
		return 0;
	for (i = 0; i < r->n_prs && n < max; i++)
	{
		out[n].id = r->prs[i].id;
		out[n].voter = r->prs[i].voter;
		out[n].match = r->prs[i].match;
		out[n].next = r->prs[i].next;
		out[n].recent_active = r->prs[i].recent_active;
		n++;
	}
	return n;
}

const char *
ph_raft_role_name(PhRaftRole role)
{
	switch (role)
	{
		case PH_RAFT_FOLLOWER:
			return "follower";
		case PH_RAFT_PRECANDIDATE:
			return "precandidate";
		case PH_RAFT_CANDIDATE:
			return "candidate";
		case PH_RAFT_LEADER:
			return "leader";
	}
	return "?";
}

/*
 * A leader's AppendEntries, heartbeats and snapshots acknowledge nothing of
 * the sender's durable state (the leader's vote for itself in its term was
 * persisted before it could win), so they may leave before their ready is
 * persisted.  Votes, responses and the rest must wait.
 */
bool
ph_raft_msg_may_precede_persist(const PhRaftMsg *m)
{
	return m->type == PH_RAFT_MSG_APP || m->type == PH_RAFT_MSG_HEARTBEAT ||
		m->type == PH_RAFT_MSG_SNAP;
}

const char *
ph_raft_msg_type_name(PhRaftMsgType t)
{
	switch (t)
	{
		case PH_RAFT_MSG_APP:
			return "App";
		case PH_RAFT_MSG_APP_RESP:
			return "AppResp";
		case PH_RAFT_MSG_VOTE:
			return "Vote";
		case PH_RAFT_MSG_VOTE_RESP:
			return "VoteResp";
		case PH_RAFT_MSG_PREVOTE:
			return "PreVote";
		case PH_RAFT_MSG_PREVOTE_RESP:
			return "PreVoteResp";
		case PH_RAFT_MSG_HEARTBEAT:
			return "Heartbeat";
		case PH_RAFT_MSG_HEARTBEAT_RESP:
			return "HeartbeatResp";
		case PH_RAFT_MSG_SNAP:
			return "Snap";
		case PH_RAFT_MSG_TIMEOUT_NOW:
			return "TimeoutNow";
		case PH_RAFT_MSG_READ_INDEX:
			return "ReadIndex";
		case PH_RAFT_MSG_READ_INDEX_RESP:
			return "ReadIndexResp";
	}
	return "?";
}

const char *
ph_raft_strerror(int err)
{
	switch (err)
	{
		case PH_RAFT_OK:
			return "ok";
		case PH_RAFT_ERR_NOT_LEADER:
			return "not the leader";
		case PH_RAFT_ERR_TRANSFERRING:
			return "leadership transfer in progress";
		case PH_RAFT_ERR_CONF_PENDING:
			return "a membership change is still pending";
		case PH_RAFT_ERR_INVALID:
			return "invalid argument";
		case PH_RAFT_ERR_NOT_READY:
			return "leader has not committed an entry of its term yet";
		case PH_RAFT_ERR_NOT_CAUGHT_UP:
			return "learner has not caught up";
		case PH_RAFT_ERR_NOMEM:
			return "out of memory";
		case PH_RAFT_ERR_IN_READY:
			return "called between ready and advance";
		case PH_RAFT_ERR_COMPACTED:
			return "index already compacted";
		case PH_RAFT_ERR_BUSY:
			return "too many uncommitted entries";
	}
	return "unknown error";
}
