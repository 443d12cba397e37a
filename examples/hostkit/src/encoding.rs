//! `Content-Encoding` of a request body. The hosts take bodies as sent (`identity`): a
//! compressed body is refused with 415 naming the encoding, rather than read as bytes it is not
//! (gzip used to come back as "not valid UTF-8"; br was read as garbage).

use axum::http::{header, HeaderMap, StatusCode};

use crate::HttpError;

/// Ok for no `Content-Encoding` or `identity`; 415 naming any other coding.
pub fn check_content_encoding(headers: &HeaderMap) -> Result<(), HttpError> {
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !coding.eq_ignore_ascii_case("identity") {
                return Err(HttpError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "Content-Encoding '{coding}' is not supported: send the body \
                         uncompressed (identity)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_identity_passes() {
        let mut headers = HeaderMap::new();
        assert!(check_content_encoding(&headers).is_ok());
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("Identity"),
        );
        assert!(check_content_encoding(&headers).is_ok());
        for coding in ["gzip", "br", "identity, gzip", "x-custom"] {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            let err = check_content_encoding(&headers).unwrap_err();
            assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert!(
                err.message.contains(coding.rsplit(' ').next().unwrap()),
                "{}",
                err.message
            );
        }
    }
}
