/*-------------------------------------------------------------------------
 *
 * storage.h
 *	  The durable Raft log of phantom: segment files of CRC-protected
 *	  records, a double-buffered hard-state file and a snapshot marker.
 *
 * This module is independent of the consensus core (raft.h): it stores
 * opaque records (index, term, type, payload bytes), the hard state (term,
 * vote, commit) and the snapshot marker (index, term) below which the log
 * has been compacted.  The raft worker wires the two together: it appends
 * the entries and the hard state of a "ready", calls ph_raft_log_sync(),
 * and only then sends messages that acknowledge them.
 *
 * The code is pure C + POSIX (plus PostgreSQL's frontend-safe CRC32C), so
 * it is compiled both into the extension and into the standalone unit
 * tests.  It never calls ereport/elog, never allocates with palloc and
 * never exits: every function returns a PhRaftLogCode and, when the caller
 * passes a PhRaftLogError, a message naming the file and offset involved.
 * The caller turns failures into ereport().
 *
 * A PhRaftLog is not thread-safe; one process (the raft worker) owns it.
 *
 * Failure model: when a write path fails (ENOSPC, EIO, injected fault),
 * the in-memory state of the log is rolled back to what is durable (the
 * state after the last successful ph_raft_log_sync() or durable
 * operation), the files are repaired to match it as far as possible, and
 * the log stays usable: the caller may retry later.  See
 * docs/raft-storage.md for the on-disk format and the recovery rules.
 *
 * include/phantom/raft/storage.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_RAFT_STORAGE_H
#define PHANTOM_RAFT_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Result codes of every ph_raft_log_* function that can fail. */
typedef enum PhRaftLogCode
{
	PH_RAFT_LOG_OK = 0,
	PH_RAFT_LOG_EIO,			/* a system call failed; see sys_errno
								 * (ENOSPC, EIO, EDQUOT, ...) */
	PH_RAFT_LOG_ECORRUPT,		/* on-disk data failed validation */
	PH_RAFT_LOG_EINVAL,			/* caller error: non-contiguous append,
								 * bad range, truncating compacted
								 * entries, ... */
	PH_RAFT_LOG_ECOMPACTED,		/* index is below the first index: it is
								 * covered by the snapshot */
	PH_RAFT_LOG_EUNAVAILABLE	/* index is beyond the last index */
} PhRaftLogCode;

#define PH_RAFT_LOG_MSGLEN 512

/* Error details filled by a failing call (if the caller passes one). */
typedef struct PhRaftLogError
{
	PhRaftLogCode code;
	int			sys_errno;		/* errno of the failed system call, or 0 */
	char		message[PH_RAFT_LOG_MSGLEN];
} PhRaftLogError;

/* One log record.  data points to len bytes (may be NULL if len == 0). */
typedef struct PhRaftLogEntry
{
	uint64_t	index;
	uint64_t	term;
	uint8_t		type;
	uint32_t	len;
	const void *data;
} PhRaftLogEntry;

/* Raft's persistent state besides the log.  vote 0 means "no vote". */
typedef struct PhRaftHardState
{
	uint64_t	term;
	uint64_t	vote;
	uint64_t	commit;
} PhRaftHardState;

/* Options for ph_raft_log_open; zero-initialise for the defaults. */
typedef struct PhRaftLogOptions
{
	uint64_t	segment_size;	/* target segment size in bytes; 0 means
								 * PH_RAFT_LOG_DEFAULT_SEGMENT_SIZE */
} PhRaftLogOptions;

#define PH_RAFT_LOG_DEFAULT_SEGMENT_SIZE (16 * 1024 * 1024)
#define PH_RAFT_LOG_MIN_SEGMENT_SIZE 4096
/* Largest payload of one record (a sanity bound checked on recovery). */
#define PH_RAFT_LOG_MAX_PAYLOAD (1024U * 1024U * 1024U)

typedef struct PhRaftLog PhRaftLog;

/*
 * Open (creating if needed) the log in directory dir, running crash
 * recovery: every segment is scanned and every record's CRC checked.  A torn
 * tail (a partial record at the end of the last segment) is cut off; what
 * was cut is described by ph_raft_log_recovery_note().  A corrupted record
 * followed by valid data, a gap in the indexes or a damaged metadata file is
 * PH_RAFT_LOG_ECORRUPT with the file and offset in err->message.
 */
extern int	ph_raft_log_open(const char *dir, const PhRaftLogOptions *opts,
							 PhRaftLog **log, PhRaftLogError *err);
extern void ph_raft_log_close(PhRaftLog *log);

/* Empty string, or what recovery repaired at open (torn tail cut, ...). */
extern const char *ph_raft_log_recovery_note(const PhRaftLog *log);

/*
 * Append n entries; entries[0].index must be last_index + 1 and the
 * indexes consecutive, terms non-decreasing and >= last_term.  The records
 * are written (one write per segment touched) but are durable only after
 * ph_raft_log_sync().  To replace a conflicting suffix call
 * ph_raft_log_truncate_suffix() first.  On failure nothing of the batch
 * remains (the log is rolled back to the last synced state).
 */
extern int	ph_raft_log_append(PhRaftLog *log, const PhRaftLogEntry *entries,
							   int n, PhRaftLogError *err);

/*
 * Make every appended entry durable: fdatasync the segments written since
 * the last sync and fsync the directory if a segment was created.  On
 * failure the log is rolled back to the previous synced state (unsynced
 * entries are discarded) and the caller must not acknowledge them.
 */
extern int	ph_raft_log_sync(PhRaftLog *log, PhRaftLogError *err);

/*
 * Delete every entry with index >= from (Raft conflict resolution), across
 * segments.  from must be > the snapshot index.  Syncs pending appends
 * first; durable on return.
 */
extern int	ph_raft_log_truncate_suffix(PhRaftLog *log, uint64_t from,
										PhRaftLogError *err);

/*
 * Record a snapshot at (index, term) and drop the log prefix it covers.
 * data/len is an opaque blob kept with the marker (e.g. the encoded group
 * configuration and the state machine's watermark; may be NULL/0); it is
 * returned by ph_raft_log_snapshot_data() until the next snapshot.
 * If the log holds index with the same term, entries after it are kept and
 * whole segments ending at or below index are deleted (entries <= index in a
 * kept segment just become unreadable).  Otherwise (the snapshot is ahead
 * of the log or conflicts with it) the whole log is discarded and the next
 * append must be index + 1.  An index at or below the current snapshot is a
 * no-op.  The marker and blob are durable on return; deleting segments that
 * a crash interrupted is finished by the next open.
 */
extern int	ph_raft_log_compact(PhRaftLog *log, uint64_t index, uint64_t term,
								const void *data, uint32_t len,
								PhRaftLogError *err);

/*
 * Like ph_raft_log_compact, but always discards the whole log (the core's
 * "install a snapshot received from the leader: replace the log by it").
 * If a crash interrupts it and the log held (index, term), the next open
 * may keep the entries after index, as ph_raft_log_compact would; that is
 * safe (they match the leader's log).
 */
extern int	ph_raft_log_install_snapshot(PhRaftLog *log, uint64_t index,
										 uint64_t term, const void *data,
										 uint32_t len, PhRaftLogError *err);

/*
 * Read entries [lo, hi) and call cb on each, in order.  The entry (and its
 * data) is valid only during the callback: copy what you keep.  Stops
 * after max_bytes of payload (at least one entry is always delivered), or
 * when cb returns false.  *count receives the number delivered.  The
 * callback must not call other ph_raft_log_* functions on the same log.
 */
typedef bool (*PhRaftLogReadCb) (const PhRaftLogEntry *entry, void *arg);
extern int	ph_raft_log_read(PhRaftLog *log, uint64_t lo, uint64_t hi,
							 size_t max_bytes, PhRaftLogReadCb cb, void *arg,
							 int *count, PhRaftLogError *err);

/*
 * Term of entry index: the snapshot term for the snapshot index,
 * ECOMPACTED below it, EUNAVAILABLE beyond the last index.
 */
extern int	ph_raft_log_term(const PhRaftLog *log, uint64_t index,
							 uint64_t *term, PhRaftLogError *err);

/* first_index = snapshot index + 1; last_index = first_index - 1 if empty. */
extern uint64_t ph_raft_log_first_index(const PhRaftLog *log);
extern uint64_t ph_raft_log_last_index(const PhRaftLog *log);
extern uint64_t ph_raft_log_last_term(const PhRaftLog *log);
/* Index of the last entry made durable by ph_raft_log_sync (or recovery). */
extern uint64_t ph_raft_log_synced_index(const PhRaftLog *log);
extern void ph_raft_log_snapshot(const PhRaftLog *log, uint64_t *index,
								 uint64_t *term);
/* The snapshot's blob (owned by the log, valid until the next compact). */
extern void ph_raft_log_snapshot_data(const PhRaftLog *log, const void **data,
									  uint32_t *len);

/*
 * Hard state: read from memory; save writes one metadata slot, with an
 * fsync unless only the commit index changed (see storage_meta.c).
 */
extern void ph_raft_log_hard_state(const PhRaftLog *log, PhRaftHardState *hs);
extern int	ph_raft_log_save_hard_state(PhRaftLog *log,
										const PhRaftHardState *hs,
										PhRaftLogError *err);

/*
 * Fault injection for tests (compiled in, inert unless a hook is set).
 * The hook is called before each I/O system call of the module with the
 * operation and the file path; returning an errno value makes the call fail
 * with it.  For PH_RAFT_IO_WRITE the hook may also lower *len: that many
 * bytes are written before failing, like a write that fills the disk.
 * Process-wide; pass NULL to remove.
 */
typedef enum PhRaftLogIoOp
{
	PH_RAFT_IO_WRITE,
	PH_RAFT_IO_FSYNC,			/* fsync/fdatasync of a file */
	PH_RAFT_IO_DIRSYNC,			/* fsync of the directory */
	PH_RAFT_IO_CREATE,
	PH_RAFT_IO_TRUNCATE,
	PH_RAFT_IO_UNLINK,
	PH_RAFT_IO_RENAME
} PhRaftLogIoOp;

typedef int (*PhRaftLogFaultHook) (PhRaftLogIoOp op, const char *path,
								   size_t *len, void *arg);
extern void ph_raft_log_set_fault_hook(PhRaftLogFaultHook hook, void *arg);

/* Name of a code, for messages ("corrupt", "I/O error", ...). */
extern const char *ph_raft_log_code_name(int code);

#endif							/* PHANTOM_RAFT_STORAGE_H */
