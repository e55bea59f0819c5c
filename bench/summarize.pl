#!/usr/bin/perl
#
# bench/summarize.pl: turns the raw measurements of bench/run.sh into the
# side-by-side table (stdout), a CSV and a JSON file.
#
#   perl bench/summarize.pl --raw raw.tsv [--meta meta.txt] [--am-a heap]
#        [--am-b phantom] [--csv out.csv] [--json out.json]
#
# raw.tsv lines: workload, metric, unit, side (A|B), rep, value (tab
# separated).  unit "__failed__" marks a failed step (value = error),
# "__note__" a remark.  One output row per (workload, metric), in the order
# they first appear: median and min-max of each side, ratio B/A of the
# medians.  A failed step is a row whose side cell reads "failed: <error>"
# ("ok" for the side where it did not fail).  No thresholds: a benchmark
# reports, it does not judge.
#
use strict;
use warnings;
use Getopt::Long;
use JSON::PP;

my ($raw, $meta, $csv, $json) = ('', '', '', '');
my ($am_a, $am_b) = ('heap', 'phantom');
GetOptions('raw=s' => \$raw, 'meta=s' => \$meta, 'csv=s' => \$csv, 'json=s' => \$json,
           'am-a=s' => \$am_a, 'am-b=s' => \$am_b) or die "usage: see header\n";
die "summarize.pl: --raw is required\n" unless $raw;

# @order: row keys in display order.  A row first seen on one side only
# (e.g. a phantom-only metric, or a step that failed on one side) goes
# right after the row that side's same run emitted just before it.
my (@order, %rows, @notes, %seen_note, %last);
open(my $in, '<:encoding(UTF-8)', $raw) or die "summarize.pl: $raw: $!\n";
while (my $line = <$in>) {
    chomp $line;
    next if $line eq '';
    my ($w, $metric, $unit, $side, $rep, $value) = split /\t/, $line, 6;
    next unless defined $value;
    if ($unit eq '__note__') {
        my $k = "$w $side $value";
        push @notes, { workload => $w, side => $side, rep => $rep, note => $value }
            unless $seen_note{$k}++;
        next;
    }
    my $key = "$w\t$metric";
    my $run = "$w\t$side\t$rep";
    unless ($rows{$key}) {
        my $after = $last{$run};
        my ($pos) = defined $after ? grep { $order[$_] eq $after } 0 .. $#order : ();
        if (defined $pos) {
            splice @order, $pos + 1, 0, $key;
        } else {
            push @order, $key;
        }
        $rows{$key} = { workload => $w, metric => $metric,
                        unit => ($unit eq '__failed__' ? '' : $unit),
                        failrow => ($unit eq '__failed__' ? 1 : 0),
                        A => [], B => [], fail_A => [], fail_B => [] };
    }
    $last{$run} = $key;
    my $r = $rows{$key};
    if ($unit eq '__failed__') {
        $r->{failrow} = 1;
        push @{ $r->{"fail_$side"} }, $value;
    } elsif ($value =~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/i) {
        push @{ $r->{$side} }, $value + 0;
    }
}
close $in;

# A failed step's row goes just before the first row of its own metrics
# ("<step label>: ..."), when there is one.
my @failrows = map { "$_" } grep { $rows{$_}{failrow} } @order;
for my $key (@failrows) {
    my ($w, $label) = split /\t/, $key, 2;
    my @rest = grep { $_ ne $key } @order;
    my ($pos) = grep {
        my ($w2, $m2) = split /\t/, $rest[$_], 2;
        $w2 eq $w && index($m2, "$label:") == 0
    } 0 .. $#rest;
    next unless defined $pos;
    splice @rest, $pos, 0, $key;
    @order = @rest;
}

# Runs per side and workload (to say "failed in k of n runs").
my %runs;
open($in, '<', $raw) or die;
while (<$in>) {
    my ($w, undef, undef, $side, $rep) = split /\t/;
    $runs{"$w\t$side"}{$rep} = 1 if defined $rep && $rep > 0;
}
close $in;

sub median {
    my @v = sort { $a <=> $b } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub fmt {
    my $x = shift;
    return '-' unless defined $x;
    my $a = abs $x;
    return sprintf('%d', $x) if $x == int($x) && $a < 1e15;
    return sprintf('%.0f', $x) if $a >= 1000;
    return sprintf('%.1f', $x) if $a >= 100;
    return sprintf('%.2f', $x) if $a >= 1;
    return '0' if $a == 0;
    return sprintf('%.3f', $x) if $a >= 0.01;
    return sprintf('%.2g', $x);
}

my (@table, @records);
for my $key (@order) {
    my $r = $rows{$key};
    my %side;
    for my $s ('A', 'B') {
        my @v = @{ $r->{$s} };
        my @f = @{ $r->{"fail_$s"} };
        my $n = scalar keys %{ $runs{"$r->{workload}\t$s"} || {} };
        my %d = (values => \@v, n => scalar @v, failed => \@f);
        if (@v) {
            my @sv = sort { $a <=> $b } @v;
            @d{qw(median min max)} = (median(@v), $sv[0], $sv[-1]);
        }
        if (@f) {
            my $nf = scalar @f;
            $d{cell} = "failed: $f[0]" . ($n > 1 ? " ($nf of $n runs)" : '');
        } elsif ($r->{failrow}) {
            $d{cell} = 'ok';
        } else {
            $d{cell} = fmt($d{median});
        }
        $d{range} = @v > 1 ? fmt($d{min}) . "\x{2013}" . fmt($d{max}) : '';
        $side{$s} = \%d;
    }
    my $ratio;
    if (defined $side{A}{median} && defined $side{B}{median} && $side{A}{median} != 0) {
        $ratio = $side{B}{median} / $side{A}{median};
    }
    push @table, [ $r->{workload}, $r->{metric}, $r->{unit},
                   $side{A}{cell}, $side{A}{range}, $side{B}{cell}, $side{B}{range},
                   defined $ratio ? sprintf('%.2f', $ratio) : '' ];
    push @records, { workload => $r->{workload}, metric => $r->{metric}, unit => $r->{unit},
                     a => $side{A}, b => $side{B}, ratio_b_a => $ratio };
}

# ----------------------------------------------------------------- table
binmode STDOUT, ':encoding(UTF-8)';
my $la = $am_a eq $am_b ? "$am_a (A)" : $am_a;
my $lb = $am_a eq $am_b ? "$am_b (B)" : $am_b;
my @head = ('workload', 'metric', 'unit', "$la median", 'min' . "\x{2013}" . 'max',
            "$lb median", 'min' . "\x{2013}" . 'max', "$lb/$la");
my $maxcell = 70;
my @w = map { length } @head;
for my $row (@table) {
    for my $i (0 .. $#$row) {
        $row->[$i] = substr($row->[$i], 0, $maxcell - 3) . '...' if length $row->[$i] > $maxcell;
        $w[$i] = length $row->[$i] if length $row->[$i] > $w[$i];
    }
}
my $line = sub {
    my @c = @_;
    my @out;
    for my $i (0 .. $#c) {
        # text columns left-aligned, numbers right-aligned
        push @out, ($i <= 2 ? sprintf("%-*s", $w[$i], $c[$i]) : sprintf("%*s", $w[$i], $c[$i]));
    }
    my $s = join('  ', @out);
    $s =~ s/\s+$//;
    return "$s\n";
};
print "\n";
print $line->(@head);
print $line->(map { '-' x $_ } @w);
my $prev = '';
for my $row (@table) {
    print "\n" if $prev ne '' && $row->[0] ne $prev;
    print $line->(@$row);
    $prev = $row->[0];
}
print "\n";
print "B/A = ratio of the medians ($lb / $la); min\x{2013}max over the repetitions.\n";
if (@notes) {
    print "notes:\n";
    for my $n (@notes) {
        my $am = $n->{side} eq 'A' ? $am_a : $am_b;
        print "  $n->{workload} $am: $n->{note}\n";
    }
}

# ------------------------------------------------------------------- CSV
if ($csv) {
    open(my $out, '>:encoding(UTF-8)', $csv) or die "summarize.pl: $csv: $!\n";
    my $q = sub {
        my $v = shift;
        $v = '' unless defined $v;
        return $v =~ /[",\n]/ ? '"' . ($v =~ s/"/""/gr) . '"' : $v;
    };
    print $out join(',', qw(workload metric unit a_am a_median a_min a_max a_n a_values a_failed
                            b_am b_median b_min b_max b_n b_values b_failed ratio_b_a)), "\n";
    for my $r (@records) {
        my @c = ($r->{workload}, $r->{metric}, $r->{unit});
        for my $s (['a', $am_a], ['b', $am_b]) {
            my $d = $r->{ $s->[0] };
            push @c, $s->[1], $d->{median}, $d->{min}, $d->{max}, $d->{n},
                join(' ', @{ $d->{values} }), join(' | ', @{ $d->{failed} });
        }
        push @c, defined $r->{ratio_b_a} ? sprintf('%.4f', $r->{ratio_b_a}) : '';
        print $out join(',', map { $q->($_) } @c), "\n";
    }
    close $out;
}

# ------------------------------------------------------------------ JSON
if ($json) {
    my $meta_text = '';
    if ($meta && open(my $m, '<', $meta)) {
        local $/;
        $meta_text = <$m>;
        close $m;
    }
    for my $r (@records) {
        for my $s ('a', 'b') {
            delete $r->{$s}{cell};
            delete $r->{$s}{range};
        }
    }
    my $doc = { side_a => $am_a, side_b => $am_b, meta => $meta_text,
                rows => \@records, notes => \@notes };
    open(my $out, '>', $json) or die "summarize.pl: $json: $!\n";
    print $out JSON::PP->new->canonical->pretty->encode($doc);
    close $out;
}
