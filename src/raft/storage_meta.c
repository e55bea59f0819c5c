/*-------------------------------------------------------------------------
 *
 * storage_meta.c
 *	  Durable Raft log: the hard-state metadata file and snapshot blobs.
 *
 * "meta" holds two 512-byte slots, each with the hard state (term, vote,
 * commit), the snapshot marker (index, term), a sequence number and a
 * CRC32C.  A write goes to the slot that does not hold the newest fsynced
 * state; open uses the valid slot with the highest seq, so a torn write
 * loses nothing that was durable.  A change of the commit index alone is
 * written without fdatasync (group commit: the commit index is not needed
 * for safety, a restart that finds an older one only applies less until
 * the leader tells it more); all such writes go to the same slot, so the
 * fsynced one, with the same term and vote, stays intact.  Term, vote and
 * the snapshot marker are always fsynced.
 *
 * "snap-<index>" holds the opaque blob of the snapshot at index.  It is
 * written (temp file, fsync, rename, directory fsync) before the marker
 * that names it, and stale blobs are removed after, or at the next open.
 *
 * Locking: none; the PhRaftLog's owner calls in from one thread.
 * No postgres.h: compiled into the extension and the standalone tests.
 *
 * src/raft/storage_meta.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"
#include "port/pg_crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phantom/raft/storage.h"
#include "storage_int.h"

static void
meta_fill(const PhRaftLog *log, MetaSlot *m, uint64 seq,
		  const PhRaftHardState *hs, uint64 snap_index, uint64 snap_term)
{
	memset(m, 0, sizeof(*m));
	m->magic = META_MAGIC;
	m->version = FORMAT_VERSION;
	m->seq = seq;
	m->term = hs->term;
	m->vote = hs->vote;
	m->commit = hs->commit;
	m->snap_index = snap_index;
	m->snap_term = snap_term;
	m->crc = ph_rlog_crc(m, offsetof(MetaSlot, crc), NULL, 0);
}

static bool
meta_valid(const MetaSlot *m)
{
	return m->magic == META_MAGIC && m->version == FORMAT_VERSION &&
		m->seq != 0 && m->crc == ph_rlog_crc(m, offsetof(MetaSlot, crc), NULL, 0);
}

/*
 * Write the next metadata slot (the one not holding the newest fsynced
 * state) and, if sync, fsync.  Memory is updated only on success, so a
 * failure leaves the last durable state in place and the next attempt
 * rewrites the same slot.
 */
int
ph_rlog_meta_write(PhRaftLog *log, const PhRaftHardState *hs, uint64 snap_index,
				   uint64 snap_term, bool sync, PhRaftLogError *err)
{
	char		slot[META_SLOT_SIZE];
	char		path[MAXPGPATH];
	uint64		seq = log->meta_seq + 1;
	int			target = 1 - log->meta_synced_slot;
	int			e;

	memset(slot, 0, sizeof(slot));
	meta_fill(log, (MetaSlot *) slot, seq, hs, snap_index, snap_term);
	ph_rlog_file_path(log, META_FILE, path, sizeof(path));
	if ((e = ph_rlog_pwrite(log->metafd, path, slot, sizeof(slot),
							target * META_SLOT_SIZE)) != 0)
		return ph_rlog_io_error(err, e, "write metadata file", path);
	if (sync)
	{
		if ((e = ph_rlog_fsync(log->metafd, path, true)) != 0)
			return ph_rlog_io_error(err, e, "fsync metadata file", path);
		log->meta_synced_slot = target;
	}
	log->meta_seq = seq;
	log->hs = *hs;
	log->snap_index = snap_index;
	log->snap_term = snap_term;
	return PH_RAFT_LOG_OK;
}

/*
 * Open the metadata file, creating it in a fresh directory (write a
 * temporary file, fsync, rename, fsync the directory).  have_segments says
 * whether segment files exist: then a missing file is corruption.
 */
int
ph_rlog_meta_open(PhRaftLog *log, bool have_segments, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	char		buf[2 * META_SLOT_SIZE];
	MetaSlot	a,
				b;
	int			e;

	ph_rlog_file_path(log, META_FILE, path, sizeof(path));
	ph_rlog_file_path(log, META_TMP_FILE, tmp, sizeof(tmp));
	(void) unlink(tmp);
	log->metafd = open(path, O_RDWR | O_CLOEXEC);
	if (log->metafd < 0 && errno != ENOENT)
		return ph_rlog_io_error(err, errno, "open metadata file", path);
	if (log->metafd < 0)
	{
		PhRaftHardState zero = {0, 0, 0};
		int			fd;

		if (have_segments)
			return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
								 "raft metadata file \"%s\" is missing but segment files exist",
								 path);
		memset(buf, 0, sizeof(buf));
		/* seq 1 lives in slot 1; slot 0 stays invalid until seq 2. */
		meta_fill(log, (MetaSlot *) (buf + META_SLOT_SIZE), 1, &zero, 0, 0);
		if ((fd = ph_rlog_create(tmp)) < 0)
			return ph_rlog_io_error(err, -fd, "create metadata file", tmp);
		if ((e = ph_rlog_pwrite(fd, tmp, buf, sizeof(buf), 0)) != 0 ||
			(e = ph_rlog_fsync(fd, tmp, false)) != 0)
		{
			close(fd);
			(void) unlink(tmp);
			return ph_rlog_io_error(err, e, "write metadata file", tmp);
		}
		close(fd);
		if ((e = ph_rlog_rename(tmp, path)) != 0)
		{
			(void) unlink(tmp);
			return ph_rlog_io_error(err, e, "rename metadata file to", path);
		}
		if ((e = ph_rlog_dirsync(log)) != 0)
			return ph_rlog_io_error(err, e, "fsync directory", log->dir);
		log->metafd = open(path, O_RDWR | O_CLOEXEC);
		if (log->metafd < 0)
			return ph_rlog_io_error(err, errno, "open metadata file", path);
	}

	memset(buf, 0, sizeof(buf));
	e = ph_rlog_read_at(log->metafd, buf, sizeof(buf), 0);
	if (e > 0)
		return ph_rlog_io_error(err, e, "read metadata file", path);
	/* A short file is tolerated: the missing part reads as zeroes. */
	memcpy(&a, buf, sizeof(a));
	memcpy(&b, buf + META_SLOT_SIZE, sizeof(b));
	if (!meta_valid(&a) && !meta_valid(&b))
		return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
							 "raft metadata file \"%s\" is corrupt: neither slot (offsets 0 and %d) has a valid checksum",
							 path, META_SLOT_SIZE);
	log->meta_synced_slot = 0;
	if (!meta_valid(&a) || (meta_valid(&b) && b.seq > a.seq))
	{
		a = b;
		log->meta_synced_slot = 1;
	}

	/*
	 * What we read may be a write that was never fsynced (commit-only, see
	 * above) still in the page cache: make it durable before the next
	 * write goes to the other slot.
	 */
	if ((e = ph_rlog_fsync(log->metafd, path, true)) != 0)
		return ph_rlog_io_error(err, e, "fsync metadata file", path);
	log->meta_seq = a.seq;
	log->hs.term = a.term;
	log->hs.vote = a.vote;
	log->hs.commit = a.commit;
	log->snap_index = a.snap_index;
	log->snap_term = a.snap_term;
	return PH_RAFT_LOG_OK;
}

static void
snap_path(const PhRaftLog *log, uint64 index, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" SNAP_PREFIX "%016" INT64_MODIFIER "X", log->dir,
			 index);
}

static pg_crc32c
snap_crc(const SnapHeader *h, const void *data)
{
	return ph_rlog_crc(h, offsetof(SnapHeader, crc), data, h->len);
}

/*
 * Durably write the blob of the snapshot at (index, term): a temporary
 * file, fsync, rename to snap-<index>, fsync the directory.  Written before
 * the metadata marker that makes it current, so a crash in between leaves
 * an unreferenced file that the next open removes.
 */
int
ph_rlog_snap_write(PhRaftLog *log, uint64 index, uint64 term, const void *data,
				   uint32 len, PhRaftLogError *err)
{
	char		tmp[MAXPGPATH];
	char		path[MAXPGPATH];
	SnapHeader	h;
	int			fd,
				e;

	ph_rlog_file_path(log, SNAP_TMP_FILE, tmp, sizeof(tmp));
	snap_path(log, index, path, sizeof(path));
	memset(&h, 0, sizeof(h));
	h.magic = SNAP_MAGIC;
	h.version = FORMAT_VERSION;
	h.index = index;
	h.term = term;
	h.len = len;
	h.crc = snap_crc(&h, data);
	if ((fd = ph_rlog_create(tmp)) < 0)
		return ph_rlog_io_error(err, -fd, "create snapshot file", tmp);
	if ((e = ph_rlog_pwrite(fd, tmp, &h, sizeof(h), 0)) != 0 ||
		(len > 0 && (e = ph_rlog_pwrite(fd, tmp, data, len, sizeof(h))) != 0) ||
		(e = ph_rlog_fsync(fd, tmp, false)) != 0)
	{
		close(fd);
		(void) unlink(tmp);
		return ph_rlog_io_error(err, e, "write snapshot file", tmp);
	}
	close(fd);
	if ((e = ph_rlog_rename(tmp, path)) != 0)
	{
		(void) unlink(tmp);
		return ph_rlog_io_error(err, e, "rename snapshot file to", path);
	}
	if ((e = ph_rlog_dirsync(log)) != 0)
		return ph_rlog_io_error(err, e, "fsync directory", log->dir);
	return PH_RAFT_LOG_OK;
}

/*
 * Remove snapshot blob files other than the current one, and a leftover
 * temporary file.  Best effort: a stale file is harmless and is retried at
 * the next compaction or open.
 */
void
ph_rlog_snap_cleanup(PhRaftLog *log)
{
	DIR		   *d = opendir(log->dir);
	struct dirent *de;
	char		keep[64];
	char		path[MAXPGPATH];
	bool		removed = false;

	if (d == NULL)
		return;
	snprintf(keep, sizeof(keep), SNAP_PREFIX "%016" INT64_MODIFIER "X",
			 log->snap_index);
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, SNAP_TMP_FILE) != 0 &&
			(strncmp(de->d_name, SNAP_PREFIX, strlen(SNAP_PREFIX)) != 0 ||
			 (log->snap_index > 0 && strcmp(de->d_name, keep) == 0)))
			continue;
		ph_rlog_file_path(log, de->d_name, path, sizeof(path));
		if (ph_rlog_unlink(path) == 0)
			removed = true;
	}
	closedir(d);
	if (removed)
		(void) ph_rlog_dirsync(log);
}

/* Load the blob of the current snapshot (open); missing or bad is corrupt. */
int
ph_rlog_snap_load(PhRaftLog *log, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	char	   *buf;
	uint64		size;
	SnapHeader	h;
	int			rc;

	if (log->snap_index == 0)
		return PH_RAFT_LOG_OK;
	snap_path(log, log->snap_index, path, sizeof(path));
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
							 "raft snapshot file \"%s\" is missing (the metadata names a snapshot at index " UINT64_FORMAT ")",
							 path, log->snap_index);
	if ((rc = ph_rlog_slurp(path, &buf, &size, err)) != PH_RAFT_LOG_OK)
		return rc;
	if (size >= sizeof(h))
		memcpy(&h, buf, sizeof(h));
	if (size < sizeof(h) || h.magic != SNAP_MAGIC ||
		h.version != FORMAT_VERSION || h.len != size - sizeof(h) ||
		h.index != log->snap_index || h.term != log->snap_term ||
		h.crc != snap_crc(&h, buf + sizeof(h)))
	{
		free(buf);
		return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
							 "raft snapshot file \"%s\" is corrupt or does not match the snapshot marker (index " UINT64_FORMAT ", term " UINT64_FORMAT ")",
							 path, log->snap_index, log->snap_term);
	}
	memmove(buf, buf + sizeof(h), h.len);
	log->snap_data = buf;
	log->snap_len = h.len;
	return PH_RAFT_LOG_OK;
}

void
ph_raft_log_snapshot(const PhRaftLog *log, uint64_t *index, uint64_t *term)
{
	*index = log->snap_index;
	*term = log->snap_term;
}

void
ph_raft_log_snapshot_data(const PhRaftLog *log, const void **data,
						  uint32_t *len)
{
	*data = log->snap_data;
	*len = log->snap_len;
}

void
ph_raft_log_hard_state(const PhRaftLog *log, PhRaftHardState *hs)
{
	*hs = log->hs;
}

int
ph_raft_log_save_hard_state(PhRaftLog *log, const PhRaftHardState *hs,
							PhRaftLogError *err)
{
	bool		sync = hs->term != log->hs.term || hs->vote != log->hs.vote;

	ph_rlog_clear_error(err);
	return ph_rlog_meta_write(log, hs, log->snap_index, log->snap_term, sync, err);
}
