import Crypto
import Foundation

/// The content address of attachment bytes: lower-case hex SHA-256, the attachment's id.
public enum ContentDigest {
    public static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
