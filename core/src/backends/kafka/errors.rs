//! Which of Kafka's answers end the retrying: a message the brokers will never take (too
//! large, refused as invalid), a topic that does not exist, or credentials they refuse.
//! Everything else (brokers down, leaders moving, timeouts) is worth another try.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

pub(crate) fn is_permanent(error: &KafkaError) -> bool {
    error.rdkafka_error_code().is_some_and(|code| {
        matches!(
            code,
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::UnsupportedSASLMechanism
                | RDKafkaErrorCode::PolicyViolation
                | RDKafkaErrorCode::UnsupportedCompressionType
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_message_is_final_and_a_missing_broker_is_not() {
        let produced = |code| KafkaError::MessageProduction(code);
        assert!(is_permanent(&produced(RDKafkaErrorCode::MessageSizeTooLarge)));
        assert!(is_permanent(&produced(RDKafkaErrorCode::UnknownTopicOrPartition)));
        assert!(!is_permanent(&produced(RDKafkaErrorCode::MessageTimedOut)));
        assert!(!is_permanent(&produced(RDKafkaErrorCode::AllBrokersDown)));
        assert!(!is_permanent(&produced(RDKafkaErrorCode::NotEnoughReplicas)));
    }
}
