//! What the AWS backends share: region and credentials resolved from the config or the
//! standard AWS environment variables.
