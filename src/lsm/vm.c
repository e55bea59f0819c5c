/*-------------------------------------------------------------------------
 *
 * vm.c
 *	  The visibility-map fork of a phantom relation, indexed by vblock.
 *
 *	  The fork has heap's exact layout (so visibilitymap_get_status,
 *	  VM_ALL_VISIBLE, visibilitymap_count and visibilitymap_clear work on
 *	  it unchanged): after a MAXALIGNed page header, two bits per block,
 *	  VISIBILITYMAP_ALL_VISIBLE and VISIBILITYMAP_ALL_FROZEN, four blocks
 *	  per byte, low bits first.  Bits are *set* only here, by
 *	  ph_wal_set_visible's record (never visibilitymap_set, which wants a
 *	  heap buffer whose physical block is the heap block and would write
 *	  heap WAL).  Clearing goes through visibilitymap_clear, which writes
 *	  no WAL: every phantom record that clears carries a flag and redo
 *	  clears again (ph_vm_clear_redo).
 *
 *	  Locking: a VM page is locked last, after any data page it describes.
 *
 * src/lsm/vm.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/visibilitymap.h"
#include "access/xlogutils.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "phantom/lsm/storage_int.h"

/* heap's layout, restated */
#define PH_VM_BITS_PER_BLOCK	2
#define PH_VM_BLOCKS_PER_BYTE	(BITS_PER_BYTE / PH_VM_BITS_PER_BLOCK)
#define PH_VM_MAPSIZE			(BLCKSZ - MAXALIGN(SizeOfPageHeaderData))
#define PH_VM_BLOCKS_PER_PAGE	(PH_VM_MAPSIZE * PH_VM_BLOCKS_PER_BYTE)

/* ph_vm_mapblock: the VM fork block holding the bits of vblock */
BlockNumber
ph_vm_mapblock(BlockNumber vblock)
{
	return vblock / PH_VM_BLOCKS_PER_PAGE;
}

/*
 * ph_vm_page_set ORs flags into the bits of vblock on a VM page; returns
 * whether anything changed.  Used on the primary and in redo.
 */
bool
ph_vm_page_set(Page vmpage, BlockNumber vblock, uint8 flags)
{
	uint32		inpage = vblock % PH_VM_BLOCKS_PER_PAGE;
	uint32		byteno = inpage / PH_VM_BLOCKS_PER_BYTE;
	uint8		shift = (inpage % PH_VM_BLOCKS_PER_BYTE) * PH_VM_BITS_PER_BLOCK;
	uint8	   *map = (uint8 *) PageGetContents(vmpage);
	uint8		want = (flags & VISIBILITYMAP_VALID_BITS) << shift;

	if ((map[byteno] & want) == want)
		return false;
	map[byteno] |= want;
	return true;
}

/*
 * ph_vm_clear clears flags of vblock in the VM (no WAL; callers log the
 * change that made it necessary).  A missing VM page means nothing is set.
 */
void
ph_vm_clear(Relation rel, BlockNumber vblock, uint8 flags)
{
	Buffer		vmbuf = InvalidBuffer;

	if (visibilitymap_get_status(rel, vblock, &vmbuf) & flags)
		visibilitymap_clear(rel, vblock, vmbuf, flags);
	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
}

/*
 * ph_vm_clear_redo clears bits (VISIBILITYMAP_*) of vblock during replay
 * of a record that carries a VM-cleared flag.  Done whatever the data page's redo
 * action is, as heap does: the VM page is not protected by that LSN.
 */
void
ph_vm_clear_redo(XLogReaderState *record, BlockNumber vblock, uint8 bits)
{
	RelFileNode rnode;
	Relation	reln;
	Buffer		vmbuf = InvalidBuffer;

	XLogRecGetBlockTag(record, 0, &rnode, NULL, NULL);
	reln = CreateFakeRelcacheEntry(rnode);
	visibilitymap_pin(reln, vblock, &vmbuf);
	visibilitymap_clear(reln, vblock, vmbuf, bits);
	ReleaseBuffer(vmbuf);
	FreeFakeRelcacheEntry(reln);
}
