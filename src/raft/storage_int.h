/*-------------------------------------------------------------------------
 *
 * storage_int.h
 *	  Internals of the durable Raft log shared by src/raft/storage.c (the
 *	  log: segments, append, sync, truncate, compact, recovery, reads),
 *	  src/raft/storage_meta.c (hard-state slots, snapshot blob files) and
 *	  src/raft/storage_io.c (errors, I/O wrappers with the fault hook).
 *
 * Not a public header: the API is include/phantom/raft/storage.h.  The
 * on-disk format is described in docs/raft-storage.md.  Functions here are
 * prefixed ph_rlog_ (exported from the object files, but internal).
 *
 * src/raft/storage_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_RAFT_STORAGE_INT_H
#define PHANTOM_RAFT_STORAGE_INT_H

#include "phantom/raft/storage.h"

#define SEG_MAGIC		0x4C524850	/* "PHRL" */
#define META_MAGIC		0x4D524850	/* "PHRM" */
#define FORMAT_VERSION	1
#define META_SLOT_SIZE	512
#define META_FILE		"meta"
#define META_TMP_FILE	"meta.tmp"
#define SEG_SUFFIX		".seg"
#define SNAP_MAGIC		0x53524850	/* "PHRS" */
#define SNAP_PREFIX		"snap-"
#define SNAP_TMP_FILE	"snap.tmp"
#define SEG_NAME_LEN	(16 + 4)

/* Header at the start of every segment file. */
typedef struct SegHeader
{
	uint32		magic;
	uint32		version;
	uint64		first_index;
	uint64		reserved;
	uint32		reserved2;
	uint32		crc;			/* over the bytes before it */
} SegHeader;

/* Header of every record; the payload follows, padded to 8 bytes. */
typedef struct RecHeader
{
	uint32		crc;			/* over the rest of the header + payload */
	uint32		len;
	uint64		index;
	uint64		term;
	uint8		type;
	uint8		zero[7];
} RecHeader;

/* One metadata slot; two of them live at offsets 0 and META_SLOT_SIZE. */
typedef struct MetaSlot
{
	uint32		magic;
	uint32		version;
	uint64		seq;
	uint64		term;
	uint64		vote;
	uint64		commit;
	uint64		snap_index;
	uint64		snap_term;
	uint32		reserved;
	uint32		crc;			/* over the bytes before it */
} MetaSlot;

/* Header of a snapshot blob file; the blob follows. */
typedef struct SnapHeader
{
	uint32		magic;
	uint32		version;
	uint64		index;
	uint64		term;
	uint32		len;
	uint32		crc;			/* over the bytes before it + the blob */
} SnapHeader;

StaticAssertDecl(sizeof(SnapHeader) == 32, "snapshot header layout");
StaticAssertDecl(sizeof(SegHeader) == 32, "segment header layout");
StaticAssertDecl(sizeof(RecHeader) == 32, "record header layout");
StaticAssertDecl(sizeof(MetaSlot) == 64, "meta slot layout");

#define REC_HDR ((uint64) sizeof(RecHeader))
#define SEG_HDR ((uint64) sizeof(SegHeader))
#define ALIGN8(x) (((uint64) (x) + 7) & ~((uint64) 7))
#define REC_SIZE(len) (REC_HDR + ALIGN8(len))

/* In-memory image of one segment. */
typedef struct Segment
{
	uint64		first;			/* index of its first record */
	uint64		count;			/* records in it */
	uint64		cap;			/* allocated length of terms/offs */
	uint64	   *terms;			/* term of each record */
	uint64	   *offs;			/* file offset of each record */
	uint64		size;			/* bytes: header + records */
} Segment;

struct PhRaftLog
{
	char		dir[MAXPGPATH];
	int			dirfd;
	int			metafd;
	uint64		segsize;

	Segment    *segs;
	int			nsegs;
	int			capsegs;
	int			tailfd;			/* fd of segs[nsegs - 1], or -1 */
	int			readfd;			/* cached fd for reading an older segment */
	uint64		readfirst;		/* first index of the segment of readfd */

	uint64		snap_index;
	uint64		snap_term;
	void	   *snap_data;		/* snapshot blob (malloc'd) or NULL */
	uint32		snap_len;
	PhRaftHardState hs;
	uint64		meta_seq;		/* sequence of the newest valid slot */
	int			meta_synced_slot;	/* slot of the newest fsynced write:
									 * writes go to the other one */

	uint64		synced_index;	/* durable up to here */
	bool		tail_dirty;		/* tail written since last sync */
	bool		dir_dirty;		/* segment created since last sync */
	bool		needs_repair;	/* files may differ from memory */

	char	   *wbuf;			/* batch being written */
	size_t		wcap;
	char	   *rbuf;			/* record being read */
	size_t		rcap;
	char		note[PH_RAFT_LOG_MSGLEN];
};

/* storage_io.c: errors, notes, paths, buffers, CRC */
extern int	ph_rlog_error(PhRaftLogError *err, int code, int sys_errno,
						  const char *fmt,...) pg_attribute_printf(4, 5);
extern void ph_rlog_clear_error(PhRaftLogError *err);
extern int	ph_rlog_io_error(PhRaftLogError *err, int e, const char *what,
							 const char *path);
extern void ph_rlog_note(PhRaftLog *log, const char *fmt,...)
			pg_attribute_printf(2, 3);
extern void ph_rlog_seg_path(const PhRaftLog *log, uint64 first, char *buf,
							 size_t len);
extern void ph_rlog_file_path(const PhRaftLog *log, const char *name,
							  char *buf, size_t len);
extern bool ph_rlog_ensure_buf(char **buf, size_t *cap, size_t need);
extern pg_crc32c ph_rlog_crc(const void *a, size_t alen, const void *b,
							 size_t blen);

/* storage_io.c: system calls (each asks the fault hook first) */
extern int	ph_rlog_pwrite(int fd, const char *path, const void *buf,
						   size_t len, uint64 off);
extern int	ph_rlog_fsync(int fd, const char *path, bool datasync);
extern int	ph_rlog_dirsync(PhRaftLog *log);
extern int	ph_rlog_truncate(int fd, const char *path, uint64 size);
extern int	ph_rlog_unlink(const char *path);
extern int	ph_rlog_create(const char *path);
extern int	ph_rlog_rename(const char *from, const char *to);
extern int	ph_rlog_read_at(int fd, void *buf, size_t len, uint64 off);
extern int	ph_rlog_slurp(const char *path, char **out, uint64 *size,
						  PhRaftLogError *err);
extern int	ph_rlog_make_dirs(const char *dir, PhRaftLogError *err);

/* storage_meta.c: hard-state slots and snapshot blobs */
extern int	ph_rlog_meta_write(PhRaftLog *log, const PhRaftHardState *hs,
							   uint64 snap_index, uint64 snap_term, bool sync,
							   PhRaftLogError *err);
extern int	ph_rlog_meta_open(PhRaftLog *log, bool have_segments,
							  PhRaftLogError *err);
extern int	ph_rlog_snap_write(PhRaftLog *log, uint64 index, uint64 term,
							   const void *data, uint32 len,
							   PhRaftLogError *err);
extern void ph_rlog_snap_cleanup(PhRaftLog *log);
extern int	ph_rlog_snap_load(PhRaftLog *log, PhRaftLogError *err);

#endif							/* PHANTOM_RAFT_STORAGE_INT_H */
