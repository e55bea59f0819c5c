/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  The Raft leader's view of each follower's log and the flow control
 *	  of AppendEntries (probe / replicate / snapshot states).
 *
 * Invariants: match < next; in PROBE at most one AppendEntries is
 * unanswered (probe_sent); in REPLICATE at most max_inflight messages are
 * in flight, their last indexes kept in a ring (infl); in SNAPSHOT nothing
 * is sent until the snapshot lands or times out.  All state is owned by
 * the PhRaft (core.c); no locking.
 *
 * src/raft/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft_int.h"

/* Bound on AppendEntries in flight in REPLICATE. */
static int
max_inflight(const PhRaft *r)
{
	return r->o.max_inflight;
}

/* Forget what we knew: probe from our last index + 1. */
void
ph_raft_pr_reset(PhRaft *r, Progress *pr)
{
	pr->state = PR_PROBE;
	pr->match = 0;
	pr->next = ph_raft_mem_last_index(&r->log) + 1;
	pr->probe_sent = false;
	pr->pending_snapshot = 0;
	pr->snap_elapsed = 0;
	pr->recent_active = false;
	pr->read_ack = 0;
	pr->infl_start = pr->infl_count = 0;
}

/* Back to probing, from after the match (or the snapshot just sent). */
void
ph_raft_pr_become_probe(Progress *pr)
{
	if (pr->state == PR_SNAPSHOT)
	{
		uint64_t	ps = pr->pending_snapshot;

		pr->next = (pr->match + 1 > ps + 1) ? pr->match + 1 : ps + 1;
	}
	else
		pr->next = pr->match + 1;
	pr->state = PR_PROBE;
	pr->probe_sent = false;
	pr->pending_snapshot = 0;
	pr->infl_start = pr->infl_count = 0;
}

/* Start streaming from after the match. */
void
ph_raft_pr_become_replicate(Progress *pr)
{
	pr->state = PR_REPLICATE;
	pr->next = pr->match + 1;
	pr->probe_sent = false;
	pr->pending_snapshot = 0;
	pr->infl_start = pr->infl_count = 0;
}

/* Must we wait for an answer before sending pr anything new? */
bool
ph_raft_pr_paused(const PhRaft *r, const Progress *pr)
{
	switch (pr->state)
	{
		case PR_PROBE:
			return pr->probe_sent;
		case PR_REPLICATE:
			return pr->infl_count >= max_inflight(r);
		case PR_SNAPSHOT:
			return true;
	}
	return true;
}

/* Forget the in-flight messages whose last index is <= index. */
void
ph_raft_pr_free_inflight_to(Progress *pr, uint64_t index)
{
	while (pr->infl_count > 0 && pr->infl[pr->infl_start] <= index)
	{
		pr->infl_start = (pr->infl_start + 1) % MAX_INFLIGHT;
		pr->infl_count--;
	}
}

/* Record an AppendEntries in flight ending at last. */
void
ph_raft_pr_add_inflight(Progress *pr, uint64_t last)
{
	pr->infl[(pr->infl_start + pr->infl_count) % MAX_INFLIGHT] = last;
	pr->infl_count++;
}

/* An acceptance up to index: true if it taught us something new. */
bool
ph_raft_pr_maybe_update(Progress *pr, uint64_t index)
{
	bool		updated = false;

	if (pr->match < index)
	{
		pr->match = index;
		pr->probe_sent = false;
		updated = true;
	}
	if (pr->next < index + 1)
		pr->next = index + 1;
	return updated;
}

/*
 * A rejection of the AppendEntries whose previous entry was "rejected".
 * The follower suggests (hint, hint_term): its log has no entry matching
 * ours above hint.  We skip our entries above the last one of ours whose
 * term is <= hint_term too (fast backtracking by term).  Stale rejections
 * are ignored.  Returns true if next moved and a new probe should go out.
 */
bool
ph_raft_pr_maybe_decr(PhRaft *r, Progress *pr, uint64_t rejected, uint64_t hint,
			  uint64_t hint_term)
{
	uint64_t	nn;

	if (pr->state == PR_REPLICATE)
	{
		if (rejected <= pr->match)
			return false;
		pr->next = pr->match + 1;
		return true;
	}
	if (pr->next == 0 || pr->next - 1 != rejected)
		return false;
	if (hint_term > 0)
		hint = ph_raft_mem_find_conflict_by_term(&r->log, hint, hint_term);
	nn = hint + 1;
	if (nn > rejected)
		nn = rejected;
	if (nn < pr->match + 1)
		nn = pr->match + 1;
	pr->next = nn;
	pr->probe_sent = false;
	return true;
}
