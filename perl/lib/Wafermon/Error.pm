package Wafermon::Error;

use strict;
use warnings;

our $VERSION = '0.1.0';

use overload
    '""'     => \&as_string,
    'bool'   => sub { 1 },
    fallback => 1;

# The one table: the C ABI's wm_status values and the core's error kind names
# (core/conformance/error_kinds.json; t/03-errors.t checks this table against it).
our %KIND_OF_STATUS = (
    1 => 'invalid_argument',
    2 => 'invalid_config',
    3 => 'invalid_event',
    4 => 'closed',
    5 => 'timeout',
    6 => 'io',
    7 => 'backend',
    8 => 'panic',    # not a core kind: a bug inside wafermon, caught at the C boundary
);

sub kind    { $_[0]{kind} }
sub path    { $_[0]{path} }
sub message { $_[0]{message} }
sub file    { $_[0]{file} }
sub line    { $_[0]{line} }

sub new {
    my ($class, %args) = @_;
    my $self = bless { kind => $args{kind}, message => $args{message}, path => $args{path} }, $class;
    @$self{qw(file line)} = _caller_outside();
    return $self;
}

sub throw {
    my $class = shift;
    die $class->new(@_);
}

# Called by Wafermon.xs with a wm_status and wm_last_error(): every failure goes through here.
sub _throw {
    my ($class, $status, $message) = @_;
    my $kind = $KIND_OF_STATUS{$status} // 'panic';
    die $class->new(kind => $kind, message => $message, path => _path_in($message));
}

# The core names the field as "... at <path>: ..."; the root of a document has no path.
sub _path_in {
    my ($message) = @_;
    return $message =~ /\bat ([^\s:]+): / ? $1 : undef;
}

# Like croak: the place in the caller's code, outside the Wafermon packages.
sub _caller_outside {
    my $level = 1;
    while (my @frame = caller($level++)) {
        return @frame[1, 2] unless $frame[0] =~ /\AWafermon(?:::|\z)/;
    }
    return ('(unknown)', 0);
}

sub as_string {
    my ($self) = @_;
    my $text = ucfirst $self->{message};
    $text .= '.' unless $text =~ /[.!?]\z/;
    return "$text at $self->{file} line $self->{line}.\n";
}

1;

__END__

=head1 NAME

Wafermon::Error - the exceptions Wafermon throws

=head1 SYNOPSIS

    use Wafermon;
    use Scalar::Util qw(blessed);

    my $wm = eval { Wafermon->new(config => { batch => { max_events => 'many' } }) };
    if (blessed $@ && $@->isa('Wafermon::Error')) {
        warn $@->kind, "\n";      # invalid_config
        warn $@->path, "\n";      # batch.max_events
        warn "$@";                # Invalid config at batch.max_events: ... at app.pl line 3.
    }

=head1 DESCRIPTION

Every failure of a Wafermon call is thrown as a C<Wafermon::Error>, from the caller's line
(as C<croak> does). Errors come from the core and carry its error kind:

=over

=item invalid_argument - an unusable argument: undef, not UTF-8, a NUL inside a string, or
an object that is not a live handle

=item invalid_config - a configuration value; C<path> is its JSON path

=item invalid_event - an event or a value that becomes part of one; C<path> names the field

=item closed - the client is closed, or the job has already ended

=item timeout - a flush or close did not finish in time (nothing is lost)

=item io - a local I/O operation (spool, files) failed

=item backend - a backend rejected data or could not be reached

=item panic - a bug inside wafermon, caught before it could reach Perl

=back

=head1 METHODS

C<kind>, C<path> (undef when the error is not about one field), C<message> (the core's
text), C<file> and C<line>. The object stringifies to its message as a sentence followed by
the place it was thrown from.

=cut
