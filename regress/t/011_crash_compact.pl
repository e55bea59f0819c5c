#
# 011_crash_compact.pl: 010_crash.pl with phantom.compact() running during
# the workload (VACUUM FREEZE + compact in a loop), so kill -9 hits
# compactions in flight: no acknowledged change lost, indexes consistent.
#
use strict;
use warnings;
use FindBin;
BEGIN { $ENV{PHANTOM_CRASH_COMPACT} = 1; }
# loaded here so that their INIT blocks run
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

do "$FindBin::RealBin/010_crash.pl" or die($@ || $!);
