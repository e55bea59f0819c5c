#
# 038_repl_faults.pl: a five-node cluster under faults while a bank-transfer
# workload runs throughout (one transfer per transaction, each tried on the
# node that acknowledged the last one first, then on the others).
#
#   (a) SIGSTOP of two followers: writes go on (3 of 5), SIGCONT, they
#       catch up;
#   (b) SIGSTOP of the leader past the election timeout (a hung machine: no
#       connection closes): another leader is elected, the old one steps
#       down once continued;
#   (c) phantom.leader_transfer to a chosen follower under load;
#   (d) phantom.node_remove of the leader: refused on the leader itself
#       (hint: transfer first), done after a transfer from the new leader;
#       the removed node leaves every node's phantom.nodes;
#   (e) phantom.node_add of a sixth, empty node under load: it catches up;
#   (f) kill -9 of the leader, restarted: the ex-leader catches up.
#
# At the end every member has the same content hash (accounts, transfers,
# ledger) and the same commit and applied index, the sum of the balances is
# unchanged and every acknowledged transfer is on every member.  Also checks
# that phantom.nodes on a follower says 'unknown' (not 'unreachable') for
# the other followers.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use PhantomTest;
use RaftTest;

my $started = time();
my @members = qw(f1 f2 f3 f4 f5);
my %n = map { $_ => raft_node($_, 'faults-secret') } @members;

$n{f1}->safe_psql('postgres', 'SELECT phantom.cluster_create()');
for my $name (@members[1 .. 4])
{
	my $ci = $n{$name}->connstr('postgres') =~ s/'/''/gr;
	$n{f1}->safe_psql('postgres',
		"SELECT phantom.node_add('$name', '$ci', '$raft_addr{$name}')");
}

# leader(): the member that leads, as the members see it (undef if none)
sub leader
{
	for my $name (@members)
	{
		my $s = q1($n{$name}, 'SELECT role FROM phantom.raft_status()', 5);
		return $name if $s eq 'leader';
	}
	return undef;
}

sub role { return q1($n{ $_[0] }, 'SELECT role FROM phantom.raft_status()', 5); }

my $L = leader();
is($L, 'f1', 'five nodes, f1 leads');

# --- phantom.nodes is truthful from every node ---
my $states = q{SELECT string_agg(name || '=' || state, ' ' ORDER BY name) FROM phantom.nodes};
ok( defined poll(10, sub { q1($n{f1}, $states) eq 'f1=self f2=connected f3=connected f4=connected f5=connected' }),
	'phantom.nodes on the leader: every follower connected')
  or diag(q1($n{f1}, $states));
ok( defined poll(10, sub { q1($n{f3}, $states) eq 'f1=connected f2=unknown f3=self f4=unknown f5=unknown' }),
	"phantom.nodes on a follower: the leader connected, the other followers 'unknown'")
  or diag(q1($n{f3}, $states));

$n{f1}->safe_psql('postgres', q{
CREATE TABLE acc (id int PRIMARY KEY, bal bigint NOT NULL);
INSERT INTO acc SELECT g, 1000 FROM generate_series(1, 20) g;
CREATE TABLE transfers (id int PRIMARY KEY, src int, dst int, amount int);
});
my $total = 20000;

# --- the workload ---
my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $ack = "$dir/acked";
my $stop = "$dir/stop";
my $conns = "$dir/conns";

# the workload reads the members' connection strings from $conns at every
# transfer, so membership changes reach it
sub write_conns
{
	open(my $fh, '>', "$conns.tmp") or die;
	print $fh map { "$_ " . $n{$_}->connstr('postgres') . "\n" } @members;
	close $fh;
	rename("$conns.tmp", $conns) or die;
}
write_conns();
open(my $fh, '>', "$dir/bank.sh") or die;
print $fh <<"EOS";
#!/bin/bash
# one transfer per transaction; the node of the last acknowledgement first;
# a node that timed out is tried last for 3 s
i=0
last=''
declare -A bad
while [ ! -e '$stop' ]; do
  i=\$((i + 1))
  a=\$((RANDOM % 20 + 1)); b=\$((RANDOM % 20 + 1)); m=\$((RANDOM % 50 + 1))
  sql="SET phantom.commit_timeout = 3000; BEGIN; UPDATE acc SET bal = bal - \$m WHERE id = \$a; UPDATE acc SET bal = bal + \$m WHERE id = \$b; INSERT INTO transfers VALUES (\$i, \$a, \$b, \$m); COMMIT;"
  declare -A conn=()
  good=(); slow=()
  now=\$(date +%s)
  while read -r name c; do
    conn[\$name]=\$c
    if [ "\$name" = "\$last" ]; then good=("\$name" "\${good[@]}");
    elif [ "\${bad[\$name]:-0}" -gt "\$now" ]; then slow+=("\$name");
    else good+=("\$name"); fi
  done < '$conns'
  done_one=0
  for name in "\${good[@]}" "\${slow[@]}"; do
    PGCONNECT_TIMEOUT=2 timeout 6 psql -X -q -v ON_ERROR_STOP=1 -d "\${conn[\$name]}" -c "\$sql" >/dev/null 2>&1
    rc=\$?
    if [ \$rc = 0 ]; then
      echo "\$i \$(date +%s.%N) \$name" >> '$ack'
      last=\$name
      done_one=1
      break
    fi
    [ \$rc = 124 ] || [ \$rc = 2 ] && bad[\$name]=\$((now + 3))
  done
  [ \$done_one = 1 ] || sleep 0.05
done
EOS
close $fh;
my $bank = IPC::Run::start([ 'bash', "$dir/bank.sh" ], '>', "$dir/bank.out", '2>&1');

# acks_after(t): acknowledged transfers after time t [by node]
sub acks_after
{
	my ($t, $by) = @_;
	open(my $a, '<', $ack) or return 0;
	my $c = 0;
	while (my $l = <$a>)
	{
		my (undef, $ts, $node) = split ' ', $l;
		$c++ if $ts > $t && (!defined $by || $node eq $by);
	}
	close $a;
	return $c;
}

# goes_on(what[, by]): at least 5 transfers acknowledged from now on
sub goes_on
{
	my ($what, $by) = @_;
	my $t0 = time();
	ok(defined poll(20, sub { acks_after($t0, $by) >= 5 }), "$what: transfers go on" . ($by ? " on $by" : ''));
}

goes_on('workload started');

# caught_up(names, timeout): their applied index reaches the leader's commit
sub caught_up
{
	my ($names, $timeout) = @_;
	my $l = leader() // return undef;
	my $c = q1($n{$l}, 'SELECT commit_index FROM phantom.raft_status()');
	return poll($timeout, sub {
		!grep { (q1($n{$_}, 'SELECT applied_index FROM phantom.raft_status()', 5) || 0) < $c } @$names;
	});
}

# --- (a) two followers frozen ---
my @fz = grep { $_ ne $L } @members;
@fz = @fz[0, 1];
signal_server($n{$_}, 'STOP') for @fz;
my $t0 = time();
usleep(3_000_000);
ok(acks_after($t0) >= 3, "(a) writes go on while @fz are frozen (" . acks_after($t0) . ' transfers)');
signal_server($n{$_}, 'CONT') for @fz;
ok(defined caught_up(\@fz, 30), "(a) @fz caught up after SIGCONT");
is(leader(), $L, '(a) the leader did not change');

# --- (b) the leader frozen past the election timeout ---
my $old = $L;
signal_server($n{$old}, 'STOP');
$t0 = time();
my $new;
my $t = poll(15, sub {
	for my $name (grep { $_ ne $old } @members)
	{
		if (role($name) eq 'leader') { $new = $name; return 1; }
	}
	return 0;
});
ok(defined $t, "(b) another leader elected while $old is frozen");
diag(sprintf('(b) frozen leader -> new leader %s after %.2f s (election timeout path)', $new // '?', $t // -1));
goes_on('(b) with the old leader frozen', $new) if defined $new;
signal_server($n{$old}, 'CONT');
ok(defined poll(15, sub { role($old) eq 'follower' && q1($n{$old}, 'SELECT leader FROM phantom.raft_status()') eq ($new // '') }),
	"(b) the old leader $old steps down and follows $new after SIGCONT");
$L = leader();

# --- (c) leadership transfer under load ---
my ($target) = grep { $_ ne $L } @members;
$n{$L}->safe_psql('postgres', "SELECT phantom.leader_transfer('$target')");
is(role($target), 'leader', "(c) leader_transfer($target) under load: $target leads");
$L = $target;
goes_on('(c) after the transfer', $L);

# --- (d) removing the leader ---
my ($rc, $out, $err) = $n{$L}->psql('postgres', "SELECT phantom.node_remove('$L')");
like($err, qr/the leader cannot remove itself.*HINT:.*leader_transfer/s,
	'(d) node_remove of the leader on itself: refused, the hint says transfer first');
my $removed = $L;
my ($heir) = grep { $_ ne $removed } @members;
$n{$removed}->safe_psql('postgres', "SELECT phantom.leader_transfer('$heir')");
$n{$heir}->safe_psql('postgres', "SELECT phantom.node_remove('$removed')");
@members = grep { $_ ne $removed } @members;
write_conns();
$L = $heir;
ok( defined poll(10, sub {
		!grep { q1($n{$_}, "SELECT count(*) FILTER (WHERE name = '$removed') || '/' || count(*) FILTER (WHERE role = 'voter') FROM phantom.nodes") ne '0/4' } @members;
	}),
	"(d) $removed removed: four voters on every remaining node");
goes_on('(d) after the removal', $L);
$n{$removed}->stop('fast');

# --- (e) a sixth node joins under load ---
$n{f6} = raft_node('f6', 'faults-secret');
my $ci = $n{f6}->connstr('postgres') =~ s/'/''/gr;
$L = leader();
$n{$L}->safe_psql('postgres', "SELECT phantom.node_add('f6', '$ci', '$raft_addr{f6}')");
push @members, 'f6';
write_conns();
is(q1($n{$L}, q{SELECT role FROM phantom.nodes WHERE name = 'f6'}), 'voter', '(e) f6 added under load, a voter');
goes_on('(e) after the node_add');

# --- (f) kill -9 of the leader under load, restarted: it rejoins ---
$L = leader();
kill9_server($n{$L});
$t0 = time();
my $after;
ok(defined poll(15, sub { $after = leader(); defined $after && $after ne $L }),
	"(f) kill -9 of $L: another leader");
diag(sprintf('(f) kill -9 of the leader -> new leader %s after %.2f s', $after // '?', time() - $t0));
ok(defined poll(20, sub { $n{$L}->start(fail_ok => 1) }), "(f) $L restarted");
goes_on("(f) after kill -9 of $L");

# --- the end: stop the workload, compare every member ---
open($fh, '>', $stop) or die;
close $fh;
$bank->finish;

my $content = q{
SELECT md5(string_agg(x, '/')) FROM (
  SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM acc t) AS x
  UNION ALL SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM transfers t)
  UNION ALL SELECT (SELECT md5(string_agg(index || ':' || term, ',' ORDER BY index)) FROM phantom.applied)
) s};
my $state = q{SELECT commit_index || ' ' || applied_index FROM phantom.raft_status()};
my $last;
ok( defined poll(45, sub {
		my @h = map { q1($n{$_}, $content, 10) . ' ' . q1($n{$_}, $state, 5) } @members;
		$last = join("\n", map { "$members[$_]: $h[$_]" } 0 .. $#members);
		return !grep { $_ ne $h[0] } @h;
	}),
	'every member has the same content hash, commit and applied index')
  or diag($last);

open($fh, '<', $ack) or die;
my @acked = map { (split ' ')[0] } <$fh>;
close $fh;
ok(@acked > 50, scalar(@acked) . ' transfers acknowledged');
for my $name (@members)
{
	is(q1($n{$name}, 'SELECT sum(bal) FROM acc'), $total, "$name: sum of balances unchanged");
	my %have = map { $_ => 1 } split /\n/, q1($n{$name}, 'SELECT id FROM transfers');
	my @lost = grep { !$have{$_} } @acked;
	is(scalar(@lost), 0, "$name: every acknowledged transfer is there")
	  or diag("lost: @lost[0 .. ($#lost < 9 ? $#lost : 9)]");
}
for my $name (sort keys %n)
{
	my $log = slurp_file($n{$name}->logfile);
	unlike($log, qr/is missing on this node|PANIC|server process .* was terminated by signal/,
		"$name: no divergence warning, no crash");
}
diag(sprintf('038 took %.0f s', time() - $started));

$n{$_}->stop('immediate') for @members;
done_testing();
