#!/bin/sh
# regress/unit/raft_mutants.sh: check that the Raft simulator finds bugs.
#
# Each mutant is a known-wrong edit of the Raft core (a classic Raft bug).
# For each one, the core is copied to a scratch directory, mutated with sed,
# built with the simulator, and run; the simulator must report a violation.
# The real sources are never touched.  Not part of "make check" (it takes a
# minute or two); run it after changing the simulator or its checks:
#
#     sh regress/unit/raft_mutants.sh            # from the repository root
#     SCHEDULES=20000 sh regress/unit/raft_mutants.sh
#
# Exit status 0 when every mutant was caught.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
SCHEDULES=${SCHEDULES:-12000}
CC=${CC:-cc}
WORK=$(mktemp -d /tmp/raft_mutants.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# name|file|simulator family (empty: all)|sed expression
MUTANTS='
commit-previous-term-by-counting|core.c||s/if (q > r->commit \&\& ph_raft_mem_term(\&r->log, q) == r->term)/if (q > r->commit)/
vote-ignores-log-up-to-date|core.c||s/if (can_vote \&\& ph_raft_mem_up_to_date(\&r->log, m->log_term, m->index))/if (can_vote)/
vote-twice-in-a-term|core.c||s/can_vote = r->vote == m->from ||/can_vote = true ||/
read-index-without-quorum-round|core.c||s/if (r->conf.n_voters == 1 \&\& ph_raft_conf_is_voter(\&r->conf, r->id))/if (true)/
follower-reads-its-own-commit-index|core.c||s/\tinit_msg(\&m, PH_RAFT_MSG_READ_INDEX, r->lead, r->term);/\tpush_read(r, ctx, r->commit, true); return PH_RAFT_OK;/
two-pending-config-changes|core.c||s/if (r->conf_index > r->commit)/if (false)/
append-without-prev-entry-check|core.c||s/if (m->index <= last \&\& ph_raft_mem_term(\&r->log, m->index) == m->log_term)/if (m->index <= last)/
heartbeat-commit-not-bounded-by-match|core.c||s/m.commit = pr->match < r->commit ? pr->match : r->commit;/m.commit = r->commit;/
follower-ignores-config-entries|core.c||s/if (conf_changed)$/if (conf_changed \&\& false)/
restart-forgets-vote|core.c||s/\tr->vote = init->hs.vote;/\tr->vote = PH_RAFT_NONE;/
config-change-before-current-term-commit|core.c|6|/Ongaro.s fix/{n;s/if (ph_raft_mem_term(\&r->log, r->commit) != r->term)/if (false)/}
'

status=0
echo "$MUTANTS" | while IFS='|' read -r name file family expr; do
	[ -z "$name" ] && continue
	rm -rf "$WORK/src" && mkdir -p "$WORK/src"
	cp "$TOP"/src/raft/core.c "$TOP"/src/raft/log_mem.c "$TOP"/src/raft/codec.c \
		"$TOP"/src/raft/progress.c "$TOP"/src/raft/status.c \
		"$TOP"/src/raft/raft_int.h "$WORK/src/"
	sed -i "$expr" "$WORK/src/$file"
	if cmp -s "$TOP/src/raft/$file" "$WORK/src/$file"; then
		echo "MUTANT DID NOT APPLY: $name (the source changed; update the script)"
		exit 1
	fi
	if ! $CC -O2 -std=gnu99 -w -I"$TOP/include" -I"$WORK/src" \
		-o "$WORK/sim" "$TOP/regress/unit/test_raft_sim.c" "$WORK"/src/*.c; then
		echo "MUTANT DOES NOT BUILD: $name"
		exit 1
	fi
	if [ -n "$family" ]; then
		out=$(PH_RAFT_SIM_FAMILY=$family PH_RAFT_SIM_NOTRACE=1 \
			PH_RAFT_SIM_SCHEDULES=$SCHEDULES "$WORK/sim")
	else
		out=$(PH_RAFT_SIM_NOTRACE=1 PH_RAFT_SIM_SCHEDULES=$SCHEDULES "$WORK/sim")
	fi
	failed=$(echo "$out" | sed -n 's/^# [0-9]* schedules (\([0-9]*\) failed).*/\1/p')
	first=$(echo "$out" | grep -m1 '^# FAILED' | cut -c3-)
	if [ "${failed:-0}" -gt 0 ]; then
		echo "caught   $name: $failed of $SCHEDULES schedules${family:+ (family $family)}; $first"
	else
		echo "MISSED   $name"
		exit 1
	fi
done || status=1
exit $status
