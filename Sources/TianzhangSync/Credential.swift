import Crypto
import Foundation

/// Enrolment credentials: a random secret handed once to a node or a device; the hub keeps only its
/// SHA-256, so a copy of the hub's store does not reveal any credential.
public enum Credential {
    /// A new secret: `tz_` and 32 random bytes in hex.
    public static func generate(using rng: inout some RandomNumberGenerator) -> String {
        "tz_" + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    /// The hex SHA-256 of a secret, as stored.
    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
