#!/usr/bin/perl
# examples/perl/lot_inspection.pl runs as a user would run it (forked wafer workers through
# Parallel::ForkManager, Log::Any lines) and writes what it promises: one lot, 25 wafer
# subjobs each once, the failed wafer failed, the lot finished.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use WafermonTest qw(read_events temp_dir with_deadline);

my $example = $ENV{WAFERMON_EXAMPLES_DIR}
    ? "$ENV{WAFERMON_EXAMPLES_DIR}/lot_inspection.pl"
    : File::Spec->catfile($FindBin::Bin, qw(.. .. examples perl lot_inspection.pl));
plan skip_all => 'no examples/perl here (a dist tarball)' unless -e $example;
plan skip_all => 'Parallel::ForkManager is not installed' unless eval { require Parallel::ForkManager; 1 };

my @inc = map { '-I' . File::Spec->rel2abs($_) } grep { !ref } @INC;
my $dir = temp_dir();
my $status = with_deadline(120, 'the example runs', sub {
    system("cd $dir && $^X @inc $example LOT-T 25 >$dir/stdout 2>$dir/stderr") >> 8;
});
is($status, 0, 'the example exits 0');

my $events = read_events("$dir/wafermon-data");
my ($lot) = grep { $_->{entity}{kind} eq 'lot' && $_->{kind} eq 'started' } @$events;
ok($lot, 'the lot started');
my %wafer_end = map { ($_->{entity}{key} => $_) }
    grep { $_->{entity}{kind} eq 'wafer' && $_->{kind} =~ /\A(?:finished|failed)\z/ } @$events;
is(scalar keys %wafer_end, 25, 'every wafer ended');
is(scalar(grep { $_->{entity}{kind} eq 'wafer' && $_->{kind} eq 'started' } @$events), 25, 'each started once');
is($wafer_end{'LOT-T-W13'}{kind}, 'failed', 'the wafer at slot 13 failed');
is($wafer_end{'LOT-T-W13'}{message}, 'chuck vacuum lost at slot 13', 'with its error');
is(scalar(grep { $_->{kind} eq 'finished' } values %wafer_end), 24, 'the others finished');
is(scalar(grep { $_->{entity}{parent} ne $lot->{entity}{id} } values %wafer_end), 0, 'all under the lot');
my @logs = grep { $_->{kind} eq 'log' && $_->{entity}{kind} eq 'wafer' } @$events;
is(scalar @logs, 24, 'a Log::Any line per inspected wafer, on its wafer');
my ($end) = grep { $_->{entity}{kind} eq 'lot' && $_->{kind} eq 'finished' } @$events;
ok($end, 'the lot finished');
is($events->[0]{app}{name}, 'lot_inspection', 'the app is named after the script');

done_testing;
