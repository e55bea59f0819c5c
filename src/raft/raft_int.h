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

#endif							/* PHANTOM_RAFT_RAFT_INT_H */
