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
use Exporter 'import';

our @EXPORT = qw(test_am phantom_node create_phantom wait_for_catchup_all
  query_rows deadline_passed);

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

1;
