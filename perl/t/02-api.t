#!/usr/bin/perl
# The Perl API as a user sees it, read back from the filesystem backend's JSONL files, and
# its failure paths: every one a Wafermon::Error naming what is wrong, never a crash.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Scalar::Util qw(blessed);
use Test::More;
use Wafermon;
use WafermonTest qw(config_in read_events temp_dir);

sub client_in {
    my ($dir, $extra) = @_;
    return Wafermon->new(config => config_in("$dir", $extra));
}

# The Wafermon::Error $code throws (undef and a failed test if it throws nothing else).
sub error_of (&) {
    my ($code) = @_;
    return eval { $code->(); 1 } ? undef : $@;
}

sub is_error {
    my ($error, $kind, $pattern, $label) = @_;
    my $ok = blessed $error && $error->isa('Wafermon::Error') && $error->kind eq $kind
        && "$error" =~ $pattern;
    ok($ok, $label) or diag(defined $error ? "got: $error" : 'no error');
}

sub by_kind {
    my ($events, $kind) = @_;
    return [ grep { $_->{kind} eq $kind } @$events ];
}

subtest 'a lot with a wafer subjob, as the issue writes it' => sub {
    my $dir = temp_dir();
    my $wm = client_in($dir);
    my $lot = $wm->job('lot-dispatch', kind => 'lot', key => 'LOT-1',
        attrs => { recipe => 'R7', slots => 25, ok => !!1, thickness => 101.5 });
    $lot->progress(30, 'coat');
    $lot->metric(thickness_nm => 101.2);
    $lot->log(info => 'coated');
    my $wafer = $lot->subjob('wafer', kind => 'wafer', key => 'W01');
    $wafer->finish;
    $lot->finish;
    ok($wm->flush(timeout => 10), 'flush delivers');
    $wm->close;
    my $events = read_events("$dir/data");
    is_deeply([ map { $_->{kind} } @$events ],
        [qw(started progress metric log started finished finished)], 'the events in order');
    my $started = $events->[0];
    is_deeply($started->{entity}, { kind => 'lot', id => $lot->id, key => 'LOT-1', name => 'lot-dispatch' },
        'the lot entity');
    is_deeply($started->{attrs}, { recipe => 'R7', slots => 25, ok => JSON::PP::true, thickness => 101.5 },
        'attributes keep their Perl types');
    is($events->[1]{progress}, 30, 'progress');
    is($events->[1]{message}, 'coat', 'progress message');
    is($events->[2]{metrics}{thickness_nm}, 101.2, 'metric');
    is_deeply([ @{ $events->[3] }{qw(level message)} ], [ 'info', 'coated' ], 'log level and message');
    is($events->[4]{entity}{parent}, $lot->id, 'the wafer points at its lot');
    is($events->[4]{entity}{kind}, 'wafer', 'with the kind given');
    ok(defined $events->[6]{metrics}{duration_s}, 'the ending carries resource metrics');
};

subtest 'run_job finishes, fails and rethrows, and nests' => sub {
    my $dir = temp_dir();
    my $wm = client_in($dir);
    is(Wafermon->current_job, undef, 'no current job outside a block');
    my ($outer_id, $inner_parent);
    my @list = $wm->run_job('lot', key => 'LOT-2', sub {
        my ($job) = @_;
        $outer_id = $job->id;
        is(Wafermon->current_job, $job, 'current_job is the block\'s job');
        $wm->run_job('inner', sub { $inner_parent = Wafermon->current_job });
        return (1, 2, 3);
    });
    is_deeply(\@list, [ 1, 2, 3 ], 'run_job returns what the block returns');
    is(Wafermon->current_job, undef, 'no current job after the block');

    my $error = error_of { $wm->run_job('etch', sub { die "chamber fault\n" }) };
    is($error, "chamber fault\n", 'the error is rethrown as it was');
    my $object = error_of { $wm->run_job('etch2', sub { die { code => 7 } }) };
    is_deeply($object, { code => 7 }, 'an exception object is rethrown as the same object');
    $wm->run_job('self-ended', sub { $_[0]->cancel('operator abort') });
    $wm->close;

    my $events = read_events("$dir/data");
    my %by_name;
    push @{ $by_name{ $_->{entity}{name} } }, $_ for @$events;
    is_deeply([ map { $_->{kind} } @{ $by_name{lot} } ], [qw(started finished)], 'the block\'s job finished');
    my ($inner) = @{ $by_name{inner} };
    is($inner->{entity}{parent}, $outer_id, 'a run_job inside a run_job is its subjob');
    is($inner->{entity}{kind}, 'subjob', 'of kind subjob');
    is($by_name{etch}[-1]{kind}, 'failed', 'a dying block fails its job');
    is($by_name{etch}[-1]{message}, 'chamber fault', 'with the error as the message');
    is_deeply([ map { $_->{kind} } @{ $by_name{'self-ended'} } ], [qw(started canceled)],
        'a block that ended its job is not ended twice');
};

subtest 'a job dropped without an ending' => sub {
    my $dir = temp_dir();
    my $wm = client_in($dir);
    { my $job = $wm->job('dropped') }
    eval { my $job = $wm->job('unwound'); die "pump tripped\n" };
    $wm->close;
    my $events = read_events("$dir/data");
    my %last;
    $last{ $_->{entity}{name} } = $_ for @$events;
    is($last{dropped}{kind}, 'canceled', 'out of scope: canceled');
    is($last{dropped}{message}, 'dropped without finish', 'saying so');
    is($last{unwound}{kind}, 'failed', 'while an exception unwinds: failed');
    is($last{unwound}{message}, 'pump tripped', 'with the exception');
};

subtest 'failure paths name what is wrong' => sub {
    my $dir = temp_dir();
    my $bad = error_of { Wafermon->new(config => { batch => { max_events => 'many' } }) };
    is_error($bad, 'invalid_config', qr/at batch\.max_events: /, 'a bad config value');
    is($bad && $bad->path, 'batch.max_events', 'its path');
    like("$bad", qr/ at \Q$0\E line \d+\.\n\z/, 'thrown from the caller\'s line');
    is_error(error_of { Wafermon->new(config => { modes => 'direct' }) }, 'invalid_config', qr/modes/,
        'an unknown key');
    is_error(error_of { Wafermon->new(config => "$dir/missing.json") }, 'invalid_config', qr/missing\.json/,
        'a config file that is not there');
    is_error(error_of { Wafermon->new(config => [1]) }, 'invalid_argument', qr/hash reference or a file path/,
        'a config that is neither');
    is_error(error_of { Wafermon->new(confg => {}) }, 'invalid_argument', qr/does not take confg/,
        'a misspelled option');

    my $wm = client_in($dir);
    my $job = $wm->job('etch');
    is_error(error_of { $job->progress(120) }, 'invalid_event', qr/at progress: /, 'progress over 100');
    is_error(error_of { $job->log(loud => 'x') }, 'invalid_event', qr/level/, 'an unknown log level');
    is_error(error_of { $job->metric('x') }, 'invalid_argument', qr/name => value/, 'a metric without a value');
    is_error(error_of { $job->metric(x => 'many') }, 'invalid_argument', qr/metric value is not a number/,
        'a metric that is not a number');
    is_error(error_of { $wm->job('x', attrs => { deep => [1] }) }, 'invalid_argument', qr/reference/,
        'an attribute that is a reference');
    is_error(error_of { $wm->job('x', colour => 'red') }, 'invalid_argument', qr/does not take colour/,
        'an unknown job option');

    # undef, non-UTF-8 and NUL arguments
    is_error(error_of { $wm->job(undef) }, 'invalid_argument', qr/name is undef/, 'an undef name');
    is_error(error_of { $job->log(info => undef) }, 'invalid_argument', qr/message is undef/, 'an undef message');
    is_error(error_of { $job->metric(undef, 1) }, 'invalid_argument', qr/metric name is undef/, 'an undef metric name');
    is_error(error_of { $job->progress(undef) }, 'invalid_argument', qr/percent is undef/, 'an undef percent');
    is_error(error_of { $job->log(info => "bad \xff\xfe bytes") }, 'invalid_argument', qr/UTF-8/,
        'a byte string that is not UTF-8');
    is_error(error_of { $job->log(info => "cut\0here") }, 'invalid_argument', qr/NUL/, 'a NUL inside a string');
    is_error(error_of { Wafermon::Job::finish(bless {}, 'Wafermon::Job') }, 'invalid_argument',
        qr/not a Wafermon::Job/, 'a job object that holds no handle');
    is_error(error_of { Wafermon::Job::finish($wm) }, 'invalid_argument', qr/not a Wafermon::Job/,
        'a client where a job is needed');
    ok(eval { $job->log(info => "caf\x{e9} \x{2014} \x{1F600}"); 1 }, 'character strings go as UTF-8')
        or diag("$@");
    ok(eval { $job->log(info => "caf\xc3\xa9"); 1 }, 'byte strings that are UTF-8 go as they are') or diag("$@");

    # use after finish
    $job->finish;
    is_error(error_of { $job->metric(x => 1) }, 'closed', qr/already finished/, 'a metric after finish');
    is_error(error_of { $job->finish }, 'closed', qr/already finished/, 'a second finish');
    is_error(error_of { $job->subjob('late') }, 'closed', qr/finished|ended/, 'a subjob of a finished job');

    # a closed client
    ok($wm->close(timeout => 10), 'close');
    ok(eval { $wm->close; 1 }, 'close again is harmless');
    is_error(error_of { $wm->job('late') }, 'closed', qr/closed/, 'a job on a closed client');
    is_error(error_of { $wm->flush }, 'closed', qr/closed/, 'flush on a closed client');
    is_error(error_of { $wm->emit({ kind => 'heartbeat', entity => { kind => 'tool', id => 'T' } }) },
        'closed', qr/closed/, 'emit on a closed client');
    is(ref $wm->stats, 'HASH', 'stats still answer');
    is_error(error_of { $wm->flush(timeout => -1) }, 'invalid_argument', qr/timeout/, 'a negative timeout');

    my $events = read_events("$dir/data");
    my @logs = map { $_->{message} } @{ by_kind($events, 'log') };
    is_deeply(\@logs, [ "caf\x{e9} \x{2014} \x{1F600}", "caf\x{e9}" ], 'the refused calls wrote nothing');
};

subtest 'the process-wide client' => sub {
    my $dir = temp_dir();
    my $wm = Wafermon->init(config => config_in("$dir"));
    is(Wafermon->client, $wm, 'client is what init made');
    is_error(error_of { Wafermon->init(config => config_in("$dir")) }, 'invalid_argument', qr/already/,
        'init twice');
    Wafermon->client->run_job('global', sub { 1 });
    Wafermon->client->close;
    is(scalar @{ read_events("$dir/data") }, 2, 'it reports');
};

is(Wafermon->library_version, '0.1.0', 'the library version');

subtest 'the app name defaults to the script' => sub {
    my $dir = temp_dir();
    my $config = config_in("$dir");
    delete $config->{app}{name};
    my $wm = Wafermon->new(config => $config);
    $wm->run_job('x', sub { 1 });
    $wm->close;
    is(read_events("$dir/data")->[0]{app}{name}, '02-api', 'the script name without .t');
};

done_testing;
