#
# PhantomTest.pm: helpers shared by phantom's TAP tests (regress/t/*.pl).
#
#   use FindBin; use lib $FindBin::RealBin, "$FindBin::RealBin/..";
#   use PhantomTest;
#   my $node = phantom_node('primary', allows_streaming => 1);
#
# phantom_node returns an initialised (not started) PostgreSQL::Test::Cluster
# with phantom preloaded and default_table_access_method set to the AM under
# test, so the tests create their tables without USING.  The AM is phantom,
# or $ENV{PHANTOM_TEST_AM} (PHANTOM_TEST_AM=heap runs a test against heap to
# check the test itself).  Call create_phantom($node) once it runs.
#
package PhantomTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Exporter 'import';

our @EXPORT = qw(test_am phantom_node create_phantom query_rows
  deadline_passed kill9_server start_writers stop_writers kill_writers check_writers
  compact_sql compare_nodes);

# test_am returns the access method the tests create their tables with.
sub test_am
{
	return $ENV{PHANTOM_TEST_AM} // 'phantom';
}

# phantom_node(name, %init_opts) initialises a node with phantom preloaded;
# extra postgresql.conf text goes in $init_opts{conf}.
sub phantom_node
{
	my ($name, %opts) = @_;
	my $conf = delete $opts{conf} // '';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%opts);
	my $am = test_am();
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'phantom'
default_table_access_method = '$am'
max_prepared_transactions = 10
log_min_messages = warning
log_line_prefix = '%m [%p] %a '
$conf
});
	return $node;
}

# create_phantom(node, db) creates the extension (needed for the AM) in db.
sub create_phantom
{
	my ($node, $db) = @_;
	$db //= 'postgres';
	$node->safe_psql($db, 'CREATE EXTENSION IF NOT EXISTS phantom');
	return;
}

# query_rows(node, db, sql) runs sql and returns its output (rows separated
# by newlines), dying on error.
sub query_rows
{
	my ($node, $db, $sql) = @_;
	return $node->safe_psql($db, $sql);
}

# deadline_passed(start, seconds) tells whether a time budget is spent.
sub deadline_passed
{
	my ($start, $seconds) = @_;
	return time() - $start >= $seconds;
}

# kill9_server(node) sends SIGKILL to the postmaster and all of its
# children at once (a "kill -9 of the whole server"), waits until they are
# gone and leaves the node ready for start().
sub kill9_server
{
	my ($node) = @_;
	my $pm = $node->{_pid};
	die "node is not running" unless defined $pm;
	my @children = split /\s+/, `ps -o pid= --ppid $pm`;
	@children = grep { /^\d+$/ } @children;
	kill 'KILL', $pm, @children;
	for my $pid ($pm, @children)
	{
		for (1 .. 300)
		{
			last unless kill 0, $pid;
			select(undef, undef, undef, 0.05);
		}
	}
	$node->{_pid} = undef;
	note "killed postmaster $pm and " . scalar(@children) . " children with SIGKILL";
	return;
}

# compact_sql(table) is SQL that settles the rows of table and moves its
# pages into cold runs; on a build without compaction (feature not
# supported) or on a heap table (PHANTOM_TEST_AM=heap) it does nothing.
sub compact_sql
{
	my ($table) = @_;
	return qq{VACUUM (FREEZE) $table;
DO \$\$ BEGIN PERFORM phantom.compact('$table'::regclass);
EXCEPTION WHEN feature_not_supported OR wrong_object_type THEN NULL; END \$\$;
};
}

# start_writers(node, table, base, nsessions, maint_sql) starts nsessions
# psql sessions that insert, update and delete rows of table (columns id
# int primary key, v int, pad text) with ids base + s*10^6 + i, printing
# every acknowledged change, plus one session repeating maint_sql (VACUUM,
# CHECKPOINT, compaction...).  Returns a handle for stop/check_writers.
sub start_writers
{
	my ($node, $table, $base, $nsessions, $maint_sql) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my @runs;
	for my $s (0 .. $nsessions - 1)
	{
		my $file = "$dir/w$s.sql";
		# every statement with RETURNING prints exactly one line when it
		# commits; @tags lists those lines in order, so the first tag not
		# printed is the statement that was in flight at the crash
		my @tags;
		open my $fh, '>', $file or die $!;
		print $fh "\\set ON_ERROR_STOP 1\n";
		for my $i (1 .. 20000)
		{
			my $id = $base + $s * 1000000 + $i;
			my $pad = 'x' x ($i % 300);
			print $fh "INSERT INTO $table VALUES ($id, 0, '$pad') RETURNING 'I', id;\n";
			push @tags, "I|$id";
			if ($i > 1)
			{
				printf $fh "UPDATE $table SET v = %d WHERE id = %d RETURNING 'U', id, v;\n", $i, $id - 1;
				push @tags, sprintf("U|%d|%d", $id - 1, $i);
			}
			if ($i > 3 && $i % 5 == 0)
			{
				printf $fh "DELETE FROM $table WHERE id = %d RETURNING 'D', id;\n", $id - 3;
				push @tags, sprintf("D|%d", $id - 3);
			}
			print $fh "BEGIN; UPDATE $table SET v = -1 WHERE id = $id; ROLLBACK;\n"
			  if $i % 7 == 0;
		}
		close $fh;
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start(
			[ 'psql', '-X', '-qAt', '-F', '|', '-d', $node->connstr('postgres'), '-f', $file ],
			'>', "$dir/w$s.out", '2>', "$dir/w$s.err");
		push @runs, { h => $h, out => "$dir/w$s.out", err => "$dir/w$s.err", tags => \@tags };
	}
	my $mfile = "$dir/maint.sql";
	open my $mh, '>', $mfile or die $!;
	print $mh "$maint_sql\nSELECT pg_sleep(0.2);\n" for 1 .. 2000;
	close $mh;
	my $mh_run = IPC::Run::start(
		[ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-f', $mfile ],
		'>', "$dir/maint.out", '2>', "$dir/maint.err");
	return { runs => \@runs, maint => $mh_run, maint_err => "$dir/maint.err" };
}

# stop_writers(handle) waits for the psql sessions to end (the server is
# gone) and returns the maintenance session's unexpected errors.
sub stop_writers
{
	my ($w) = @_;
	for my $r (@{ $w->{runs} }, { h => $w->{maint} })
	{
		eval { $r->{h}->finish; };
		eval { $r->{h}->kill_kill; };
	}
	my $err = PostgreSQL::Test::Utils::slurp_file($w->{maint_err});
	my @bad = grep { /ERROR|PANIC|FATAL/ && !/terminat|connection|server closed|shutdown|recovery mode/ }
	  split /\n/, $err;
	return @bad;
}

# kill_writers(handle) ends the writer and maintenance psql sessions while
# the server keeps running.
sub kill_writers
{
	my ($w) = @_;
	for my $h ((map { $_->{h} } @{ $w->{runs} }), $w->{maint})
	{
		eval { $h->kill_kill; };
	}
	return;
}

# check_writers(node, table, handle) checks every acknowledged change of
# the writers against the table after a restart: acknowledged inserts are
# present (unless deleted), acknowledged updates have their value,
# acknowledged deletes are gone.  Returns the number of problems (each
# reported with diag) and the number of acknowledged changes.
sub check_writers
{
	my ($node, $table, $w) = @_;
	my (%ins, %upd, %del, %maybe_del);
	my $problems = 0;
	for my $r (@{ $w->{runs} })
	{
		my @lines = split /\n/, PostgreSQL::Test::Utils::slurp_file($r->{out});
		for my $n (0 .. $#lines)
		{
			my $line = $lines[$n];
			if ($line ne $r->{tags}[$n])
			{
				diag "writer output '$line' where '$r->{tags}[$n]' was expected";
				$problems++;
			}
			my @f = split /\|/, $line;
			if ($f[0] eq 'I') { $ins{ $f[1] } = 1; }
			elsif ($f[0] eq 'U') { $upd{ $f[1] } = $f[2]; }
			elsif ($f[0] eq 'D') { $del{ $f[1] } = 1; }
		}
		# the statement in flight at the crash may or may not have committed
		my $inflight = $r->{tags}[ scalar(@lines) ] // '';
		$maybe_del{$1} = 1 if $inflight =~ /^D\|(\d+)/;
	}
	my %have;
	for my $line (split /\n/,
		$node->safe_psql('postgres', "SELECT id, v FROM $table"))
	{
		my ($id, $v) = split /\|/, $line;
		$have{$id} = $v;
	}
	for my $id (keys %ins)
	{
		next if $del{$id} || $maybe_del{$id};
		next if exists $have{$id};
		diag "acknowledged insert of id $id is missing";
		$problems++;
	}
	for my $id (keys %upd)
	{
		next if $del{$id} || $maybe_del{$id};
		next if defined $have{$id} && $have{$id} == $upd{$id};
		diag "acknowledged update of id $id to v=$upd{$id} is lost (have "
		  . ($have{$id} // 'no row') . ")";
		$problems++;
	}
	for my $id (keys %del)
	{
		next unless exists $have{$id};
		diag "acknowledged delete of id $id is undone";
		$problems++;
	}
	for my $id (keys %have)
	{
		next unless $have{$id} == -1;
		diag "rolled back update of id $id is visible";
		$problems++;
	}
	return ($problems, scalar(keys %ins) + scalar(keys %upd) + scalar(keys %del));
}

# compare_nodes(node1, node2, db, queries...) runs each query on both nodes
# and checks the results are equal.
sub compare_nodes
{
	my ($n1, $n2, $db, @queries) = @_;
	for my $q (@queries)
	{
		my $r1 = $n1->safe_psql($db, $q);
		my $r2 = $n2->safe_psql($db, $q);
		is($r2, $r1, $n2->name . ' = ' . $n1->name . ": $q");
	}
	return;
}

1;
