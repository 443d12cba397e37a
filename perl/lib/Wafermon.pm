package Wafermon;

use strict;
use warnings;

our $VERSION = '0.1.0';

use Carp ();
use File::Basename ();
use JSON::PP ();
use Wafermon::Error;
use Wafermon::Job;

require XSLoader;
XSLoader::load('Wafermon', $VERSION);

# How long the exit hook waits for delivery of what a client still holds.
our $EXIT_TIMEOUT = 5;

my $JSON = JSON::PP->new->utf8->canonical;
my $GLOBAL;
our @CURRENT;    # the jobs run_job blocks have open, innermost last (per thread)

sub new {
    my ($class, %args) = @_;
    my ($source, $what) = _config_source(\%args);
    my $exit_timeout = delete $args{exit_timeout} // $EXIT_TIMEOUT;
    _unknown('new', \%args);
    return $class->_client_new($source, $what, _program_name(), _ms($exit_timeout, 'exit_timeout'));
}

sub check_config {
    my ($class, %args) = @_;
    my ($source, $what) = _config_source(\%args);
    _unknown('check_config', \%args);
    $class->_config_check($source, $what);
    return 1;
}

sub _config_source {
    my ($args) = @_;
    my $config = delete $args->{config};
    my $config_json = delete $args->{config_json};
    return defined $config_json ? ('json', $config_json)
        : !defined $config      ? ('env', undef)
        : ref $config eq 'HASH' ? ('json', $JSON->encode($config))
        : !ref $config          ? ('file', $config)
        : Wafermon::Error->throw(kind => 'invalid_argument', path => 'config',
            message => 'invalid argument: config must be a hash reference or a file path');
}

sub init {
    my ($class, %args) = @_;
    Wafermon::Error->throw(kind => 'invalid_argument', message => 'Wafermon->init was already called')
        if $GLOBAL;
    return $GLOBAL = $class->new(%args);
}

sub client {
    my ($class) = @_;
    return $GLOBAL //= $class->new;
}

sub current_job { $CURRENT[-1] }

sub flush {
    my ($self, %args) = @_;
    my $timeout = delete $args{timeout} // 5;
    _unknown('flush', \%args);
    return $self->_flush(_ms($timeout, 'timeout'));
}

sub close {
    my ($self, %args) = @_;
    my $timeout = delete $args{timeout} // 5;
    _unknown('close', \%args);
    return $self->_close(_ms($timeout, 'timeout'));
}

sub stats {
    my ($self) = @_;
    return $JSON->decode($self->_stats_json);
}

sub emit {
    my ($self, $event) = @_;
    Wafermon::Error->throw(kind => 'invalid_argument', message => 'invalid argument: event is not a hash reference')
        unless ref $event eq 'HASH';
    return $self->emit_json($JSON->encode($event));
}

sub job {
    my ($self, $name, %opts) = @_;
    my ($root, @spec);
    if (%opts) {
        $root = delete $opts{root};
        @spec = map { delete $opts{$_} } qw(kind key id attrs);
        _unknown('job', \%opts);
    }
    my $parent = $root || !@CURRENT ? undef : $self->_current_of_mine;
    return _start_job($self, $parent, $name, @spec);
}

# Start a job of $client under $parent (undef: none), and give it what its DESTROY needs:
# its client, and the error $@ held when it started (not one of its own to report).
sub _start_job {
    my ($client, $parent, $name, @spec) = @_;
    my $job = $client->_job_start($parent, $name, @spec[0 .. 3]);
    $job->{client} = $client;
    $job->{_error_before} = $@ if $@;
    return $job;
}

sub run_job {
    my $self = shift;
    my $block = pop;
    Wafermon::Error->throw(kind => 'invalid_argument', message => 'invalid argument: run_job needs a code block last')
        unless ref $block eq 'CODE';
    my $job = $self->job(@_);
    return $job->_run($block);
}

# A job started inside a run_job block of this client nests under it.
sub _current_of_mine {
    my ($self) = @_;
    my $current = $CURRENT[-1];
    return $current && $current->{client} == $self ? $current : undef;
}

sub _program_name {
    my $name = File::Basename::basename($0 // '');
    $name =~ s/\.(?:pl|t|plx)\z//;
    return length $name && $name ne '-e' ? $name : 'perl';
}

sub _ms {
    my ($seconds, $what) = @_;
    Wafermon::Error->throw(kind => 'invalid_argument', path => $what,
        message => "invalid argument: $what must be a number of seconds >= 0")
        unless defined $seconds && $seconds =~ /\A(?:\d+(?:\.\d*)?|\.\d+)\z/;
    return int($seconds * 1000 + 0.5);
}

sub _unknown {
    my ($method, $left) = @_;
    return unless %$left;
    my $names = join ', ', sort keys %$left;
    Wafermon::Error->throw(kind => 'invalid_argument', path => (sort keys %$left)[0],
        message => "invalid argument: $method does not take $names");
}

1;

__END__

=head1 NAME

Wafermon - report fab jobs, progress, metrics and logs to wafermon

=head1 SYNOPSIS

    use Wafermon;

    my $wm = Wafermon->new(config => {
        app             => { name => 'lot-dispatch', site_id => 'fab7' },
        direct_backends => [ { type => 'filesystem', path => '/var/lib/wafermon' } ],
    });

    my $lot = $wm->job('lot-dispatch', kind => 'lot', key => 'LOT-1', attrs => { recipe => 'R7' });
    $lot->progress(30, 'coat');
    $lot->metric(thickness_nm => 101.2);
    $lot->log(info => 'coat done');
    my $wafer = $lot->subjob('wafer', kind => 'wafer', key => 'W01');
    $wafer->finish;
    $lot->finish;

    # A block: finished when it returns, failed (and rethrown) when it dies.
    $wm->run_job('lot-dispatch', key => 'LOT-2', sub {
        my ($job) = @_;
        Wafermon->current_job->log(info => 'inside');
    });

    $wm->flush(timeout => 5);
    my $stats = $wm->stats;     # { emitted => ..., backends => { ... } }
    $wm->close;

=head1 DESCRIPTION

A thin Perl skin over C<libwafermon> (the C ABI of the wafermon core). Reporting never
blocks on a backend and never dies because a backend is down: trouble shows up in
C<stats>. Invalid input dies with a L<Wafermon::Error> naming the field.

=head1 CLASS METHODS

=over

=item new(config => \%config | $path, exit_timeout => $seconds)

=item new(config_json => $text)

A client. C<config> is a hash (the JSON configuration of C<config.v1.schema.json>) or the
path of a JSON file (C<config_json> takes the JSON text itself); without them, the file named by C<WAFERMON_CONFIG>, the C<WAFERMON_*>
environment variables and the defaults (JSONL files under C<./wafermon-data>). When the
configuration names no app, the script's name is used. What is still queued when the
program exits is delivered for up to C<exit_timeout> seconds (default 5).

=item check_config(config => ... | config_json => ...)

Checks a configuration as C<new> would read it, without starting a client: true, or a
C<Wafermon::Error> naming the field.

=item init(%args), client

C<init> makes the process-wide client (once); C<client> returns it, making one from the
environment on first use.

=item current_job

The job of the innermost C<run_job> block running in this thread, or undef.

=item library_version

The version of libwafermon this module was built against.

=back

=head1 METHODS

=over

=item job($name, kind => ..., key => ..., id => ..., attrs => {...}, root => 1)

Starts a L<Wafermon::Job> and returns it. Inside a C<run_job> block of the same client the
job is a subjob of that block's job unless C<root> is true. Attribute values keep their
Perl type: integers, numbers, booleans (C<!!1>, JSON::PP booleans) and strings.

=item run_job($name, %options, sub { my ($job) = @_; ... })

Runs the block with a started job as its argument and as C<current_job>, then finishes the
job. When the block dies, the job is recorded as failed with the error and the error is
rethrown. Returns what the block returns.

=item flush(timeout => $seconds)

Waits until everything reported so far is delivered. True when it was, false on timeout
(nothing is lost: it stays queued or spooled).

=item close(timeout => $seconds)

Delivers what it can within the timeout and stops the client; what is left stays in the
spool for the next run. True when everything was delivered. Later calls die with a
C<closed> error.

=item stats

The client's counters as a hash reference (emitted, queued, dropped, and per backend sent,
retried, spooled, failed, ...).

=item emit(\%event), emit_json($json)

Queue one event of the event schema as it is.

=back

=head1 PROCESSES AND THREADS

After C<fork>, a child reports through the same objects: the core gives it a fresh
pipeline, and its events and the parent's each arrive once. A child that exits normally
delivers what it reported (not after C<POSIX::_exit>). Under ithreads, a new thread shares
the client and the jobs it copies; the last copy frees the handle.

=head1 STRINGS

Character strings are sent as UTF-8. Byte strings are sent as they are and must be UTF-8
already: anything else is refused with an C<invalid_argument> error, never mangled.

=head1 SEE ALSO

L<Wafermon::Job>, L<Wafermon::Error>

=cut
