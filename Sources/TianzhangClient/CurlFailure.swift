import CCurl
import CCurlShim
import Foundation
import TianzhangSync

/// A libcurl error code and its detail, turned into a message a township clerk (and a test) can act on.
struct CurlFailure: Sendable {
    var code: UInt32
    var detail: String

    /// The `SyncClientError` for this failure: TLS verification failures are `.tls` (not retryable),
    /// everything else on the link is `.transport` (retryable).
    func error(options: SyncClient.Options, url: URL) -> SyncClientError {
        let hub = "\(url.host ?? "?")\(url.port.map { ":\($0)" } ?? "")"
        let pinned = options.pinnedCertificateAuthority != nil
        switch CURLcode(rawValue: code) {
        case CURLE_PEER_FAILED_VERIFICATION:
            return .tls(code: "tls_untrusted_certificate", message: pinned
                ? "TLS: the hub's certificate is not signed by the pinned county CA (\(detail))"
                : "TLS: the hub's certificate is not trusted by this machine's CAs; pin the county CA with `node init --ca` (\(detail))")
        case CURLE_SSL_CACERT_BADFILE:
            return .tls(code: "tls_bad_pinned_ca", message: "TLS: the pinned county CA cannot be loaded; is it a PEM certificate? (\(detail))")
        case CURLE_OPERATION_TIMEDOUT:
            if detail.contains("too slow") {
                return .transport("the link stalled below \(options.lowSpeedLimit) B/s for \(options.lowSpeedTime) s (\(detail))")
            }
            if detail.contains("Connection timed out") || detail.contains("Resolving timed out") {
                return .transport("could not connect to \(hub) within \(Self.seconds(options.connectTimeout)) s (\(detail))")
            }
            return .transport("the request took longer than \(Self.seconds(options.totalTimeout)) s (\(detail))")
        case CURLE_COULDNT_RESOLVE_HOST:
            return .transport("could not resolve the hub's host name \(url.host ?? "?") (\(detail))")
        case CURLE_COULDNT_CONNECT:
            return .transport("could not connect to \(hub): refused or unreachable (\(detail))")
        case CURLE_SSL_CONNECT_ERROR:
            return .transport("TLS: the handshake with \(hub) failed; does the hub speak https? (\(detail))")
        case CURLE_GOT_NOTHING:
            return .transport("the hub closed the connection without an answer (\(detail))")
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR:
            return .transport("the link was cut (\(detail))")
        case CURLE_PARTIAL_FILE:
            return .transport("the answer was cut before its end (\(detail))")
        case CURLE_BAD_CONTENT_ENCODING:
            return .transport("the answer's gzip body is corrupt or cut (\(detail))")
        case CURLE_ABORTED_BY_CALLBACK:
            return .transport("the request was cancelled")
        default:
            return .transport("libcurl error \(code): \(detail)")
        }
    }

    static func seconds(_ value: TimeInterval) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
